"""Chart pins (components/catalog/charts.py) match the upstream data the tests validate against."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.catalog import charts
from tests.chart_data import CHARTS_DIR, chart_dir, chart_values, chart_yaml, has_schema
from tests.stack_runs import recorded_stack
from tools.mockrun import run_stack

EXPECTED = {
    # chart: (version, repository) -- the table of shared/charts/README.md.
    "binderhub": ("1.0.0-0.dev.git.3958.haf9ca8b1", "https://jupyterhub.github.io/helm-chart/"),
    "traefik": ("41.3.0", "https://traefik.github.io/charts"),
    "cert-manager": ("v1.21.1", "https://charts.jetstack.io"),
    "prometheus": ("29.27.0", "https://prometheus-community.github.io/helm-charts"),
    "grafana": ("12.11.1", "https://grafana-community.github.io/helm-charts"),
    "fluentd": ("0.6.0", "https://fluent.github.io/helm-charts"),
    "cryptnono": ("0.3.2-0.dev.git.256.he86658e", "https://cryptnono.github.io/cryptnono/"),
    "harbor": ("1.19.1", "https://helm.goharbor.io"),
}


def test_every_release_is_pinned_exactly_once():
    assert {pin.chart: (pin.version, pin.repo) for pin in charts.RELEASES} == EXPECTED
    assert len({pin.release for pin in charts.RELEASES}) == len(charts.RELEASES)


@pytest.mark.parametrize("pin", [*charts.RELEASES, charts.JUPYTERHUB_SUBCHART], ids=str)
def test_upstream_data_exists_for_each_pin(pin):
    path = chart_dir(pin)
    assert (path / "values.yaml").is_file()
    assert chart_yaml(pin)["name"] == pin.chart
    assert isinstance(chart_values(pin), dict)


def test_binderhub_pins_the_jupyterhub_subchart_we_validate_against():
    deps = {d["name"]: d["version"] for d in chart_yaml(charts.BINDERHUB)["dependencies"]}
    assert deps["jupyterhub"] == charts.JUPYTERHUB_SUBCHART.version == "4.2.0"


def test_which_charts_have_a_schema():
    """grafana and fluentd publish no values.schema.json, so their values are checked key by
    key against values.yaml instead (tests.chart_data.KEY_CHECKED). If upstream starts
    shipping a schema, this fails: then validate against it as for the other charts."""
    with_schema = {pin.chart for pin in charts.RELEASES if has_schema(pin)}
    assert with_schema == {"binderhub", "traefik", "cert-manager", "prometheus", "cryptnono"}
    assert not (CHARTS_DIR / "grafana" / charts.GRAFANA.version / "values.schema.json").exists()
    assert not (CHARTS_DIR / "fluentd" / charts.FLUENTD.version / "values.schema.json").exists()


def test_releases_download_from_the_pinned_repository_by_default():
    for release in recorded_stack("gcp").of_type("kubernetes:helm.sh/v3:Release"):
        pin = next(p for p in charts.RELEASES if p.release == release.inputs["name"])
        assert release.inputs["chart"] == pin.chart
        assert release.inputs["version"] == pin.version
        assert release.inputs["repositoryOpts"] == {"repo": pin.repo}


def test_a_chart_directory_replaces_every_repository():
    """binder:charts.directory: each chart is read from <directory>/<chart>/<version>, kept as
    given (relative to the project, so the state does not depend on where the clone is), with
    no repository: a repository URL makes the provider download even when the directory
    exists (helm_release.go locateChart)."""
    recording = run_stack("local", overrides={"binder:charts": {"directory": "../shared/charts"}})
    releases = recording.of_type("kubernetes:helm.sh/v3:Release")
    assert releases
    for release in releases:
        pin = next(p for p in charts.RELEASES if p.release == release.inputs["name"])
        assert release.inputs["chart"] == f"../shared/charts/{pin.chart}/{pin.version}"
        assert "repositoryOpts" not in release.inputs
        assert "version" not in release.inputs


def test_the_e2e_stack_installs_every_chart_from_the_shared_directory():
    recording = recorded_stack("e2e")
    installed = {r.inputs["chart"] for r in recording.of_type("kubernetes:helm.sh/v3:Release")}
    # Harbor is the exception: its project and robots are made through Harbor's own API,
    # which needs Harbor running, and kwok's nodes run no containers (e2e/README.md).
    assert installed == {
        charts.local_chart_path("../shared/charts", pin)
        for pin in charts.RELEASES
        if pin is not charts.HARBOR
    }


def test_local_chart_problems_name_the_setting_the_path_and_the_fix(tmp_path: Path):
    assert charts.local_chart_problems("charts", charts.RELEASES, tmp_path.parent / "x") != []
    good = tmp_path / "charts" / "traefik" / charts.TRAEFIK.version
    good.mkdir(parents=True)
    (good / "Chart.yaml").write_text("apiVersion: v2\nname: traefik\nversion: 41.3.0\n")
    assert charts.local_chart_problems("charts", [charts.TRAEFIK], tmp_path) == []
    wrong = tmp_path / "charts" / "grafana" / charts.GRAFANA.version
    wrong.mkdir(parents=True)
    (wrong / "Chart.yaml").write_text("apiVersion: v2\nname: loki\nversion: 1.0.0\n")
    (missing,) = charts.local_chart_problems("charts", [charts.FLUENTD], tmp_path)
    assert missing == (
        "  binder:charts.directory: charts/fluentd/0.6.0/Chart.yaml does not exist; put the "
        "complete fluentd chart at version 0.6.0 there (`make chart-data` writes that layout), "
        "or remove binder:charts.directory to install from https://fluent.github.io/helm-charts"
    )
    (other,) = charts.local_chart_problems("charts", [charts.GRAFANA], tmp_path)
    assert "charts/grafana/12.11.1/Chart.yaml is the chart 'loki', not 'grafana'" in other
    broken = tmp_path / "charts" / "fluentd" / charts.FLUENTD.version
    broken.mkdir(parents=True)
    (broken / "Chart.yaml").write_text("name: [unclosed\n")
    (unreadable,) = charts.local_chart_problems("charts", [charts.FLUENTD], tmp_path)
    assert unreadable.startswith("  binder:charts.directory: charts/fluentd/0.6.0/Chart.yaml")
