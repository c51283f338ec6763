"""What a cluster needs before any resource: its kubeconfig or its cloud project and location.

An existing cluster's kubeconfig comes from the secret ``binder:kubeconfig`` or a file; it is
reduced to one context with every file reference inlined, and kept as a secret ``Output``.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config.base import ConfigError
from components.config.cluster import (
    ClusterConfig,
    ExistingCluster,
    GkeCluster,
    resolve_kubeconfig_path,
)
from components.config.yaml_input import load_yaml
from components.secrets.material import check_config_secrets


@dataclass(frozen=True)
class ClusterInputs:
    """What must be read or checked before any resource is registered."""

    kubeconfig: pulumi.Output[str] | None = None
    """Existing clusters: the kubeconfig, a secret."""
    gcp_project: str | None = None
    """GKE: the project, from ``gcp:project``."""
    gcp_location: str | None = None
    """GKE: the cluster's region or zone."""


@dataclass(frozen=True)
class Kubeconfig:
    """A kubeconfig reduced to one context, with every file reference inlined."""

    text: str
    """The reduced kubeconfig: the chosen context, its cluster and its user, nothing else."""
    context: str
    server: str
    ca_data: str


#: Caps on what is read: a kubeconfig with many contexts is still a few tens of KiB, a
#: certificate chain or key a few KiB.
KUBECONFIG_MAX_BYTES = 1024 * 1024
REFERENCE_MAX_BYTES = 256 * 1024

#: A file reference never points here: these are not certificates but the kernel's and the
#: process's state (``/proc/self/environ`` holds our environment, credentials included), and
#: what was read would travel on, inlined, in the kubeconfig output.
_SYSTEM_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"))

#: Fields of a kubeconfig that name a file, and the inline field that replaces each
#: (client-go's clientcmd/api/v1 Cluster and AuthInfo: ``certificate-authority``,
#: ``client-certificate``, ``client-key``, ``tokenFile``; a token given inline wins over
#: ``tokenFile``):
#: https://github.com/kubernetes/client-go/blob/v0.33.0/tools/clientcmd/api/v1/types.go
_CLUSTER_FILES = {"certificate-authority": "certificate-authority-data"}
_USER_FILES = {
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
    "tokenFile": "token",
}


def _read_reference(ref: object, field: str, base_dir: Path, source: str) -> bytes:
    """The bytes of a file a kubeconfig names: a regular file, outside /proc, /sys and /dev."""
    inline = _CLUSTER_FILES.get(field) or _USER_FILES[field]
    fix = f"fix the path or inline the file's content as {inline}"
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"{source}: {field} must be a file path; {fix}")
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref  # as kubectl resolves it
    real = Path(os.path.realpath(path))  # symlinks followed: a link into /proc is refused too
    if any(real == d or d in real.parents for d in _SYSTEM_DIRS):
        raise ConfigError(
            f"{source}: {field} '{ref}' points into /{real.parts[1]}, which holds no "
            f"certificates or keys; {fix}"
        )
    if not real.is_file():
        what = "does not exist" if not real.exists() else "is not a regular file"
        raise ConfigError(f"{source}: {field} '{ref}' {what}; {fix}")
    try:
        with real.open("rb") as stream:
            data = stream.read(REFERENCE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read {field} '{ref}' ({exc.strerror}); {fix}"
        ) from None
    if len(data) > REFERENCE_MAX_BYTES:
        raise ConfigError(
            f"{source}: {field} '{ref}' is larger than {REFERENCE_MAX_BYTES // 1024} KiB, too "
            f"large for a certificate, key or token; {fix}"
        )
    return data


def _inline(entry: dict[str, Any], files: dict[str, str], base_dir: Path, source: str) -> None:
    """Replace each file reference (``certificate-authority``) by its inline form."""
    for field, inline in files.items():
        ref = entry.pop(field, None)
        if ref is None or entry.get(inline):
            continue
        data = _read_reference(ref, field, base_dir, source)
        if inline == "token":  # client-go trims the token file's whitespace
            try:
                entry[inline] = data.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ConfigError(f"{source}: {field} '{ref}' is not a text token") from None
        else:
            entry[inline] = base64.b64encode(data).decode()


def _named(doc: dict[str, Any], key: str, item: str, source: str) -> dict[str, dict[str, Any]]:
    """A kubeconfig list (``contexts``, ``clusters``, ``users``) by name, its shape checked."""
    entries = doc.get(key)
    if entries is None:
        return {}
    shape = f"a list of entries, each with a `name` and a `{item}` mapping"
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: `{key}` must be {shape}; fix the kubeconfig")
    named: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        body = entry.get(item) if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(body, dict | None)
        ):
            raise ConfigError(
                f"{source}: `{key}` entry {i + 1} is not an entry with a `name` and a `{item}` "
                f"mapping; `{key}` must be {shape}"
            )
        named[entry["name"]] = dict(body or {})
    return named


