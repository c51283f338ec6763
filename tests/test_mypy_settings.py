"""pyproject.toml's mypy settings: the provider SDKs are analysed only where we use them.

mypy follows only the SDK modules listed with ``follow_imports = "normal"``; every other one
reads as Any. A cold run took ~125 s of CPU when it analysed whole SDKs, ~33 s with whole
subpackages (``pulumi_gcp.compute`` alone is 288 modules, 47 MB) and ~22 s with the modules
below. That costs no checking as long as every module that defines something the code uses,
and every module those import, is listed: this test computes that set and wants the list to
be exactly it, so a missing module fails here (with the lines to add) instead of silently
reading as Any, and a stale one cannot keep costing time.

The set, from the layout the SDK generators use (``pulumigen``, ``pulumi-language-python``):

* what the code names: every ``import pulumi_x.a.b``, ``from pulumi_x.a import B`` and
  attribute chain such as ``gcp.container.Cluster`` on an imported SDK, in every Python file
  of the repository; a name maps to the module whose ``__all__`` lists it, found through its
  package's ``from .module import *`` lines (``Cluster`` -> ``pulumi_gcp.container.cluster``);
* each package on the way (``pulumi_gcp``, ``pulumi_gcp.container``), which re-exports it;
* everything those modules import from an SDK, again and again, except what a package's
  ``__init__`` imports of its own members (the re-exports of every other resource and the
  lazily imported subpackages: the bulk we skip) other than its shared ``_inputs``,
  ``outputs``, ``_enums``, ``_utilities``, ``config`` and ``provider`` modules; a subpackage
  a module reaches through an imported package (``_meta.v1.ObjectMetaArgs`` after ``from ...
  import meta as _meta``) is followed too.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import importlib.util
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SDKS = ("pulumi_gcp", "pulumi_openstack", "pulumi_kubernetes")
#: A package's own members that its __init__ imports and that we always follow.
SHARED = {"_inputs", "outputs", "_enums", "_utilities", "config", "provider"}


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


@functools.cache
def _path(dotted: str) -> Path | None:
    """The file of an SDK module or package, None if there is none."""
    root, _, rest = dotted.partition(".")
    spec = importlib.util.find_spec(root)
    assert spec is not None, root
    assert spec.submodule_search_locations, root
    path = Path(next(iter(spec.submodule_search_locations)), *rest.split(".") if rest else [])
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _is_module(dotted: str) -> bool:
    return _path(dotted) is not None


def _is_package(dotted: str) -> bool:
    path = _path(dotted)
    return path is not None and path.name == "__init__.py"


def _chain(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


_ALL = re.compile(r"^__all__ = \[(.*?)\]", re.S | re.M)


@functools.cache
def _exports(module: str) -> frozenset[str]:
    path = _path(module)
    found = _ALL.search(path.read_text()) if path else None
    return frozenset(re.findall(r"['\"](\w+)['\"]", found.group(1))) if found else frozenset()


def defining_module(package: str, name: str) -> str | None:
    """The module of ``package`` whose ``__all__`` lists ``name``; None if none does."""
    path = _path(package)
    assert path is not None, package
    for member in re.findall(r"^from \.(\w+) import \*$", path.read_text(), re.M):
        if name in _exports(f"{package}.{member}"):
            return f"{package}.{member}"
    return None


def _python_files() -> list[Path]:
    """The repository's Python files (not the venv's, build output or tool installs)."""
    skip = {"venv", ".venv", "build", ".git", ".tools", "node_modules", "__pycache__"}
    found: list[Path] = []
    todo = [REPO]
    while todo:
        for entry in todo.pop().iterdir():
            if entry.is_dir() and entry.name not in skip and not entry.name.startswith("."):
                todo.append(entry)
            elif entry.suffix == ".py":
                found.append(entry)
    return found


#: Attribute chains on a name that is also an SDK alias but is not the SDK there, so they
#: define nothing: any other name no module defines fails the test (a changed SDK layout
#: would otherwise leave what defines it unchecked).
NOT_SDK_NAMES = {
    # tests/components/releases/test_public_service.py: its `gcp` fixture is a Recording.
    ("pulumi_gcp", "one"),
}


def used_sdk_modules() -> set[str]:
    """The SDK modules that define what the repository's code names, and their packages."""
    used: set[str] = set()
    unknown: set[tuple[str, str]] = set()

    def use(module: str, name: str | None = None) -> None:
        if name is not None and _is_package(module):
            defining = defining_module(module, name)
            if defining is None:
                unknown.add((module, name))
            module = defining or module
        used.add(module)

    for path in _python_files():
        text = path.read_text()
        if not any(sdk in text for sdk in SDKS):
            continue
        nodes = list(ast.walk(ast.parse(text, str(path))))
        aliases: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in SDKS:
                        use(alias.name)
                        aliases[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else alias.name.split(".")[0]
                        )
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] in SDKS
            ):
                use(node.module)
                for alias in node.names:
                    if _is_module(f"{node.module}.{alias.name}"):
                        use(f"{node.module}.{alias.name}")
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    else:
                        use(node.module, alias.name)
        for node in nodes:
            chain = _chain(node) if isinstance(node, ast.Attribute) else None
            if chain and chain[0] in aliases:
                module, rest = aliases[chain[0]], chain[1:]
                while rest and _is_module(f"{module}.{rest[0]}"):
                    module, rest = f"{module}.{rest[0]}", rest[1:]
                    use(module)
                if rest:
                    use(module, rest[0])
    assert unknown <= NOT_SDK_NAMES, (
        f"no SDK module defines {sorted(unknown - NOT_SDK_NAMES)}: has the SDK's layout "
        "changed (see this module's docstring), or is the name a test's own variable "
        "(list it in NOT_SDK_NAMES)?"
    )
    return used


