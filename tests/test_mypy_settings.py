"""pyproject.toml's mypy settings: the provider SDKs are analysed only where we use them.

mypy follows only the SDK subpackages listed with ``follow_imports = "normal"``; every other
one reads as Any (a cold run dropped from ~125 s to ~40 s of CPU). That costs no checking as
long as every subpackage the code reaches is listed, which this test checks: it walks every
Python file for ``import pulumi_x.a.b``, ``from pulumi_x.a import B``, ``from pulumi_x
import a`` and attribute chains such as ``gcp.container.Cluster`` on an imported SDK.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SDKS = ("pulumi_gcp", "pulumi_openstack", "pulumi_kubernetes")


def _overrides(value: str) -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [
        pattern
        for override in config["tool"]["mypy"]["overrides"]
        if override.get("follow_imports") == value
        for pattern in override["module"]
    ]


def _matches(module: str, pattern: str) -> bool:
    # mypy: "foo.*" matches foo and every submodule of foo.
    if pattern.endswith(".*"):
        return module == pattern[:-2] or fnmatch.fnmatchcase(module, pattern)
    return module == pattern


def _is_module(dotted: str) -> bool:
    root, _, rest = dotted.partition(".")
    spec = importlib.util.find_spec(root)
    assert spec is not None, root
    assert spec.submodule_search_locations, root
    path = Path(next(iter(spec.submodule_search_locations)), *rest.split(".") if rest else [])
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()


def _chain(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def used_sdk_modules() -> set[str]:
    used: set[str] = set()
    files = [p for p in REPO.rglob("*.py") if not {"venv", ".venv", "build"} & set(p.parts)]
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in SDKS:
                        used.add(alias.name)
                        aliases[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else alias.name.split(".")[0]
                        )
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] in SDKS
            ):
                used.add(node.module)
                for alias in node.names:
                    if _is_module(f"{node.module}.{alias.name}"):
                        used.add(f"{node.module}.{alias.name}")
        for node in ast.walk(tree):
            chain = _chain(node) if isinstance(node, ast.Attribute) else None
            if chain and chain[0] in aliases:
                module = aliases[chain[0]]
                for part in chain[1:]:
                    if not _is_module(f"{module}.{part}"):
                        break
                    module = f"{module}.{part}"
                used.add(module)
    return used


def test_every_sdk_module_we_use_is_analysed() -> None:
    followed = _overrides("normal")
    used = used_sdk_modules()
    # The walk finds what the GKE, Magnum and Kubernetes code really uses.
    assert {"pulumi_gcp.container", "pulumi_gcp.compute", "pulumi_openstack.containerinfra",
            "pulumi_kubernetes.core.v1", "pulumi_kubernetes.rbac.v1"} <= used
    missing = sorted(m for m in used if not any(_matches(m, p) for p in followed))
    assert missing == [], (
        f"mypy skips {missing}: add them to the follow_imports = \"normal\" override in "
        "pyproject.toml, or their types are not checked"
    )


def test_the_skip_covers_the_sdks_only() -> None:
    assert sorted(_overrides("skip")) == sorted(f"{sdk}.*" for sdk in SDKS)


def test_matching_follows_mypy() -> None:
    assert _matches("pulumi_gcp", "pulumi_gcp.*")
    assert _matches("pulumi_gcp.container.outputs", "pulumi_gcp.container.*")
    assert not _matches("pulumi_gcp.containeranalysis", "pulumi_gcp.container.*")
    assert not _matches("pulumi_gcp.compute", "pulumi_gcp")
