"""components/catalog/rendered.json is what the pinned charts render today.

The deploy agent's RBAC and the admission guard are built from that file; if a chart bump or
a values change renders a new ClusterRole rule, ServiceAccount or webhook and the file is not
regenerated, the guard would refuse the next upgrade on a real cluster. This test renders
every committed stack again, with the real charts, and names each difference.
"""

from __future__ import annotations

import json
from typing import Any

from components.catalog import rendered as catalog
from tests.rendered.support import CASES, rendered, require_chart_data
from tools import chart_catalog


def _renders() -> list[Any]:
    by_case = {c.id: c for c in CASES}
    out = []
    for stack in chart_catalog.STACKS:
        # The rendered tests' cases already hold ebi, gcp and local: reuse their renders.
        case = by_case.get(stack)
        out.append(rendered(case).releases if case and not case.overrides
                   else chart_catalog.render_stack(stack))
    return out


def _differences(committed: Any, fresh: Any, path: str = "") -> list[str]:
    if isinstance(committed, dict) and isinstance(fresh, dict):
        out = []
        for key in sorted({*committed, *fresh}):
            where = f"{path}.{key}" if path else key
            if key not in fresh:
                out.append(f"{where}: committed, no longer rendered")
            elif key not in committed:
                out.append(f"{where}: rendered, not in the committed file")
            else:
                out.extend(_differences(committed[key], fresh[key], where))
        return out
    if committed != fresh:
        return [f"{path}: committed {json.dumps(committed)[:200]}, "
                f"rendered {json.dumps(fresh)[:200]}"]
    return []


def test_committed_catalogue_is_what_the_charts_render() -> None:
    require_chart_data()
    fresh = chart_catalog.catalogue(_renders())
    committed = json.loads(catalog.DATA.read_text())
    differences = _differences(committed, fresh)
    assert not differences, (
        "components/catalog/rendered.json is out of date with the charts and values "
        "(run `make chart-catalog` and review the diff; the admission guard and the deploy "
        "agent's RBAC follow it):\n  " + "\n  ".join(differences[:30]))
    # The file is exactly what the tool writes, so regenerating it is a no-op diff.
    assert catalog.DATA.read_text() == chart_catalog.text(fresh)


def test_difference_report_names_a_change() -> None:
    """The report the test above would print names an added and a removed rule's place."""
    committed = {"traefik": {"cluster_roles": {"traefik": [{"verbs": ["get"]}]}}}
    fresh = {"traefik": {"cluster_roles": {"traefik": [{"verbs": ["get", "list"]}],
                                           "traefik-extra": []}}}
    assert _differences(committed, fresh) == [
        'traefik.cluster_roles.traefik: committed [{"verbs": ["get"]}], '
        'rendered [{"verbs": ["get", "list"]}]',
        "traefik.cluster_roles.traefik-extra: rendered, not in the committed file",
    ]
