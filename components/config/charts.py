"""``binder:charts``: where the provider's Helm reads the pinned charts
(:mod:`components.releases.charts`) from."""

from __future__ import annotations

from components.config.base import Model


class ChartsConfig(Model):
    """Their repositories (the default), or a directory of unpacked charts."""

    directory: str | None = None
    """Install every chart from ``<directory>/<chart>/<version>/``, a complete chart directory
    with its subcharts unpacked (the layout ``make chart-data`` writes into
    ``../shared/charts``), instead of downloading it from its repository: for sites without
    access to the chart repositories, and for the real-engine tests (``Pulumi.e2e.yaml``).
    Relative to the project directory, and kept as given in the state, so that the state
    does not depend on where the clone is. The plan checks that each enabled chart is there
    (:func:`components.catalog.charts.local_chart_problems`)."""
