"""The plan of a recording as a tree: children under their parent, with dependencies,
options and the provider each resource goes through (see :mod:`tools.render`)."""

from __future__ import annotations

from collections.abc import Mapping

from tools.mockrun import Recording, Registered


def short_type(type_: str) -> str:
    """``openstack:containerinfra/cluster:Cluster`` -> ``Cluster``."""
    return type_.rsplit(":", 1)[-1]


def label(urn: str, by_urn: Mapping[str, Registered]) -> str:
    found = by_urn.get(urn)
    if found is not None:
        return f"{found.name} ({short_type(found.type)})"
    return urn.rsplit("::", 1)[-1]  # not registered by the program (e.g. the stack)


def provider_name(ref: str, by_urn: Mapping[str, Registered]) -> str | None:
    """The provider a resource goes through, from its provider reference ``<urn>::<id>``.

    ``None`` when the program named none (the engine's default provider for the package).
    """
    if not ref:
        return None
    urn = ref.rsplit("::", 1)[0]
    found = by_urn.get(urn)
    name = found.name if found is not None else urn.rsplit("::", 1)[-1]
    if name.startswith("default"):
        return f"default {urn.rsplit('::', 2)[-2].rsplit(':', 1)[-1]} provider"
    return name


def _flags(r: Registered) -> str:
    flags = []
    if r.protect:
        flags.append("protect")
    if r.ignore_changes:
        flags.append("ignoreChanges=" + ",".join(r.ignore_changes))
    if r.delete_before_replace:
        flags.append("deleteBeforeReplace")
    if r.replace_on_changes:
        flags.append("replaceOnChanges=" + ",".join(r.replace_on_changes))
    if r.custom_timeouts:
        flags.append("timeouts=" + ",".join(f"{k}:{v}" for k, v in r.custom_timeouts.items()))
    if not r.custom:
        flags.append("component")
    return f"  [{'; '.join(flags)}]" if flags else ""


def plan_tree(recording: Recording) -> list[str]:
    """One line per resource, indented under its parent, with its provider (``via X``) and
    its dependencies underneath; siblings sorted by name."""
    by_urn = {r.urn: r for r in recording.resources}
    children: dict[str, list[Registered]] = {}
    roots: list[Registered] = []
    for r in recording.resources:
        if r.parent in by_urn:
            children.setdefault(r.parent, []).append(r)
        else:
            roots.append(r)
    lines: list[str] = []

    def walk(r: Registered, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        # Which provider (so which cluster or cloud account) each resource goes through: the
        # in-cluster objects visibly depend on the cluster's provider, never the ambient one.
        via = provider_name(r.provider, by_urn) if r.custom else None
        shown = f"  via {via}" if via else ""
        lines.append(f"{prefix}{branch}{r.type}  {r.name}{_flags(r)}{shown}")
        inner = prefix if top else prefix + ("    " if last else "│   ")
        kids = sorted(children.get(r.urn, []), key=order)
        deps = [u for u in dict.fromkeys(r.dependencies) if u != r.parent]
        if deps:
            bar = "│   " if kids else "    "
            names = ", ".join(sorted(label(u, by_urn) for u in deps))
            lines.append(f"{inner}{bar}depends on: {names}")
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1, False)

    for r in sorted(roots, key=order):
        walk(r, "", True, True)
    return lines


def order(r: Registered) -> tuple[str, str]:
    """Siblings by name: registration order varies from run to run (outputs resolve
    concurrently), and a stable plan keeps a pull request's diff of it meaningful."""
    return (r.name, r.type)
