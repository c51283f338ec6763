"""Offline render: the plan of a stack and the merged values of every Helm release.

    python -m tools.render ebi            # or: make render STACK=ebi

The whole program runs on Pulumi's mock engine (:mod:`tools.mockrun`): no cloud credentials,
no cluster, no Pulumi CLI, no SOPS key, no kubeconfig. It prints every resource the program
registers, by type and name, as a tree (children under their parent component) with the
resources each one depends on and the provider each one goes through (``via cluster-k8s``),
and writes what a deploy would do, for a reviewer to read and diff (``make render-diff``,
:mod:`tools.render_diff`) without any credential, into ``build/render/<stack>/``:

* ``plan.txt``: the tree above;
* ``<release>.yaml``: each ``kubernetes:helm.sh/v3:Release``'s values -- exactly the merged
  values the program hands to Helm;
* ``manifests/<release>.yaml``: every object Helm would create for that release, rendered
  offline with the pinned upstream chart (:mod:`tools.chart_render`, charts in
  ``../shared/charts``) for the stack's Kubernetes version, one object per document, sorted
  by kind, namespace and name;
* ``resources.yaml``: every other resource (cluster, node pools, namespaces, RBAC, raw
  Kubernetes objects, providers) with its inputs, one per document, sorted by type and name.

Multi-line strings are written as YAML block literals (``|``), so a Prometheus or Fluentd
configuration reads as text and its diff line by line.

A stack on an existing cluster (``binder:cluster.provider: existing``) would read a kubeconfig
(``binder:kubeconfig``, ``kubeconfigPath``, ``$KUBECONFIG`` or ``~/.kube/config``); the render
gives it a placeholder instead, whichever of those is configured, so it never reads a real
one and needs none (:func:`placeholder_kubeconfig`).

Secrets never appear: every value the program carries as a Pulumi secret (wrapped in the
secret marker on the wire, see :attr:`tools.mockrun.Registered.wire`) is written as
``<redacted:secret>``; a secret mapping keeps its keys and loses every value. SOPS files are
never decrypted here: their keys are stored in the clear, so each encrypted value is replaced
by a placeholder of the right shape before the program reads it -- which secrets are given
still shapes the plan, their values cannot leak. As a second line of defence, any plaintext
value that contains a secret's text is redacted too and reported as a leak (exit 1): that is
a bug in the program. Stdout carries types, names, dependencies and output names only.

In the rendered manifests, the chart sees a placeholder of realistic shape wherever the
program passes a secret (:func:`tools.chart_render.values_for_render`); those placeholders,
as text or base64, are redacted too, and so is every value of a ``Secret``'s ``data`` and
``stringData`` (charts fill some with random values, e.g. JupyterHub's cookie secret).
``checksum/*`` annotations are replaced by :data:`CHECKSUM`: they digest rendered Secrets,
which vary from render to render for the same reason, and what they digest is in the diff.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc

from tools import chart_render
from tools.mockrun import (
    PROJECT,
    REPO,
    Recording,
    Registered,
    is_secret,
    plaintext_leaks,
    stack_config,
)
from tools.mockrun import run_stack as _run_stack

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
REDACTED = "<redacted:secret>"
LEAK = "<redacted:secret-outside-a-pulumi-secret>"
UNKNOWN = "<unknown until deployed>"
CHECKSUM = "<checksum of rendered content: omitted>"
DEFAULT_OUT = REPO / "build" / "render"
PLAN_FILE = "plan.txt"
RESOURCES_FILE = "resources.yaml"
MANIFESTS_DIR = "manifests"
#: Shorter secret texts (a username such as ``admin``) would match ordinary words.
MIN_NEEDLE = 8


# --------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------


def redact(value: Any) -> Any:
    """``value`` (wire form) with every secret replaced by :data:`REDACTED`.

    A secret scalar becomes the mark; a secret mapping or list keeps its shape (keys, length)
    with every leaf replaced, so a reviewer still sees *where* secrets go.
    """
    if is_secret(value):
        return _redact_all(value.get("value"))
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        # The wire (protobuf Struct) carries every number as a double: 8081 arrives as
        # 8081.0. Helm reads both alike; print what the values files say.
        return int(value)
    return value


def _redact_all(value: Any) -> Any:
    if is_secret(value):
        return _redact_all(value.get("value"))
    if isinstance(value, dict):
        return {k: _redact_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_all(v) for v in value]
    return REDACTED


def secret_texts(value: Any, inside: bool = False) -> Iterator[str]:
    """Every string that sits inside a secret marker in ``value`` (wire form)."""
    if is_secret(value):
        yield from secret_texts(value.get("value"), True)
    elif isinstance(value, dict):
        for v in value.values():
            yield from secret_texts(v, inside)
    elif isinstance(value, list):
        for v in value:
            yield from secret_texts(v, inside)
    elif inside and isinstance(value, str):
        yield value


def scrub(value: Any, needles: list[str], path: str, leaks: list[str]) -> Any:
    """Redact plaintext strings (already outside secrets) that contain a secret's text."""
    if isinstance(value, dict):
        return {k: scrub(v, needles, f"{path}.{k}", leaks) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, needles, f"{path}[{i}]", leaks) for i, v in enumerate(value)]
    if (
        isinstance(value, str)
        and value not in (REDACTED, UNKNOWN)
        and any(n in value for n in needles)
    ):
        leaks.append(path)
        return LEAK
    return value


