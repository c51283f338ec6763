"""What a cluster needs before any resource: its kubeconfig or its cloud project and location.

An existing cluster's kubeconfig comes from the secret ``binder:kubeconfig`` or a file; it is
reduced to one context with every file reference inlined, and kept as a secret ``Output``.
"""

from __future__ import annotations

import base64
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


def _inline(entry: dict[str, Any], field: str, base_dir: Path, source: str) -> None:
    """Replace a file reference (``certificate-authority``) by its ``-data`` form."""
    ref = entry.pop(field, None)
    if ref is None or entry.get(f"{field}-data"):
        return
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref  # as kubectl resolves it
    try:
        entry[f"{field}-data"] = base64.b64encode(path.read_bytes()).decode()
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read {field} '{ref}' ({exc.strerror}); fix the path or inline "
            f"it as {field}-data"
        ) from None


def parse_kubeconfig(text: str, context: str | None, source: str, base_dir: Path) -> Kubeconfig:
    """Check a kubeconfig and reduce it to the context the stack uses.

    Only that context travels on: the stack output and the provider never carry the other
    clusters' credentials a personal ~/.kube/config holds. Raises :class:`ConfigError` naming
    ``source`` when it is not a usable kubeconfig.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{source}: not valid YAML; give a kubeconfig file") from None
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config":
        raise ConfigError(f"{source}: not a kubeconfig (expected `kind: Config`)")
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    chosen = context or doc.get("current-context")
    if not chosen:
        raise ConfigError(
            f"{source}: no current-context; set binder:cluster.context to one of "
            f"{sorted(contexts) or 'its contexts'}"
        )
    if chosen not in contexts:
        raise ConfigError(
            f"{source}: context '{chosen}' not found; use one of {sorted(contexts)} "
            "in binder:cluster.context"
        )
    ctx = dict(contexts[chosen])
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
    cluster_ref = ctx.get("cluster")
    if cluster_ref not in clusters or not clusters[cluster_ref].get("server"):
        raise ConfigError(
            f"{source}: context '{chosen}' refers to cluster '{cluster_ref}', "
            "which has no server entry; fix the kubeconfig"
        )
    users = {u.get("name"): u.get("user") or {} for u in doc.get("users") or []}
    cluster = dict(clusters[cluster_ref])
    user = dict(users.get(ctx.get("user"), {}))
    _inline(cluster, "certificate-authority", base_dir, source)
    _inline(user, "client-certificate", base_dir, source)
    _inline(user, "client-key", base_dir, source)
    reduced = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_ref, "cluster": cluster}],
        "users": [{"name": ctx.get("user"), "user": user}] if ctx.get("user") else [],
        "contexts": [{"name": chosen, "context": ctx}],
        "current-context": chosen,
    }
    return Kubeconfig(
        text=yaml.safe_dump(reduced, sort_keys=False),
        context=chosen,
        server=cluster["server"],
        ca_data=cluster.get("certificate-authority-data", ""),
    )


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
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(
                f"binder:cluster.kubeconfigPath: cannot read '{path}' ({exc.strerror}). "
                "Point kubeconfigPath or $KUBECONFIG at a readable kubeconfig, or store one "
                "with `pulumi config set --secret binder:kubeconfig < FILE`."
            ) from None
        reduced = parse_kubeconfig(text, cluster.context, str(path), path.parent)
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
