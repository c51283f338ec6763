"""Reading back what a deploy made: Helm's release records, workload readiness, the objects
each release owns, and the offline render to compare them with."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from e2e.kube import ApiError, Client

#: Every namespace the e2e stack's program manages.
NAMESPACES = ("binder", "ingress", "cert-manager", "monitoring", "logging", "deployer")
RELEASE_NAMESPACES = {"binderhub": "binder", "traefik": "ingress", "cert-manager": "cert-manager",
                      "prometheus": "monitoring", "grafana": "monitoring", "fluentd": "logging",
                      "cryptnono": "binder"}


@dataclass(frozen=True)
class HelmRelease:
    name: str
    namespace: str
    status: str
    revision: int
    chart: str


def helm_releases(client: Client) -> dict[str, HelmRelease]:
    """Helm's latest record of each release (its storage: Secrets labelled ``owner=helm``,
    the release gzipped and base64-encoded twice)."""
    latest: dict[str, HelmRelease] = {}
    for secret in client.list("v1", "Secret", labelSelector="owner=helm"):
        data = base64.b64decode(base64.b64decode(secret["data"]["release"]))
        record = json.loads(gzip.decompress(data))
        release = HelmRelease(
            name=record["name"], namespace=record["namespace"],
            status=record["info"]["status"], revision=record["version"],
            chart=f"{record['chart']['metadata']['name']}-{record['chart']['metadata']['version']}",
        )
        if release.name not in latest or latest[release.name].revision < release.revision:
            latest[release.name] = release
    return latest


def not_ready(client: Client, namespaces: Iterable[str]) -> list[str]:
    """Workloads whose pods are not all ready, and pods that are neither ready nor done."""
    problems = []
    for ns in namespaces:
        for d in client.list("apps/v1", "Deployment", ns):
            want, ready = d["spec"].get("replicas", 1), d["status"].get("readyReplicas", 0)
            if ready < want:
                problems.append(f"Deployment {ns}/{d['metadata']['name']}: {ready}/{want} ready")
        for s in client.list("apps/v1", "StatefulSet", ns):
            want, ready = s["spec"].get("replicas", 1), s["status"].get("readyReplicas", 0)
            if ready < want:
                problems.append(f"StatefulSet {ns}/{s['metadata']['name']}: {ready}/{want} ready")
        for d in client.list("apps/v1", "DaemonSet", ns):
            want, ready = d["status"].get("desiredNumberScheduled", 0), d["status"].get(
                "numberReady", 0)
            if ready < want or want == 0:
                problems.append(f"DaemonSet {ns}/{d['metadata']['name']}: {ready}/{want} ready")
        for p in client.list("v1", "Pod", ns):
            phase = p["status"].get("phase")
            ready = any(c["type"] == "Ready" and c["status"] == "True"
                        for c in p["status"].get("conditions", []))
            if phase != "Succeeded" and not ready:
                problems.append(f"Pod {ns}/{p['metadata']['name']}: {phase}, not ready")
    return problems


@dataclass(frozen=True, order=True)
class ObjectKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class RenderedObject:
    key: ObjectKey
    api_version: str
    deleted_after_hook: bool
    """A Helm hook deleted once it succeeded (``helm.sh/hook-delete-policy``)."""


def rendered_objects(manifest: Path, namespace: str, client: Client) -> list[RenderedObject]:
    """The objects of one release in ``make render``'s manifests (``manifests/<release>.yaml``),
    with the release's namespace filled in where Helm fills it in (namespaced kinds)."""
    found = []
    for doc in yaml.safe_load_all(manifest.read_text()):
        if not isinstance(doc, dict) or "kind" not in doc:
            continue
        meta = doc.get("metadata", {})
        resource = client.resource(doc["apiVersion"], doc["kind"])
        ns = (meta.get("namespace") or namespace) if resource.namespaced else ""
        annotations = meta.get("annotations") or {}
        policy = annotations.get("helm.sh/hook-delete-policy", "")
        found.append(RenderedObject(
            ObjectKey(doc["kind"], ns, meta["name"]), doc["apiVersion"],
            bool(annotations.get("helm.sh/hook")) and "hook-succeeded" in policy,
        ))
    return found


def helm_owned(client: Client) -> dict[str, set[ObjectKey]]:
    """Every object Helm marks as belonging to a release (``meta.helm.sh/release-name``), of
    every kind the API server serves, in every namespace, by release. Objects a controller
    made from one of them (a DaemonSet's ControllerRevisions carry its annotations) are not
    the release's own."""
    found: dict[str, set[ObjectKey]] = {}
    for obj in client.iter_all():
        meta = obj["metadata"]
        release = (meta.get("annotations") or {}).get("meta.helm.sh/release-name")
        controlled = any(o.get("controller") for o in meta.get("ownerReferences") or [])
        if release and not controlled:
            found.setdefault(release, set()).add(
                ObjectKey(obj["kind"], meta.get("namespace", ""), meta["name"]))
    return found


def exists(client: Client, api_version: str, key: ObjectKey) -> bool:
    try:
        return client.exists(api_version, key.kind, key.name, key.namespace or None)
    except ApiError as exc:
        if exc.code == 404:
            return False
        raise


#: Label the program puts on every object it creates itself (components/access/objects.py).
MANAGED_BY_PULUMI = ("app.kubernetes.io/managed-by", "pulumi")
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")


@dataclass(frozen=True)
class Leftovers:
    objects: list[ObjectKey]
    """Objects the program or one of its releases made, still there."""
    kept_crds: list[str]
    """CRDs of our charts that Helm keeps on uninstall: those of a chart's ``crds/``
    directory (Helm never deletes them) or annotated ``helm.sh/resource-policy: keep``."""


def _our_crd_groups() -> tuple[str, ...]:
    return ("traefik.io", "hub.traefik.io", "gateway.networking.k8s.io", "cert-manager.io",
            "acme.cert-manager.io")


def ours(client: Client) -> Leftovers:
    """What is left of the stack in the cluster: objects labelled by the program, objects
    Helm records as one of our releases', and our charts' CRDs."""
    objects, kept = [], []
    for obj in client.iter_all():
        meta = obj["metadata"]
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        kept_by_helm = (not annotations.get("meta.helm.sh/release-name")
                        or annotations.get("helm.sh/resource-policy") == "keep")
        if ((obj["apiVersion"], obj["kind"]) == CRD
                and meta["name"].endswith(_our_crd_groups()) and kept_by_helm):
            kept.append(meta["name"])
            continue
        if (labels.get(MANAGED_BY_PULUMI[0]) == MANAGED_BY_PULUMI[1]
                or annotations.get("meta.helm.sh/release-name") in RELEASE_NAMESPACES):
            objects.append(ObjectKey(obj["kind"], meta.get("namespace", ""), meta["name"]))
    return Leftovers(sorted(objects), sorted(kept))


def remove_kept_crds(client: Client) -> list[str]:
    """Delete the CRDs :func:`ours` finds kept (between runs that must start alike)."""
    kept = ours(client).kept_crds
    for name in kept:
        client.delete(*CRD, name)
    return kept
