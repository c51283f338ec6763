"""Chart pins (components/releases/charts.py) match the upstream data the tests validate against."""

from __future__ import annotations

import pytest

from components.releases import charts
from tests.chart_data import CHARTS_DIR, chart_dir, chart_values, chart_yaml, has_schema

EXPECTED = {
    # chart: (version, repository) -- the table of shared/charts/README.md.
    "binderhub": ("1.0.0-0.dev.git.3958.haf9ca8b1", "https://jupyterhub.github.io/helm-chart/"),
    "traefik": ("41.3.0", "https://traefik.github.io/charts"),
    "cert-manager": ("v1.21.1", "https://charts.jetstack.io"),
    "prometheus": ("29.27.0", "https://prometheus-community.github.io/helm-charts"),
    "grafana": ("12.11.1", "https://grafana-community.github.io/helm-charts"),
    "fluentd": ("0.6.0", "https://fluent.github.io/helm-charts"),
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
    assert with_schema == {"binderhub", "traefik", "cert-manager", "prometheus"}
    assert not (CHARTS_DIR / "grafana" / charts.GRAFANA.version / "values.schema.json").exists()
    assert not (CHARTS_DIR / "fluentd" / charts.FLUENTD.version / "values.schema.json").exists()