def parse_kubeconfig(
    text: str | bytes, context: str | None, source: str, base_dir: Path
) -> Kubeconfig:
    """Check a kubeconfig and reduce it to the context the stack uses.

    Only that context travels on: the stack output and the provider never carry the other
    clusters' credentials a personal ~/.kube/config holds. Raises :class:`ConfigError` naming
    ``source`` when it is not a usable kubeconfig.
    """
    # Syntax errors, aliases, non-UTF-8 text, oversized files: one message naming the source,
    # quoting none of its characters (it holds credentials).
    doc = load_yaml(text, source, error=ConfigError, secret=True, max_bytes=KUBECONFIG_MAX_BYTES)
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config":
        raise ConfigError(f"{source}: not a kubeconfig (expected `kind: Config`)")
    contexts = _named(doc, "contexts", "context", source)
    chosen = context or doc.get("current-context")
    if not chosen:
        raise ConfigError(
            f"{source}: no current-context; set binder:cluster.context to one of "
            f"{sorted(contexts) or 'its contexts'}"
        )
    if not isinstance(chosen, str) or chosen not in contexts:
        raise ConfigError(
            f"{source}: context '{chosen}' not found; use one of {sorted(contexts)} "
            "in binder:cluster.context"
        )
    ctx = contexts[chosen]
    clusters = _named(doc, "clusters", "cluster", source)
    users = _named(doc, "users", "user", source)
    cluster_ref = ctx.get("cluster")
    if not isinstance(cluster_ref, str) or not cluster_ref:
        raise ConfigError(
            f"{source}: context '{chosen}' names no cluster; give it `cluster: <name>` of one "
            f"of the kubeconfig's clusters {sorted(clusters)}"
        )
    if cluster_ref not in clusters or not isinstance(clusters[cluster_ref].get("server"), str):
        raise ConfigError(
            f"{source}: context '{chosen}' refers to cluster '{cluster_ref}', "
            "which has no server entry; fix the kubeconfig"
        )
    user_ref = ctx.get("user")
    if user_ref is not None and not isinstance(user_ref, str):
        raise ConfigError(f"{source}: context '{chosen}' has a `user` that is not a name")
    cluster = clusters[cluster_ref]
    user = users.get(user_ref, {}) if user_ref else {}
    _inline(cluster, _CLUSTER_FILES, base_dir, source)
    _inline(user, _USER_FILES, base_dir, source)
    reduced = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_ref, "cluster": cluster}],
        "users": [{"name": user_ref, "user": user}] if user_ref else [],
        "contexts": [{"name": chosen, "context": ctx}],
        "current-context": chosen,
    }
    return Kubeconfig(
        text=yaml.safe_dump(reduced, sort_keys=False),
        context=chosen,
        server=cluster["server"],
        ca_data=cluster.get("certificate-authority-data", ""),
    )


def _read_kubeconfig_file(path: Path) -> bytes:
    """The bytes of a kubeconfig file: a regular file, read up to just over the cap."""
    hint = (
        "Point kubeconfigPath or $KUBECONFIG at a readable kubeconfig, or store one with "
        "`pulumi config set --secret binder:kubeconfig < FILE`."
    )
    try:
        if not path.is_file():
            what = "no such file" if not path.exists() else "not a regular file"
            raise ConfigError(
                f"binder:cluster.kubeconfigPath: cannot read '{path}' ({what}). {hint}"
            )
        with path.open("rb") as stream:
            return stream.read(KUBECONFIG_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"binder:cluster.kubeconfigPath: cannot read '{path}' ({exc.strerror}). {hint}"
        ) from None


def read_cluster_inputs(cluster: ClusterConfig) -> ClusterInputs:
    """Read and check everything the cluster needs, before any resource is registered."""
    if isinstance(cluster, ExistingCluster):
        # A kubeconfig holds cluster credentials: refuse one stored without --secret.
        check_config_secrets(["kubeconfig"])
        if pulumi.Config("binder").get_secret("kubeconfig") is not None:
            # Checked and reduced here, before any resource, like a file: the engine hands the
            # program its config in memory, so the plaintext is read once for parsing and
            # only the reduced text leaves, as a secret. File references in it resolve
            # against the project directory.
            text = pulumi.runtime.get_config("binder:kubeconfig") or ""
            reduced = parse_kubeconfig(text, cluster.context, "binder:kubeconfig", Path.cwd())
            return ClusterInputs(kubeconfig=pulumi.Output.secret(reduced.text))
        path = resolve_kubeconfig_path(cluster)
        data = _read_kubeconfig_file(path)
        reduced = parse_kubeconfig(data, cluster.context, str(path), path.parent)
        return ClusterInputs(kubeconfig=pulumi.Output.secret(reduced.text))
    if isinstance(cluster, GkeCluster):
        gcp = pulumi.Config("gcp")
        project = gcp.get("project")
        if not project:
            raise ConfigError(
                "gcp:project is not set; run `pulumi config set gcp:project <PROJECT_ID>`"
            )
        location = cluster.location or gcp.get("region")
        if not location:
            raise ConfigError(
                "binder:cluster.location is not set and neither is gcp:region; run "
                "`pulumi config set gcp:region europe-west1` or set binder:cluster.location"
            )
        return ClusterInputs(gcp_project=project, gcp_location=location)
    return ClusterInputs()
