"""Every Helm chart the program installs: repository, version, release name and namespace,
pinned here -- the catalogue the access rules and the releases both read.

This is the ONLY place chart versions live. To upgrade a chart, bump its pin below, put the new
upstream data (``Chart.yaml``, ``values.yaml``, ``values.schema.json``) beside the repository
in ``../shared/charts/<chart>/<version>/`` and run the tests: every release's final values are
validated against the pinned chart's own schema (see ``docs/releases.md``). The releases are
made by :mod:`components.releases.helm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from components.config.base import ConfigError
from components.config.yaml_input import read_yaml_file


@dataclass(frozen=True)
class ChartPin:
    """One upstream chart at one exact version."""

    chart: str
    """Chart name in its repository."""
    version: str
    """Exact chart version; never a range, so a run never picks up an unreviewed chart."""
    repo: str
    """Helm repository URL the provider downloads the chart from."""
    release: str
    """Helm release name; also the name of its values files ``helm_configs/*/<release>.yaml``.
    Fixed, because other objects are found by the names it gives (``prometheus-server``,
    the ``traefik`` Service)."""


#: BinderHub publishes development builds only; this one pins JupyterHub chart 4.2.0.
#: https://github.com/jupyterhub/binderhub/tree/main/helm-chart
BINDERHUB = ChartPin(
    chart="binderhub",
    version="1.0.0-0.dev.git.3958.haf9ca8b1",
    repo="https://jupyterhub.github.io/helm-chart/",
    release="binderhub",
)
#: The subchart BINDERHUB depends on; not installed on its own, used to validate the
#: ``jupyterhub:`` part of the BinderHub values (the binderhub schema leaves it open).
JUPYTERHUB_SUBCHART = ChartPin(
    chart="jupyterhub",
    version="4.2.0",
    repo="https://jupyterhub.github.io/helm-chart/",
    release="binderhub",
)
#: ingress-nginx was retired upstream in March 2026; Traefik is the controller.
TRAEFIK = ChartPin(
    chart="traefik", version="41.3.0", repo="https://traefik.github.io/charts", release="traefik"
)
#: CRDs are installed by the chart itself (``crds.enabled``), so they follow its version.
CERT_MANAGER = ChartPin(
    chart="cert-manager",
    version="v1.21.1",
    repo="https://charts.jetstack.io",
    release="cert-manager",
)
PROMETHEUS = ChartPin(
    chart="prometheus",
    version="29.27.0",
    repo="https://prometheus-community.github.io/helm-charts",
    release="prometheus",
)
#: The chart moved from grafana/helm-charts to grafana-community on 2026-01-30.
GRAFANA = ChartPin(
    chart="grafana",
    version="12.11.1",
    repo="https://grafana-community.github.io/helm-charts",
    release="grafana",
)
FLUENTD = ChartPin(
    chart="fluentd", version="0.6.0", repo="https://fluent.github.io/helm-charts", release="fluentd"
)
#: cryptnono publishes only chartpress dev builds since its last tag (v0.3.1, 2024-11); this is
#: the one mybinder.org-deploy pinned from 2026-01-02 to 2026-03-26 (../shared/charts/README.md,
#: "cryptnono: which version"). https://github.com/cryptnono/cryptnono/tree/main/helm-chart
CRYPTNONO = ChartPin(
    chart="cryptnono",
    version="0.3.2-0.dev.git.256.he86658e",
    repo="https://cryptnono.github.io/cryptnono/",
    release="cryptnono",
)
#: Harbor for the built images (``binder:harbor``, off by default); the newest v1.x tag,
#: appVersion 2.15.1 (mybinder.org-deploy pins 1.18.1). https://github.com/goharbor/harbor-helm
HARBOR = ChartPin(
    chart="harbor", version="1.19.1", repo="https://helm.goharbor.io", release="harbor"
)

#: The program's own cluster-scoped objects beside the charts, which the deploy agent writes
#: on later runs too (so its RBAC and admission guard name them): fluentd's PriorityClass
#: (components/releases/logging.py) and the Let's Encrypt ClusterIssuers
#: (components/releases/cert_manager.py).
FLUENTD_PRIORITY_CLASS = "binder-node-critical"
LETSENCRYPT_ISSUERS = ("production", "staging")


def cluster_issuer_name(issuer: str) -> str:
    """Name of the ClusterIssuer for a Let's Encrypt environment."""
    return f"letsencrypt-{issuer}"


@dataclass(frozen=True)
class ImagePin:
    """One container image at one exact tag."""

    repository: str
    """Registry host and repository, e.g. ``quay.io/jupyterhub/repo2docker``."""
    tag: str
    """Exact tag; never ``latest``."""

    @property
    def image(self) -> str:
        return f"{self.repository}:{self.tag}"


#: The repo2docker image BinderHub's build pods run (``KubernetesBuildExecutor.build_image``).
#: This tag is BinderHub's own default at the chart pin above
#: (https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/build.py#L293-L297),
#: pinned here so that moving it is a reviewed change (``tools/upgrades.py`` proposes newer
#: releases, as mybinder.org's watch-dependencies workflow does).
REPO2DOCKER = ImagePin(repository="quay.io/jupyterhub/repo2docker", tag="2024.07.0")

#: Every chart installed as a release (the JupyterHub subchart comes with BinderHub).
#: Namespace of each release; the bootstrap creates namespaces of these names.
NAMESPACES = {
    "binderhub": "binder",
    "ingress": "ingress",
    "cert-manager": "cert-manager",
    "monitoring": "monitoring",
    "logging": "logging",
    # Beside BinderHub, as mybinder.org runs it: the namespace is already `privileged` for
    # dind, which cryptnono's eBPF detectors need too.
    "cryptnono": "binder",
    # Its own namespace: its Secrets (admin password, database, robots' tokens) stay apart
    # from BinderHub's.
    "harbor": "harbor",
}

RELEASES: tuple[ChartPin, ...] = (
    BINDERHUB,
    TRAEFIK,
    CERT_MANAGER,
    PROMETHEUS,
    GRAFANA,
    FLUENTD,
    CRYPTNONO,
    HARBOR,
)

def local_chart_path(directory: str, pin: ChartPin) -> str:
    """The chart directory of ``pin`` under ``binder:charts.directory``, as given (relative
    to the project directory, where the provider's Helm resolves it)."""
    return str(PurePosixPath(directory) / pin.chart / pin.version)


def local_chart_problems(
    directory: str, pins: Sequence[ChartPin], project_dir: Path | None = None
) -> list[str]:
    """What is wrong with ``binder:charts.directory`` for the enabled ``pins``: a chart
    directory that is missing, or holds another chart. One line per problem, in the plan's
    words; empty if every chart is there. ``project_dir``: where relative paths start (the
    current directory, where the program runs)."""
    base = project_dir or Path.cwd()
    problems = []
    for pin in pins:
        given = local_chart_path(directory, pin)
        chart_yaml = base / given / "Chart.yaml"
        how = (
            f"put the complete {pin.chart} chart at version {pin.version} there (`make "
            "chart-data` writes that layout), or remove binder:charts.directory to install "
            f"from {pin.repo}"
        )
        if not chart_yaml.is_file():
            problems.append(
                f"  binder:charts.directory: {given}/Chart.yaml does not exist; {how}"
            )
            continue
        try:
            metadata = read_yaml_file(chart_yaml, f"{given}/Chart.yaml", error=ConfigError)
        except ConfigError as exc:
            problems.append(f"  binder:charts.directory: {exc}")
            continue
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if name != pin.chart:
            problems.append(
                f"  binder:charts.directory: {given}/Chart.yaml is the chart {name!r}, not "
                f"{pin.chart!r}; {how}"
            )
    return problems
