"""`make render` needs only requirements-render.txt (issue 13: a lighter first run).

Every stack is rendered in a process of its own (the ``forked_renders`` fixture,
tests/forked_renders.py); each third-party module one of them imported must come from a
distribution that requirements-render.txt installs (directly or as a dependency). A fresh venv
with only that file renders every stack; this test keeps it so without building a venv.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]

def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def _requirements(path: Path) -> list[str]:
    """The distributions a requirements file names, following its ``-r`` includes."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names += _requirements(path.parent / line[3:].strip())
        elif line and not line.startswith("-"):
            names.append(_name(line))
    return names


def _closure(roots: list[str]) -> set[str]:
    """The distributions ``roots`` install, with their (non-extra) dependencies."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            # Markers as pip evaluates them here; "extra" is false: no extras are asked for.
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def test_render_imports_only_what_requirements_render_installs(
    forked_renders: list[dict[str, Any]],
) -> None:
    roots = _requirements(REPO / "requirements-render.txt")
    assert {"pulumi-gcp", "helm-python-sdk"} <= set(roots)
    assert not {"pytest", "mypy", "ruff", "zizmor", "pip-tools"} & set(roots)
    allowed = _closure(roots)

    stacks = {p.name[len("Pulumi."):-len(".yaml")] for p in REPO.glob("Pulumi.*.yaml")}
    assert {r["stack"] for r in forked_renders} == stacks
    for result in forked_renders:
        # Nothing on stderr either: no event-loop noise at the render's exit (see
        # tests/tools/test_event_loops.py, which checks these renders too).
        assert (result["returncode"], result["stderr"]) == (0, ""), result["stderr"]
    modules = {m for r in forked_renders for m in r["modules"]}
    owners = metadata.packages_distributions()
    third_party = {
        m for m in modules
        if m not in sys.stdlib_module_names and m not in {"components", "tools", "__main__"}
        and not m.startswith("_")
    }
    outside = sorted(
        f"{m} ({', '.join(owners.get(m, ['?']))})" for m in third_party
        if not any(_name(d) in allowed for d in owners.get(m, []))
    )
    assert {"pulumi_gcp", "pulumi_openstack", "helm_python"} <= third_party
    assert outside == [], f"render imports what requirements-render.txt does not install: {outside}"