# --------------------------------------------------------------------------------------
# YAML for reviewers
# --------------------------------------------------------------------------------------


#: libyaml's emitter when PyYAML has it (CI and here): the pure-Python one takes seconds
#: for the ~1.7 MB a stack's manifests come to. Both emit the same YAML 1.1.
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ReviewDumper(_BaseDumper):
    """Safe YAML with multi-line strings as block literals (``|``), so a configuration file
    inside a value reads, and diffs, line by line. The emitter falls back to a quoted scalar
    by itself where a literal cannot hold the text exactly (e.g. trailing spaces on a line)."""


def _represent_str(dumper: Any, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ReviewDumper.add_representer(str, _represent_str)


def dump(document: Any) -> str:
    """``document`` as review YAML: keys sorted, block literals, no wrapping of long lines
    (a re-wrapped line would show as a change in a diff)."""
    return yaml.dump(
        document,
        Dumper=_ReviewDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )


def dump_all(documents: Sequence[Any]) -> str:
    """One ``---`` document per item."""
    return "".join(f"---\n{dump(doc)}" for doc in documents)


# --------------------------------------------------------------------------------------
# Rendered manifests and the other resources, redacted
# --------------------------------------------------------------------------------------


def placeholder_texts(release: Registered) -> list[str]:
    """The texts :mod:`tools.chart_render` gives the chart instead of ``release``'s secret
    values: every string under a secret marker in the values it renders with."""
    found: list[str] = []

    def walk(wire: Any, given: Any) -> None:
        if is_secret(wire):
            found.extend(str(t) for t in _leaves(given) if isinstance(t, str))
        elif isinstance(wire, dict) and isinstance(given, dict):
            for key, value in wire.items():
                walk(value, given.get(key))
        elif isinstance(wire, list) and isinstance(given, list):
            for w, g in zip(wire, given, strict=False):
                walk(w, g)

    walk(release.wire.get("values") or {}, chart_render.values_for_render(release))
    return found


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _hides(text: str, needles: list[str]) -> bool:
    """A needle is in ``text`` as is or base64-encoded (as :func:`plaintext_leaks` looks)."""
    return bool(needles) and any(True for _ in plaintext_leaks(text, needles))


def redact_object(
    obj: Any, placeholders: list[str], secrets: list[str], where: str, leaks: list[str]
) -> Any:
    """A rendered (or raw) Kubernetes object as it may be written down.

    * a ``Secret``'s ``data`` and ``stringData`` keep their keys, every value is redacted;
    * ``checksum/*`` annotations become :data:`CHECKSUM` (see the module docstring);
    * a placeholder of a Pulumi secret is replaced by :data:`REDACTED` where it stands as
      text; a string that holds one base64-encoded is redacted whole;
    * a string holding a real secret's text (which the render never hands the chart) is
      replaced by :data:`LEAK` and reported in ``leaks``.
    """
    if not isinstance(obj, dict):
        return obj
    result = dict(obj)
    if obj.get("kind") == "Secret" and str(obj.get("apiVersion", "v1")) == "v1":
        for field_name in ("data", "stringData"):
            if isinstance(obj.get(field_name), dict):
                result[field_name] = {k: REDACTED for k in obj[field_name]}
    return _redact_strings(_omit_checksums(result), placeholders, secrets, where, leaks)


def _omit_checksums(value: Any) -> Any:
    """Every ``annotations`` mapping (the object's, a pod template's) with its
    ``checksum/*`` values replaced by :data:`CHECKSUM`."""
    if isinstance(value, dict):
        return {
            k: (
                {
                    a: (CHECKSUM if str(a).startswith("checksum/") else _omit_checksums(v2))
                    for a, v2 in v.items()
                }
                if k == "annotations" and isinstance(v, dict)
                else _omit_checksums(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_omit_checksums(v) for v in value]
    return value


def _redact_strings(
    value: Any, placeholders: list[str], secrets: list[str], path: str, leaks: list[str]
) -> Any:
    if isinstance(value, dict):
        return {
            k: _redact_strings(v, placeholders, secrets, f"{path}.{k}", leaks)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _redact_strings(v, placeholders, secrets, f"{path}[{i}]", leaks)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or value in (REDACTED, UNKNOWN, CHECKSUM, LEAK):
        return value
    if _hides(value, secrets):
        leaks.append(path)
        return LEAK
    for needle in placeholders:  # longest first, so no needle is cut by a shorter one
        value = value.replace(needle, REDACTED)
    if _hides(value, placeholders):
        return REDACTED
    return value


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """How rendered objects are sorted: kind, namespace, name."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    return (
        str(obj.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


def write_manifests(
    releases: Sequence[chart_render.RenderedRelease],
    recording: Recording,
    stack: str,
    target: Path,
    stems: Mapping[str, str],
    secrets: list[str],
    kube_version: str,
) -> tuple[list[Path], list[str]]:
    """``target/manifests/<release>.yaml`` per rendered release; returns the files and the
    leaks found (``<release>:<kind>/<name>.<path>``)."""
    directory = target / MANIFESTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    by_name = {r.name: r for r in recording.of_type(RELEASE_TYPE)}
    written: list[Path] = []
    leaks: list[str] = []
    for rel in sorted(releases, key=lambda r: r.resource):
        placeholders = sorted(
            {t for t in placeholder_texts(by_name[rel.resource]) if len(t) >= MIN_NEEDLE},
            key=len,
            reverse=True,
        )
        objects = []
        for obj in sorted(rel.objects, key=object_key):
            kind, _, name = object_key(obj)
            objects.append(
                redact_object(obj, placeholders, secrets, f"{rel.name}:{kind}/{name}", leaks)
            )
        path = directory / f"{stems.get(rel.resource, rel.name)}.yaml"
        header = (
            f"# Helm release '{rel.name}' (resource {rel.resource}) of stack '{stack}': chart "
            f"{rel.chart} {rel.version}, namespace {rel.namespace}.\n"
            f"# {_count(len(objects), 'object')} as the chart renders them offline for "
            f"Kubernetes {kube_version} (tools/render.py),\n"
            "# sorted by kind, namespace and name. Secret data and Pulumi secrets are "
            f"replaced by {REDACTED}.\n"
        )
        path.write_text(header + dump_all(objects), encoding="utf-8")
        written.append(path)
    return written, leaks


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def resource_documents(
    recording: Recording, secrets: list[str], leaks: list[str]
) -> list[dict[str, Any]]:
    """Every custom resource but the Helm releases (their objects are in the manifests), with
    its parent, provider, options and inputs, redacted; sorted by type and name."""
    by_urn = {r.urn: r for r in recording.resources}
    documents = []
    for r in sorted(
        (r for r in recording.resources if r.custom and r.type != RELEASE_TYPE),
        key=lambda r: (r.type, r.name),
    ):
        inputs = scrub(redact(r.wire), secrets, r.name, leaks)
        if r.type == "kubernetes:core/v1:Secret":
            inputs = redact_object(inputs, [], [], r.name, leaks)
        document: dict[str, Any] = {"type": r.type, "name": r.name}
        if r.parent in by_urn:
            document["parent"] = _label(r.parent, by_urn)
        provider = provider_name(r.provider, by_urn)
        if provider:
            document["provider"] = provider
        options = {
            "protect": r.protect or None,
            "ignoreChanges": sorted(r.ignore_changes) or None,
            "deleteBeforeReplace": r.delete_before_replace or None,
            "replaceOnChanges": sorted(r.replace_on_changes) or None,
            "customTimeouts": dict(r.custom_timeouts) or None,
            "additionalSecretOutputs": sorted(r.additional_secret_outputs) or None,
        }
        options = {k: v for k, v in options.items() if v is not None}
        if options:
            document["options"] = options
        document["inputs"] = _sorted_keys(inputs)
        documents.append(document)
    return documents


def write_resources(
    recording: Recording, stack: str, target: Path, secrets: list[str]
) -> tuple[Path, list[str]]:
    leaks: list[str] = []
    documents = resource_documents(recording, secrets, leaks)
    header = (
        f"# Every resource of stack '{stack}' other than the Helm releases, with its inputs\n"
        f"# ({_count(len(documents), 'resource')}, sorted by type and name; "
        f"tools/render.py). Secrets are replaced by {REDACTED}.\n"
    )
    path = target / RESOURCES_FILE
    # Inputs keep the program's key order inside type/name/parent/provider/options/inputs.
    body = "".join(
        "---\n" + yaml.dump(doc, Dumper=_ReviewDumper, sort_keys=False,
                             default_flow_style=False, allow_unicode=True, width=1 << 16)
        for doc in documents
    )
    path.write_text(header + body, encoding="utf-8")
    return path, [f"resources:{leak}" for leak in leaks]


# --------------------------------------------------------------------------------------
# The plan as a tree
# --------------------------------------------------------------------------------------


def short_type(type_: str) -> str:
    """``openstack:containerinfra/cluster:Cluster`` -> ``Cluster``."""
    return type_.rsplit(":", 1)[-1]


def _label(urn: str, by_urn: Mapping[str, Registered]) -> str:
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
        kids = sorted(children.get(r.urn, []), key=_order)
        deps = [u for u in dict.fromkeys(r.dependencies) if u != r.parent]
        if deps:
            bar = "│   " if kids else "    "
            names = ", ".join(sorted(_label(u, by_urn) for u in deps))
            lines.append(f"{inner}{bar}depends on: {names}")
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1, False)

    for r in sorted(roots, key=_order):
        walk(r, "", True, True)
    return lines


def _order(r: Registered) -> tuple[str, str]:
    """Siblings by name: registration order varies from run to run (outputs resolve
    concurrently), and a stable plan keeps a pull request's diff of it meaningful."""
    return (r.name, r.type)


# --------------------------------------------------------------------------------------
# Rendering a recording
# --------------------------------------------------------------------------------------


@dataclass
class RenderedRelease:
    resource: str
    release: str
    chart: str
    version: str
    namespace: str
    path: Path


@dataclass
class Render:
    """What :func:`render` printed and wrote."""

    text: str
    releases: list[RenderedRelease] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    """``<release>:values.<path>`` (or ``resources:`` / manifest paths) of plaintext values
    that contain a secret's text."""
    manifests: list[Path] = field(default_factory=list)
    resources: Path | None = None


def _file_names(releases: list[Registered]) -> dict[str, str]:
    """Release resource name -> file stem: the Helm release name, unless two share one."""
    helm = {r.name: str(r.inputs.get("name") or r.name) for r in releases}
    counts: dict[str, int] = {}
    for stem in helm.values():
        counts[stem] = counts.get(stem, 0) + 1
    # A release named like a file the render writes itself keeps its resource name.
    reserved = {Path(RESOURCES_FILE).stem, Path(PLAN_FILE).stem}
    return {
        res: (stem if counts[stem] == 1 and stem not in reserved else res)
        for res, stem in helm.items()
    }


def render(
    recording: Recording,
    stack: str,
    out_dir: Path = DEFAULT_OUT,
    extra_secrets: list[str] | None = None,
    *,
    charts: Sequence[chart_render.RenderedRelease] | None = None,
    kube_version: str = "",
) -> Render:
    """Print-ready plan of ``recording`` and the redacted files under ``out_dir/stack``:
    ``plan.txt``, the values files, ``resources.yaml`` and, given ``charts`` (the releases
    rendered by :func:`tools.chart_render.render_recording` for ``kube_version``), the
    manifests.

    ``extra_secrets``: secret texts the recording cannot show (the stack's config secrets),
    also looked for in plaintext values.
    """
    needles = sorted(
        {
            text
            for source in (
                *(r.wire for r in recording.resources),
                recording.outputs_wire,
            )
            for text in secret_texts(source)
        }
        | set(extra_secrets or []),
        key=len,
        reverse=True,
    )
    needles = [n for n in needles if len(n) >= MIN_NEEDLE]

    target = out_dir / stack
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.yaml"):  # a release removed from the program
        stale.unlink()
    if charts is None:  # no manifests this time: none may be left from an earlier render
        for stale in (target / MANIFESTS_DIR).glob("*.yaml"):
            stale.unlink()

    releases = sorted(recording.of_type(RELEASE_TYPE), key=_order)
    stems = _file_names(releases)
    result = Render(text="")
    for r in releases:
        leaks: list[str] = []
        values = scrub(redact(r.wire.get("values", {})), needles, "values", leaks)
        result.leaks.extend(f"{r.name}:{leak}" for leak in sorted(leaks))
        release = RenderedRelease(
            resource=r.name,
            release=str(r.inputs.get("name") or r.name),
            chart=str(r.inputs.get("chart", "?")),
            version=str(r.inputs.get("version", "?")),
            namespace=str(r.inputs.get("namespace", "?")),
            path=target / f"{stems[r.name]}.yaml",
        )
        header = (
            f"# Helm release '{release.release}' (resource {r.name}) of stack '{stack}':\n"
            f"# chart {release.chart} {release.version}, namespace {release.namespace}.\n"
            "# The merged values the program gives Helm, rendered offline by tools/render.py.\n"
            f"# Secrets are replaced by {REDACTED}.\n"
        )
        release.path.write_text(header + dump(values), encoding="utf-8")
        result.releases.append(release)
    result.resources, leaks = write_resources(recording, stack, target, needles)
    result.leaks.extend(leaks)
    if charts is not None:
        result.manifests, leaks = write_manifests(
            charts, recording, stack, target, stems, needles, kube_version
        )
        result.leaks.extend(leaks)

    components = sum(1 for r in recording.resources if not r.custom)
    providers = sum(1 for r in recording.resources if r.type.startswith("pulumi:providers:"))
    lines = [
        f"Offline plan of stack '{stack}' (Pulumi mock engine: no cloud, no cluster, "
        "no secret decrypted)",
        "",
        *plan_tree(recording),
        "",
        f"{_count(len(recording.resources), 'resource')}: {_count(components, 'component')}, "
        f"{_count(len(recording.resources) - components - providers, 'custom resource')}, "
        f"{_count(providers, 'provider')}",
    ]
    if recording.outputs_wire:
        outputs = ", ".join(
            f"{name} (secret)" if is_secret(value) else name
            for name, value in sorted(recording.outputs_wire.items())
        )
        lines.append(f"stack outputs: {outputs}")
    (target / PLAN_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if result.releases:
        lines.append(f"Helm values ({REDACTED} for secrets) written to {_shown(target)}/:")
        for rel in result.releases:
            lines.append(
                f"  {rel.path.name:<24} release {rel.release}, chart {rel.chart} "
                f"{rel.version}, namespace {rel.namespace}"
            )
    else:
        lines.append("no Helm release in this stack")
    lines.append(f"Other resources and their inputs: {_shown(result.resources)}")
    if charts is not None:
        count = sum(len(r.objects) for r in charts)
        lines.append(
            f"Rendered objects ({_count(count, 'object')}, Kubernetes {kube_version}): "
            f"{_shown(target / MANIFESTS_DIR)}/"
        )
    for leak in result.leaks:
        lines.append(f"LEAK: {leak} holds a secret's text outside a Pulumi secret (redacted)")
    result.text = "\n".join(lines)
    return result


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------
# SOPS files, never decrypted
# --------------------------------------------------------------------------------------

_PEM = {
    "certificate": "-----BEGIN CERTIFICATE-----\nrender-placeholder\n-----END CERTIFICATE-----\n",
    "key": "-----BEGIN PRIVATE KEY-----\nrender-placeholder\n-----END PRIVATE KEY-----\n",
}


def _placeholders(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return {k: _placeholders(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("ENC["):
        last = path.rsplit(".", 1)[-1]
        return _PEM.get(last, f"render-placeholder-for-{path}")
    return value


def placeholder_decrypt(path: Path, name: str | None = None) -> dict[str, Any]:
    """Stand-in for :func:`components.secrets.sops.decrypt_file` that never decrypts.

    The file is still checked to be a SOPS document
    (:func:`components.secrets.sops.read_encrypted`);
    its keys, stored in the clear, are kept and every encrypted value becomes a placeholder.
    """
    from components.secrets.sops import read_encrypted

    document = read_encrypted(path, name)
    document.pop("sops", None)
    return dict(_placeholders(document, ""))


@contextmanager
def sops_placeholders() -> Iterator[None]:
    """Within the block, the program reads SOPS files through :func:`placeholder_decrypt`."""
    import components.secrets.material as secrets_module

    saved: Callable[..., dict[str, Any]] = secrets_module.decrypt_file
    secrets_module.decrypt_file = placeholder_decrypt
    try:
        yield
    finally:
        secrets_module.decrypt_file = saved


# --------------------------------------------------------------------------------------
# Kubeconfigs, never read
# --------------------------------------------------------------------------------------

#: Where the placeholder kubeconfig points: a reserved name (RFC 2606), nothing answers there.
PLACEHOLDER_SERVER = "https://kubernetes.render-placeholder.invalid:6443"
PLACEHOLDER_CONTEXT = "render-placeholder"


def placeholder_kubeconfig_text(context: str | None = None) -> str:
    """A well-formed kubeconfig that grants nothing: a reserved hostname, a CA and a token
    that are labels, not key material. ``context`` names its only context (the stack's
    ``binder:cluster.context``, so the program selects it as it would the real one)."""
    name = context or PLACEHOLDER_CONTEXT
    ca = base64.b64encode(b"render placeholder: not a certificate\n").decode()
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": PLACEHOLDER_CONTEXT,
                "cluster": {"server": PLACEHOLDER_SERVER, "certificate-authority-data": ca},
            }
        ],
        "users": [{"name": PLACEHOLDER_CONTEXT, "user": {"token": "render-placeholder"}}],
        "contexts": [
            {"name": name, "context": {"cluster": PLACEHOLDER_CONTEXT, "user": PLACEHOLDER_CONTEXT}}
        ],
        "current-context": name,
    }
    return yaml.safe_dump(document, sort_keys=False)


def _config_key(raw: Mapping[str, Any], key: str) -> str | None:
    """The spelling of ``binder:<key>`` used in a stack file (the namespace may be left out)."""
    for spelling in (f"{PROJECT}:{key}", key):
        if spelling in raw:
            return spelling
    return None


def _raw_stack_config(stack: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text()) or {}
    raw = dict(document.get("config") or {})
    for key, value in (overrides or {}).items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


@dataclass
class KubeconfigStandIn:
    """How the render replaces an existing cluster's kubeconfig (see
    :func:`placeholder_kubeconfig`)."""

    path: Path
    """The placeholder file; ``$KUBECONFIG`` points at it during the run."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Stack config replaced for the run: ``kubeconfigPath`` -> the placeholder file; an
    encrypted ``binder:kubeconfig`` removed (its placeholder comes through ``secrets``)."""
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret config added for the run: ``binder:kubeconfig`` = the placeholder text."""
    existing_cluster: bool = False


@contextmanager
def placeholder_kubeconfig(raw: Mapping[str, Any]) -> Iterator[KubeconfigStandIn]:
    """Within the block, no real kubeconfig can be read: ``$KUBECONFIG`` names a placeholder
    file, and for a stack on an existing cluster ``kubeconfigPath`` and an encrypted
    ``binder:kubeconfig`` are replaced by the same placeholder (with the stack's ``context``).

    A *plaintext* ``binder:kubeconfig`` is left alone: the program refuses it with its own
    error, which the render must show rather than hide.
    """
    cluster_key = _config_key(raw, "cluster")
    cluster = raw.get(cluster_key) if cluster_key else None
    cluster = cluster if isinstance(cluster, dict) else {}
    context = cluster.get("context") if isinstance(cluster.get("context"), str) else None
    text = placeholder_kubeconfig_text(context)
    saved = os.environ.get("KUBECONFIG")
    with tempfile.TemporaryDirectory(prefix="render-kubeconfig-") as tmp:
        path = Path(tmp) / "placeholder.kubeconfig"
        path.write_text(text, encoding="utf-8")
        stand_in = KubeconfigStandIn(path=path)
        if cluster.get("provider") == "existing":
            stand_in.existing_cluster = True
            if cluster_key and "kubeconfigPath" in cluster:
                stand_in.overrides[cluster_key] = {**cluster, "kubeconfigPath": str(path)}
            secret_key = _config_key(raw, "kubeconfig")
            value = raw.get(secret_key) if secret_key else None
            if secret_key and isinstance(value, dict) and set(value) == {"secure"}:
                stand_in.overrides[secret_key] = None
                stand_in.secrets[f"{PROJECT}:kubeconfig"] = text
        os.environ["KUBECONFIG"] = str(path)
        try:
            yield stand_in
        finally:
            if saved is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = saved


def run_stack(stack: str, overrides: Mapping[str, Any] | None = None) -> Recording:
    """The whole program for ``Pulumi.<stack>.yaml`` on the mock engine: SOPS values and any
    kubeconfig replaced by placeholders. ``overrides`` change stack config keys (tests)."""
    raw = _raw_stack_config(stack, overrides)
    with sops_placeholders(), placeholder_kubeconfig(raw) as stand_in:
        return _run_stack(
            stack,
            overrides={**(overrides or {}), **stand_in.overrides},
            secrets=stand_in.secrets or None,
        )


def stack_kube_version(stack: str) -> str:
    """``binder:cluster.kubernetesVersion`` of the stack, or the program's default; the
    program itself has checked its shape by the time the render runs."""
    from components.config.cluster import ClusterBase

    raw = _raw_stack_config(stack, None)
    key = _config_key(raw, "cluster")
    cluster = raw.get(key) if key else None
    version = cluster.get("kubernetesVersion") if isinstance(cluster, dict) else None
    return str(version or ClusterBase.model_fields["kubernetes_version"].default)


def uses_existing_cluster(stack: str) -> bool:
    raw = _raw_stack_config(stack, None)
    key = _config_key(raw, "cluster")
    cluster = raw.get(key) if key else None
    return isinstance(cluster, dict) and cluster.get("provider") == "existing"


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("stack", help="stack name: Pulumi.<stack>.yaml must exist")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/render)"
    )
    parser.add_argument(
        "--charts-dir",
        type=Path,
        default=chart_render.DEFAULT_CHARTS_DIR,
        help="the complete upstream charts, <chart>/<version>/ (default: ../shared/charts, "
        "where `make chart-data` puts them)",
    )
    args = parser.parse_args(argv)
    if not (REPO / f"Pulumi.{args.stack}.yaml").is_file():
        stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))
        print(
            f"error: Pulumi.{args.stack}.yaml does not exist (stacks: {', '.join(stacks)})",
            file=sys.stderr,
        )
        return 2
    try:
        recording = run_stack(args.stack)
    except pulumi.RunError as exc:  # ConfigError and friends: already a clear message
        print(f"error: {exc}", file=sys.stderr)
        return 1
    kube_version = stack_kube_version(args.stack)
    try:
        charts = chart_render.render_recording(
            recording, kube_version=kube_version, charts_dir=args.charts_dir
        )
    except chart_render.ChartRenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config, secret_keys = stack_config(args.stack)
    result = render(
        recording,
        args.stack,
        args.out,
        [config[k] for k in secret_keys],
        charts=charts,
        kube_version=kube_version,
    )
    print(result.text)
    if uses_existing_cluster(args.stack):
        print(
            "note: existing cluster: a placeholder kubeconfig stood in for binder:kubeconfig / "
            "kubeconfigPath / $KUBECONFIG / ~/.kube/config; none was read"
        )
    if result.leaks:
        print(
            f"error: {len(result.leaks)} value(s) hold a secret's text outside a Pulumi secret; "
            "wrap them with pulumi.Output.secret in the program (see the LEAK lines).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
