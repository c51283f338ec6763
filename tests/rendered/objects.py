"""The objects of one rendered case, indexed: every object a release renders and every raw
Kubernetes object the program registers, with the namespace each one lands in."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests import fast_yaml
from tests.k8s_validate import Schemas, raw_objects
from tests.rendered.crd_schemas import crd_schemas
from tests.rendered.support import Rendered
from tools.chart_render import RenderedRelease

#: Built-in kinds that are not namespaced (`kubectl api-resources --namespaced=false`,
#: Kubernetes 1.31-1.33), for those the charts or the program create or could create.
CLUSTER_SCOPED_BUILTINS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "CSIDriver", "CSINode", "CustomResourceDefinition", "FlowSchema", "IngressClass",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume",
    "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment",
})

#: Kinds whose objects carry a pod template, and where it is.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Obj:
    """One object and where it comes from."""

    source: str
    """``release <helm release>`` or ``raw <pulumi resource name>``."""
    release: str | None
    namespace: str | None
    """None when cluster-scoped."""
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} ({self.source})"


class Index:
    """Every object of one case."""

    def __init__(self, case: Rendered) -> None:
        self.case = case
        crds = [
            o for r in case.releases for o in r.objects if o["kind"] == "CustomResourceDefinition"
        ]
        self.crd_scope = {
            (crd["spec"]["group"], crd["spec"]["names"]["kind"]): crd["spec"]["scope"]
            for crd in crds
        }
        self.crd_plural = {
            (crd["spec"]["group"], crd["spec"]["names"]["kind"]): crd["spec"]["names"]["plural"]
            for crd in crds
        }
        self.rendered: list[Obj] = []
        for release in case.releases:
            for body in release.objects:
                namespaced = self.namespaced(body)
                ns = (body.get("metadata") or {}).get("namespace") or release.namespace
                self.rendered.append(
                    Obj(f"release {release.name}", release.name, ns if namespaced else None, body)
                )
        self.raw: list[Obj] = []
        for resource in raw_objects(case.recording):
            body = resource.inputs
            ns = (body.get("metadata") or {}).get("namespace")
            if self.namespaced(body):
                ns = ns or "default"
            self.raw.append(Obj(f"raw {resource.name}", None, ns, body))

    @functools.cached_property
    def crd_schemas(self) -> Schemas:
        """Strict schemas of the custom resources the rendered CRDs define."""
        return crd_schemas(o.body for o in self.rendered)

    def release(self, chart: str) -> RenderedRelease:
        [found] = [r for r in self.case.releases if r.chart == chart]
        return found

    def namespaced(self, body: Mapping[str, Any]) -> bool:
        kind = body["kind"]
        group = str(body["apiVersion"]).rpartition("/")[0]
        if (group, kind) in self.crd_scope:
            return self.crd_scope[(group, kind)] == "Namespaced"
        return kind not in CLUSTER_SCOPED_BUILTINS

    @property
    def all(self) -> list[Obj]:
        return self.rendered + self.raw

    def find(self, kind: str, name: str, namespace: str | None = None) -> list[Obj]:
        return [
            o for o in self.all
            if o.kind == kind and o.name == name and (namespace is None or o.namespace == namespace)
        ]

    def one(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        found = self.find(kind, name, namespace)
        assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {found}"
        return found[0]

    def pods(self) -> Iterator[tuple[Obj, Mapping[str, Any]]]:
        """``(owner, pod template)`` of every rendered workload."""
        for obj in self.rendered:
            path = POD_TEMPLATE_PATHS.get(obj.kind)
            if obj.kind == "Pod":
                yield obj, obj.body
            elif path:
                template: Any = obj.body
                for step in path:
                    template = template[step]
                yield obj, template

    def hub_values(self) -> dict[str, Any]:
        """The JupyterHub values the hub reads at start-up: z2jh writes them, whole, into
        the hub Secret's ``values.yaml`` (jupyterhub chart templates/hub/secret.yaml), and
        files/hub/jupyterhub_config.py configures KubeSpawner from them."""
        secret = self.one("Secret", "hub", self.release("binderhub").namespace)
        encoded = secret.body["data"]["values.yaml"]
        values: dict[str, Any] = fast_yaml.safe_load(base64.b64decode(encoded))
        return values


def resource_of(obj: Obj, index: Index) -> tuple[str, str]:
    """``(group, resource)`` the API server authorizes a write of ``obj`` against."""
    plural = index.crd_plural.get((obj.group, obj.kind))
    if plural is None:
        # Kubernetes' own guess from kind to resource (k8s.io/apimachinery/pkg/api/meta
        # UnsafeGuessKindToResource), right for every built-in kind the charts render.
        lower = obj.kind.lower()
        if lower.endswith("s"):
            plural = lower + "es"
        elif lower.endswith("y"):
            plural = lower[:-1] + "ies"
        else:
            plural = lower + "s"
    return obj.group, plural


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects ``labels``."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def container_ports(pod: Mapping[str, Any]) -> dict[str, int]:
    """Named container ports of a pod template (name -> number)."""
    spec = pod.get("spec") or {}
    return {
        p["name"]: int(p["containerPort"])
        for c in spec.get("containers") or []
        for p in c.get("ports") or []
        if p.get("name")
    }


def ingress_allows(
    policies: list[Obj],
    pod_labels: Mapping[str, str],
    port: int,
    port_names: Mapping[str, int],
    from_namespace_labels: Mapping[str, str],
    from_pod_labels: Mapping[str, str],
    same_namespace: bool,
) -> bool:
    """Whether NetworkPolicies let a pod (``from_*``) reach a pod (``pod_labels``) on
    ``port`` (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
    allowed when no policy with Ingress selects the target, or when one rule of one
    selecting policy matches both the peer and the port."""
    selecting = [
        p for p in policies
        if labels_match(p.body["spec"].get("podSelector") or {}, pod_labels)
        and "Ingress" in (p.body["spec"].get("policyTypes") or ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy.body["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports:
                numbers = set()
                for entry in ports:
                    value = entry.get("port")
                    if isinstance(value, str):
                        if value in port_names:
                            numbers.add(port_names[value])
                    elif value is not None:
                        numbers.add(int(value))
                    else:
                        numbers.add(port)  # no port: every port
                if port not in numbers:
                    continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                if ns_sel is None and pod_sel is None:
                    continue  # an ipBlock: pod IPs are not modelled
                ns_ok = labels_match(ns_sel, from_namespace_labels) if ns_sel is not None \
                    else same_namespace
                pod_ok = labels_match(pod_sel, from_pod_labels) if pod_sel is not None else True
                if ns_ok and pod_ok:
                    return True
    return False
