"""The files of the offline render a reviewer reads and diffs: review YAML (block literals),
``manifests/<release>.yaml`` and ``resources.yaml`` (see :mod:`tools.render`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tools import chart_render
from tools.mockrun import Recording
from tools.plan_tree import label, provider_name
from tools.redaction import MIN_NEEDLE, REDACTED, placeholder_texts, redact, redact_object, scrub

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
PLAN_FILE = "plan.txt"
RESOURCES_FILE = "resources.yaml"
MANIFESTS_DIR = "manifests"


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
# Rendered manifests and the other resources
# --------------------------------------------------------------------------------------


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
            f"# {count(len(objects), 'object')} as the chart renders them offline for "
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
            document["parent"] = label(r.parent, by_urn)
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
        f"# ({count(len(documents), 'resource')}, sorted by type and name; "
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


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
