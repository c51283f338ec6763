"""Rendered-object tests: the upstream chart sources must be present, checked once.

With ``../shared/charts`` missing, every test here would fail the same way; instead the
collection keeps ONE of them, which fails first with the message saying what is missing and
how to fetch it (see support.require_chart_data), and deselects the rest.
"""

from __future__ import annotations

import pytest

from tests.rendered.support import missing_chart_data


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not missing_chart_data():
        return
    here = [item for item in items if item.nodeid.startswith("tests/rendered/")]
    if len(here) > 1:
        config.hook.pytest_deselected(items=here[1:])
        items[:] = [item for item in items if item not in here[1:]]
