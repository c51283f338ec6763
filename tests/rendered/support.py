"""Shared helpers of the rendered-object tests."""

from __future__ import annotations

import pytest

from components.releases import charts
from tools.chart_render import DEFAULT_CHARTS_DIR


def missing_chart_data() -> list[str]:
    """Pinned charts (``<chart>/<version>``) whose sources are not in ../shared/charts."""
    return [
        f"{pin.chart}/{pin.version}"
        for pin in charts.RELEASES
        if not (DEFAULT_CHARTS_DIR / pin.chart / pin.version / "Chart.yaml").is_file()
    ]


def require_chart_data() -> None:
    """Fail (no traceback) with what is missing and how to fetch it."""
    missing = missing_chart_data()
    if missing:
        pytest.fail(
            f"The upstream chart sources are missing from {DEFAULT_CHARTS_DIR}: "
            f"{', '.join(missing)}. They live beside the repository clone, never in it; "
            "fetch every pinned chart with `make chart-data` (needs the Helm CLI).",
            pytrace=False,
        )
