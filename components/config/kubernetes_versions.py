"""Kubernetes minor versions: when each was released and when it reaches its end of life.

One table, read from the Kubernetes release pages (https://kubernetes.io/releases/ and
https://kubernetes.io/releases/<minor>/, "End Of Life Date"; the site's data files are
``data/releases/schedule.yaml`` for supported minors and ``data/releases/eol.yaml`` for those
past their end of life, where the date is that of the final patch release,
https://github.com/kubernetes/website/tree/main/data/releases). The plan uses it twice:

* ``binder:cluster.kubernetesVersion`` must be a minor of the table that every pinned chart
  accepts (their ``kubeVersion`` constraints, :data:`CHARTS_OLDEST_MINOR`); anything else is
  refused before any resource (:func:`version_problem`);
* a minor past its end of life is a warning, given the day the plan runs
  (:func:`version_warning`): no security fixes any more, so plan the upgrade. The date is an
  argument, so tests pass a fixed one and nothing starts failing because the calendar moved.

``tests/components/config/test_kubernetes_versions.py`` keeps the table consistent with the
pinned charts' ``kubeVersion`` constraints (read from ``../shared/charts``) and with the
schemas of ``kubernetes-validate`` (every minor here can be validated strictly).

Add a minor when it is released: its release date and end-of-life date from its release page,
then run the tests.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

#: Where the dates come from.
RELEASES_PAGE = "https://kubernetes.io/releases/"


@dataclass(frozen=True)
class Minor:
    """One Kubernetes minor version."""

    minor: int
    """``33`` for Kubernetes 1.33."""
    released: datetime.date
    """The date of its ``.0`` release."""
    end_of_life: datetime.date
    """No patches after this day (the release page's "End Of Life Date")."""

    @property
    def name(self) -> str:
        return f"1.{self.minor}"

    def page(self) -> str:
        return f"{RELEASES_PAGE}{self.name}/"


def _minor(minor: int, released: str, end_of_life: str) -> Minor:
    return Minor(
        minor, datetime.date.fromisoformat(released), datetime.date.fromisoformat(end_of_life)
    )


#: Every minor the program can target, oldest first. Release dates are the ``.0`` releases
#: (the release announcements on https://kubernetes.io/blog/); end-of-life dates are the
#: release pages' (for 1.28-1.31, the final patch of data/releases/eol.yaml).
MINORS: tuple[Minor, ...] = (
    _minor(28, "2023-08-15", "2024-10-22"),
    _minor(29, "2023-12-13", "2025-02-28"),
    _minor(30, "2024-04-17", "2025-07-15"),
    _minor(31, "2024-08-13", "2025-11-11"),
    _minor(32, "2024-12-11", "2026-02-28"),
    _minor(33, "2025-04-23", "2026-06-28"),
    _minor(34, "2025-08-27", "2026-10-27"),
    _minor(35, "2025-12-17", "2027-02-28"),
    _minor(36, "2026-04-22", "2027-06-28"),
    _minor(37, "2026-08-26", "2027-10-28"),
)
BY_NAME: dict[str, Minor] = {m.name: m for m in MINORS}

#: The oldest minor every pinned chart accepts: the highest lower bound of their
#: ``kubeVersion`` constraints (binderhub and its jupyterhub 4.2.0: ``>=1.28.0-0``; traefik
#: and grafana ``>=1.25``; cert-manager ``>=1.22``; prometheus ``>=1.19``; harbor none).
#: Helm refuses to install a chart whose constraint the cluster does not meet. A test reads
#: the constraints from the charts.
CHARTS_OLDEST_MINOR = 28


def version_problem(version: str) -> str | None:
    """Why ``version`` (``1.33``) cannot be targeted, or None. In our words, for
    ``binder:cluster.kubernetesVersion``."""
    minor = int(version.split(".")[1])
    if minor < CHARTS_OLDEST_MINOR:
        return (
            f"'{version}' is older than the pinned charts accept (binderhub and jupyterhub "
            f"need 1.{CHARTS_OLDEST_MINOR} or later, their kubeVersion); use a supported minor "
            f"such as '{MINORS[-2].name}' ({RELEASES_PAGE})"
        )
    if version not in BY_NAME:
        return (
            f"'{version}' is not in components/config/kubernetes_versions.py, which knows "
            f"{MINORS[0].name} to {MINORS[-1].name}; use one of those, or add the minor with its "
            f"release and end-of-life dates from {RELEASES_PAGE} once the charts and "
            "kubernetes-validate support it"
        )
    return None


def version_warning(version: str, today: datetime.date) -> str | None:
    """A warning when ``version`` is past its end of life on ``today``, else None."""
    minor = BY_NAME.get(version)
    if minor is None or today <= minor.end_of_life:
        return None
    supported = [m.name for m in MINORS if m.released <= today <= m.end_of_life]
    return (
        f"binder:cluster.kubernetesVersion '{version}' reached its end of life on "
        f"{minor.end_of_life.isoformat()} ({minor.page()}): it gets no security fixes. "
        f"Upgrade to a supported minor ({', '.join(supported) or 'see the release page'})."
    )
