"""The table of Kubernetes minors (components/config/kubernetes_versions.py): consistent with
the pinned charts' kubeVersion constraints and kubernetes-validate's schemas; refusals and
end-of-life warnings on fixed dates (nothing here depends on the day the tests run)."""

from __future__ import annotations

import datetime
import re

import kubernetes_validate
import pytest

import components.plan
from components.catalog import charts
from components.config.base import ConfigError
from components.config.kubernetes_versions import (
    BY_NAME,
    CHARTS_OLDEST_MINOR,
    MINORS,
    version_problem,
    version_warning,
)
from tests import fast_yaml
from tests.chart_data import chart_dir
from tools.mockrun import run_stack

#: The day issue 21 was worked on; the committed stacks must be supported then.
TODAY = datetime.date(2026, 12, 7)


def test_the_table_is_ordered_and_each_minor_lives_about_fourteen_months() -> None:
    assert [m.minor for m in MINORS] == list(range(MINORS[0].minor, MINORS[-1].minor + 1))
    for minor in MINORS:
        months = (minor.end_of_life - minor.released).days / 30.44
        # Minors since 1.19 get 12 months of support plus 2 of maintenance mode
        # (https://kubernetes.io/releases/patch-releases/#support-period); the final patch
        # of a minor past its end of life can come a few weeks later.
        assert 13.5 <= months <= 15.5, (minor.name, months)
    assert [m.released for m in MINORS] == sorted(m.released for m in MINORS)


def _schema_minors() -> set[int]:
    found = set()
    for version in kubernetes_validate.utils.all_versions():
        match = re.fullmatch(r"1\.(\d+)\.0", version)
        if match:
            found.add(int(match.group(1)))
    return found


def test_every_minor_has_strict_schemas_and_the_newest_schemas_are_in_the_table() -> None:
    schemas = _schema_minors()
    missing = [m.name for m in MINORS if m.minor not in schemas]
    assert not missing, f"kubernetes-validate has no schemas for {missing}"
    # A newer kubernetes-validate brings a newer minor: add it to the table with its dates.
    assert max(schemas) == MINORS[-1].minor, (
        f"kubernetes-validate {kubernetes_validate.__version__} knows 1.{max(schemas)}; "
        "add it to components/config/kubernetes_versions.py"
    )


def _constraints() -> dict[str, str]:
    """Every pinned chart's kubeVersion (subcharts included), by chart directory."""
    found = {}
    pins = [*charts.RELEASES, charts.JUPYTERHUB_SUBCHART]
    for pin in pins:
        root = chart_dir(pin)
        for chart_yaml in [root / "Chart.yaml", *root.glob("charts/*/Chart.yaml")]:
            meta = fast_yaml.safe_load(chart_yaml.read_text())
            if meta.get("kubeVersion"):
                found[str(chart_yaml.parent.relative_to(root.parent.parent))] = str(
                    meta["kubeVersion"]
                )
    return found


def _floor(constraint: str) -> int:
    """The lowest minor of a lower-bound-only constraint (`>=1.28.0-0`, `^1.25.0-0`)."""
    match = re.fullmatch(r"\s*(>=|\^)\s*1\.(\d+)\.\d+(-0)?\s*", constraint)
    assert match, (
        f"kubeVersion '{constraint}' is not a plain lower bound: it may exclude newer minors; "
        "read it and update CHARTS_OLDEST_MINOR and this test"
    )
    return int(match.group(2))


def test_the_charts_oldest_minor_is_the_highest_kube_version_floor() -> None:
    constraints = _constraints()
    assert "binderhub/1.0.0-0.dev.git.3958.haf9ca8b1" in constraints
    floors = {chart: _floor(c) for chart, c in constraints.items()}
    assert max(floors.values()) == CHARTS_OLDEST_MINOR, floors
    # Lower bounds only, so every newer minor of the table is accepted by every chart.
    assert MINORS[0].minor == CHARTS_OLDEST_MINOR


@pytest.mark.parametrize(
    ("version", "words"),
    [
        ("1.27", "older than the pinned charts accept"),
        ("1.38", "is not in components/config/kubernetes_versions.py"),
    ],
)
def test_a_version_no_chart_supports_is_refused(version: str, words: str) -> None:
    problem = version_problem(version)
    assert problem
    assert words in problem
    with pytest.raises(ConfigError, match=re.escape(words)):
        run_stack("local", overrides={"binder:cluster": {
            "provider": "existing", "name": "local", "kubernetesVersion": version}})


def test_end_of_life_warnings_on_fixed_days() -> None:
    assert version_warning("1.34", datetime.date(2026, 10, 27)) is None  # its last day
    warning = version_warning("1.34", datetime.date(2026, 10, 28))
    assert warning
    assert "reached its end of life on 2026-10-27" in warning
    assert "https://kubernetes.io/releases/1.34/" in warning
    assert version_warning("1.36", TODAY) is None
    assert "1.35, 1.36, 1.37" in (version_warning("1.31", TODAY) or "")
    assert version_warning("1.35", datetime.date(2027, 3, 1))


@pytest.mark.parametrize("stack", ["e2e", "ebi", "gcp", "local"])
def test_the_committed_stacks_are_supported_today(stack: str) -> None:
    from tests.components.config.test_stack import stack_binder_config

    version = stack_binder_config(stack)["cluster"]["kubernetesVersion"]
    assert version_problem(version) is None
    assert version_warning(version, TODAY) is None, version
    assert BY_NAME[version].released <= TODAY


def test_the_plan_warns_about_a_version_past_its_end_of_life(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(components.plan, "_today", lambda: TODAY)
    recording = run_stack("local", overrides={"binder:cluster": {
        "provider": "existing", "name": "local", "kubernetesVersion": "1.33"}})
    [warning] = [line for line in recording.logs if "end of life" in line]
    assert warning.startswith("warning:")
    assert "2026-06-28" in warning
    quiet = run_stack("local")
    assert not [line for line in quiet.logs if "end of life" in line]
