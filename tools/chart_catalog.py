"""Regenerate components/catalog/rendered.json: what the pinned charts render, by release.

``python -m tools.chart_catalog`` (``make chart-catalog``) renders every committed stack's
releases offline, as ``make render`` does, and writes the union of each release's facts
(:func:`components.catalog.rendered.release_facts`). Run it after a chart bump or a values
change; ``tests/rendered/test_chart_catalog.py`` fails until you do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components.catalog import rendered
from tools import chart_render
from tools.mockrun import REPO
from tools.render import run_stack, stack_kube_version

#: Stacks whose renders the catalogue covers: every committed stack file.
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))


def catalogue(renders: Iterable[Sequence[chart_render.RenderedRelease]]) -> dict[str, Any]:
    """The facts of every release, merged over ``renders`` (one list of releases per stack)."""
    by_release: dict[str, list[Mapping[str, Any]]] = {}
    for releases in renders:
        for release in releases:
            facts = rendered.release_facts(release.objects, release.namespace)
            # CRDs of the chart's crds/ directory: Helm installs them once and never
            # changes or deletes them, so the deploy agent needs no right on them.
            chart_dir = chart_render.DEFAULT_CHARTS_DIR / release.chart / release.version
            once = {o["metadata"]["name"] for o in chart_render.crd_directory_objects(chart_dir)}
            facts["crds"] = [name for name in facts["crds"] if name not in once]
            by_release.setdefault(release.name, []).append(facts)
    return {name: rendered.merge(facts) for name, facts in sorted(by_release.items())}


def render_stack(stack: str) -> list[chart_render.RenderedRelease]:
    return chart_render.render_recording(run_stack(stack), kube_version=stack_kube_version(stack))


def text(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main() -> int:
    data = catalogue(render_stack(stack) for stack in STACKS)
    rendered.DATA.write_text(text(data))
    print(f"wrote {rendered.DATA.relative_to(REPO)}: {', '.join(data)} "
          f"(stacks {', '.join(STACKS)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