_IMPORT = re.compile(r"^\s*(?:from (\.*)([\w.]*) import ([\w, ]+|\*)|import ([\w.]+))", re.M)


def _sdk_imports(module: str) -> set[str]:
    """The SDK modules ``module`` imports (its header: generated modules import at the top;
    their docstrings further down hold usage examples with imports of their own)."""
    path = _path(module)
    assert path is not None, module
    text = path.read_text()
    header = re.split(r"^(?:class |def |@)", text, maxsplit=1, flags=re.M)[0]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for dots, name, names, plain in _IMPORT.findall(header):
        if plain:
            target = plain
        else:
            base = package.split(".")
            base = base[: len(base) - max(len(dots) - 1, 0)] if dots else []
            target = ".".join([*base, name] if name else base)
        if target.split(".")[0] not in SDKS:
            continue
        if plain or names.strip() == "*":
            found.add(target)
            continue
        for member in (n.split(" as ")[0].strip() for n in names.split(",")):
            submodule = f"{target}.{member}"
            if _is_module(submodule):
                found.add(submodule)
                # A package imported as `_meta`: the subpackages used as `_meta.v1.X`.
                alias = re.search(rf"\b{member} as (\w+)", names)
                if alias and _is_package(submodule):
                    for sub in set(re.findall(rf"\b{alias.group(1)}\.(\w+)\.", text)):
                        found.add(f"{submodule}.{sub}")
            else:
                found.add(target)
    return found


@functools.cache
def required_modules() -> frozenset[str]:
    """What mypy must follow: see the module docstring."""
    required: set[str] = set()
    todo = sorted(used_sdk_modules())
    while todo:
        module = todo.pop()
        if module in required or not _is_module(module):
            continue
        required.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        for target in _sdk_imports(module):
            own = target.startswith(f"{module}.") and _is_package(module)
            if own and target[len(module) + 1 :].split(".")[0] not in SHARED:
                continue  # a re-export or lazy subpackage: followed only if used
            todo.append(target)
    return frozenset(required)


def test_mypy_follows_exactly_the_sdk_modules_we_use() -> None:
    followed = _overrides("normal")
    required = required_modules()
    # The walk finds what the GKE, Magnum and Kubernetes code really uses.
    assert {
        "pulumi_gcp.container.cluster", "pulumi_gcp.container._inputs",
        "pulumi_gcp.compute.router_nat", "pulumi_openstack.containerinfra.cluster_template",
        "pulumi_kubernetes.core.v1.Namespace", "pulumi_kubernetes.meta.v1._inputs",
        "pulumi_kubernetes.rbac.v1.ClusterRole", "pulumi_kubernetes.helm.v3.Release",
    } <= required
    # ... and not what it does not: the other 285 compute modules, other API versions.
    assert "pulumi_gcp.compute.instance" not in required
    assert not any(m.startswith("pulumi_kubernetes.rbac.v1beta1") for m in required)
    missing = sorted(m for m in required if not any(_matches(m, p) for p in followed))
    stale = sorted(p for p in followed if not any(_matches(m, p) for m in required))
    assert (missing, stale) == ([], []), (
        "pyproject.toml's follow_imports = \"normal\" list is out of date: "
        f"add {missing} (mypy reads them as Any, so their types go unchecked), "
        f"remove {stale} (nothing uses them; they only cost analysis time)"
    )


def test_a_used_name_maps_to_the_module_that_defines_it() -> None:
    assert defining_module("pulumi_gcp.compute", "RouterNat") == "pulumi_gcp.compute.router_nat"
    assert defining_module("pulumi_gcp.compute", "RouterNatLogConfigArgs") == (
        "pulumi_gcp.compute._inputs"
    )
    assert defining_module("pulumi_kubernetes.core.v1", "ConfigMapInitArgs") == (
        "pulumi_kubernetes.core.v1.ConfigMap"
    )
    assert defining_module("pulumi_gcp.compute", "NoSuchThing") is None


def test_imports_are_read_with_their_subpackages() -> None:
    imports = _sdk_imports("pulumi_kubernetes.core.v1.Namespace")
    assert {"pulumi_kubernetes._utilities", "pulumi_kubernetes.core.v1.outputs",
            "pulumi_kubernetes.meta", "pulumi_kubernetes.meta.v1"} <= imports
    # A package's own __init__ imports every member: those are not followed unless used.
    assert "pulumi_gcp.compute.instance" in _sdk_imports("pulumi_gcp.compute")
    assert "pulumi_gcp.compute.instance" not in required_modules()


def test_the_skip_covers_the_sdks_only() -> None:
    assert sorted(_overrides("skip")) == sorted(f"{sdk}.*" for sdk in SDKS)


def test_matching_follows_mypy() -> None:
    assert _matches("pulumi_gcp", "pulumi_gcp.*")
    assert _matches("pulumi_gcp.container.outputs", "pulumi_gcp.container.*")
    assert not _matches("pulumi_gcp.containeranalysis", "pulumi_gcp.container.*")
    assert not _matches("pulumi_gcp.compute", "pulumi_gcp")
