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
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config.base import ConfigError
from components.config.yaml_input import read_stack_config
from components.secrets.document import SLOTS
from tools import chart_render
from tools.mockrun import PROJECT, REPO, Recording, Registered, is_secret, stack_config
from tools.mockrun import run_stack as _run_stack
from tools.plan_tree import order, plan_tree
from tools.redaction import (
    LEAK,
    MIN_NEEDLE,
    REDACTED,
    redact,
    scrub,
    secret_texts,
)
from tools.render_files import (
    MANIFESTS_DIR,
    PLAN_FILE,
    RELEASE_TYPE,
    RESOURCES_FILE,
    count,
    dump,
    write_manifests,
    write_resources,
)

DEFAULT_OUT = REPO / "build" / "render"


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
    identifiers: Sequence[str] = (),
    charts: Sequence[chart_render.RenderedRelease] | None = None,
    kube_version: str = "",
) -> Render:
    """Print-ready plan of ``recording`` and the redacted files under ``out_dir/stack``:
    ``plan.txt``, the values files, ``resources.yaml`` and, given ``charts`` (the releases
    rendered by :func:`tools.chart_render.render_recording` for ``kube_version``), the
    manifests.

    ``extra_secrets``: secret texts the recording cannot show (the stack's config secrets),
    also looked for in plaintext values. ``identifiers``: texts that are no secret material
    -- the stack's plaintext config values and the secrets that are names or certificates
    (:attr:`components.secrets.document.Slot.material`).

    Only secret material counts as a leak (issue 20: a private registry's URL travels as a
    secret beside its credentials, and finding it in the image prefix is no leak): the
    config secrets, the placeholders of the secrets files' material slots, and each secret
    the program carries as a whole value unless it is, or is part of, an identifier.
    """
    material, placeholder_identifiers = secret_material_placeholders()
    public = [*identifiers, *placeholder_identifiers]
    carried = {
        text
        for source in (*(r.wire for r in recording.resources), recording.outputs_wire)
        for text in secret_texts(source, whole_only=True)
        # A value the stack file holds in plaintext (the registry's URL, which the program
        # hands over beside its credentials) or an identifier is no secret material.
        if not any(text in plain for plain in public)
    }
    needles = sorted(
        (carried | set(extra_secrets or []) | set(material)) - set(identifiers)
        - set(placeholder_identifiers),
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

    releases = sorted(recording.of_type(RELEASE_TYPE), key=order)
    stems = _file_names(releases)
    result = Render(text="")
    for r in releases:
        leaks: list[str] = []
        values = scrub(redact(r.wire.get("values", {})), needles, "values", leaks)
        result.leaks.extend(f"{r.name}:{leak}" for leak in sorted(leaks))
        release = RenderedRelease(
            resource=r.name,
            release=str(r.inputs.get("name") or r.name),
            chart=chart_render.chart_and_version(r.inputs)[0] or "?",
            version=chart_render.chart_and_version(r.inputs)[1] or "?",
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
        f"{count(len(recording.resources), 'resource')}: {count(components, 'component')}, "
        f"{count(len(recording.resources) - components - providers, 'custom resource')}, "
        f"{count(providers, 'provider')}",
    ]
    if recording.outputs_wire:
        outputs = ", ".join(
            f"{name} (secret)" if is_secret(value) else name
            for name, value in sorted(recording.outputs_wire.items())
        )
        lines.append(f"stack outputs: {outputs}")
    # Every warning a real run prints (issue 20: a partner site never saw "TLS certificate
    # given but not used" or "pushing anonymously" before its first `pulumi up`).
    warnings = [line.split(": ", 1)[1] for line in recording.logs
                if line.startswith("warning: ")]
    if warnings:
        lines += ["", f"{count(len(warnings), 'warning')} (a real run prints the same):"]
        lines += [f"  warning: {w if not any(n in w for n in needles) else LEAK}"
                  for w in warnings]
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
        objects = sum(len(r.objects) for r in charts)
        lines.append(
            f"Rendered objects ({count(objects, 'object')}, Kubernetes {kube_version}): "
            f"{_shown(target / MANIFESTS_DIR)}/"
        )
    for leak in result.leaks:
        lines.append(f"LEAK: {leak} holds a secret's text outside a Pulumi secret (redacted)")
    result.text = "\n".join(lines)
    return result



def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------
# SOPS files, never decrypted
# --------------------------------------------------------------------------------------

#: sops records each value's type at the end of its ciphertext (``...,type:int]``).
_SOPS_TYPE = re.compile(r",type:(\w+)\]$")
#: What a value of a non-string sops type reads as: the program's checks see the type the
#: file really holds (an unquoted number is refused in a render as in a real run).
_TYPED = {"int": 0, "float": 0.0, "bool": False}


def secret_and_public_config(
    config: Mapping[str, str], secret_keys: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The stack config's texts for :func:`render`: ``(secret material, identifiers)``. Secret
    keys of slots that hold names (``registryUsername``, ``oauthClientId``, certificates) and
    every plaintext value are identifiers."""
    names = {f"{PROJECT}:{s.config_key}" for s in SLOTS if not s.material}
    material = [config[k] for k in secret_keys if k not in names]
    public = [v for k, v in config.items() if k not in secret_keys or k in names]
    return material, public


def placeholder_for(path: str) -> str:
    """The text a render gives the program for the secret at ``path`` (``section.key``): of
    the shape the program checks (PEM for a certificate or key slot), never a real secret."""
    slot = next((s for s in SLOTS if f"{s.section}.{s.key}" == path), None)
    if slot is not None and slot.pem:
        return (f"-----BEGIN {slot.pem}-----\nrender-placeholder\n"
                f"-----END {slot.pem}-----\n")
    return f"render-placeholder-for-{path}"


def secret_material_placeholders() -> tuple[list[str], list[str]]:
    """``(material, identifiers)``: the placeholders of the secret slots that hold secret
    material, and of those that hold names or certificates (not leaks when seen elsewhere)."""
    material = [placeholder_for(f"{s.section}.{s.key}") for s in SLOTS if s.material]
    identifiers = [placeholder_for(f"{s.section}.{s.key}") for s in SLOTS if not s.material]
    return material, identifiers


def _placeholders(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return {k: _placeholders(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("ENC["):
        typed = _SOPS_TYPE.search(value)
        if typed and typed.group(1) in _TYPED:
            return _TYPED[typed.group(1)]
        return placeholder_for(path)
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
    raw = dict(read_stack_config(REPO / f"Pulumi.{stack}.yaml", error=ConfigError))
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
    material, public = secret_and_public_config(config, secret_keys)
    result = render(
        recording,
        args.stack,
        args.out,
        material,
        identifiers=public,
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
