"""What the deploy agent may and may not do (docs/access.md), asked of the real API server.

Each :class:`Probe` is one request the deploy agent sends with its own kubeconfig (the stack
output ``deployer_kubeconfig``). Writes are sent with ``dryRun=All``: the API server
authenticates, authorizes (RBAC), admits (the ValidatingAdmissionPolicy guard, Pod
Security) and validates them, and stores nothing. Requests that could make the API server
dial a kubelet (exec, port-forward) are asked as a SelfSubjectAccessReview instead, so that
nothing leaves loopback even if RBAC wrongly allowed them.

Each write the guard judges is also decided by the fast suite's CEL model of the same policy
(``tests/admission.py``, cel-python), so one table shows both columns.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from e2e.kube import ApiError, Client

RBAC = "rbac.authorization.k8s.io"
REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
DEPLOYER = "system:serviceaccount:deployer:deployer"

Verb = Literal["create", "patch", "get", "list", "delete", "review", "impersonate"]


@dataclass(frozen=True)
class Probe:
    """One request of the deploy agent, and what docs/access.md says of it."""

    what: str
    may: bool
    """docs/access.md: the agent may (True) or may not (False) do this."""
    verb: Verb
    api_version: str
    kind: str
    name: str = ""
    namespace: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    """The object (create) or the merge patch (patch)."""
    review: Mapping[str, str] = field(default_factory=dict)
    """The resourceAttributes of a SelfSubjectAccessReview (verb review)."""


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    layer: str
    """Who refused: rbac, guard, pod-security or validation; empty if allowed."""
    message: str


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _binding(kind: str, name: str, role: str, subjects: list[dict[str, Any]],
             namespace: str | None = None) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": _meta(name, namespace),
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": subjects}


def _sa(name: str, namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _token_secret(namespace: str, account: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": _meta(f"{account}-e2e-token", namespace, annotations={
                "kubernetes.io/service-account.name": account})}


def _deployment(namespace: str) -> dict[str, Any]:
    labels = {"app": "e2e-probe"}
    container = {"name": "c", "image": "registry.example.org/probe:1", "resources": {
        "requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta("e2e-probe", namespace),
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


def _webhook(name: str) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": _meta(name),
            "webhooks": [{"name": "probe.example.org", "sideEffects": "None",
                          "admissionReviewVersions": ["v1"],
                          "clientConfig": {"url": "https://127.0.0.1:9/probe"},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                                     "apiVersions": ["v1"], "resources": ["secrets"]}]}]}


#: The table: what docs/access.md says the agent may do, then what it may not.
PROBES: tuple[Probe, ...] = (
    Probe("create a Deployment in binder", True, "create", "apps/v1", "Deployment",
          body=_deployment("binder")),
    Probe("create an Opaque Secret in binder", True, "create", "v1", "Secret", body={
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": _meta("e2e-probe", "binder")}),
    Probe("list Pods in binder", True, "list", "v1", "Pod", namespace="binder"),
    Probe("update a chart's ClusterRole (prometheus-server)", True, "patch",
          f"{RBAC}/v1", "ClusterRole", "prometheus-server",
          body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("bind a chart ClusterRole to the chart's own ServiceAccount", True, "create",
          f"{RBAC}/v1", "ClusterRoleBinding", body=_binding(
              "ClusterRoleBinding", "e2e-probe", "prometheus-server",
              [_sa("prometheus-server", "monitoring")])),
    Probe("update the chart's webhook configuration (cert-manager-webhook)", True, "patch",
          "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
          "cert-manager-webhook", body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("label a managed namespace (not Pod Security)", True, "patch", "v1", "Namespace",
          "binder", body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("update the program's PriorityClass (binder-node-critical)", True, "patch",
          "scheduling.k8s.io/v1", "PriorityClass", "binder-node-critical",
          body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("update the chart's IngressClass (traefik)", True, "patch", "networking.k8s.io/v1",
          "IngressClass", "traefik", body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("update the program's ClusterIssuer (letsencrypt-staging)", True, "patch",
          "cert-manager.io/v1", "ClusterIssuer", "letsencrypt-staging",
          body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    # ---------------------------------------------------------------- may not
    Probe("read Secrets in kube-system", False, "list", "v1", "Secret", namespace="kube-system"),
    Probe("read Secrets in its own namespace (tokens)", False, "list", "v1", "Secret",
          namespace="deployer"),
    Probe("bind cluster-admin to itself", False, "create", f"{RBAC}/v1", "ClusterRoleBinding",
          body=_binding("ClusterRoleBinding", "e2e-probe", "cluster-admin",
                        [_sa("deployer", "deployer")])),
    Probe("create a ClusterRole granting everything (escalate)", False, "create",
          f"{RBAC}/v1", "ClusterRole", body={
              "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": _meta("e2e-probe"),
              "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    Probe("change its own ClusterRole", False, "patch", f"{RBAC}/v1", "ClusterRole",
          "binder:deployer:deployer", body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("create a webhook configuration of a new name", False, "create",
          "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
          body=_webhook("e2e-probe")),
    Probe("create a namespace", False, "create", "v1", "Namespace", body={
        "apiVersion": "v1", "kind": "Namespace", "metadata": _meta("e2e-probe")}),
    Probe("delete a CRD", False, "delete", "apiextensions.k8s.io/v1", "CustomResourceDefinition",
          "clusterissuers.cert-manager.io"),
    Probe("change the admission guard", False, "patch", "admissionregistration.k8s.io/v1",
          "ValidatingAdmissionPolicy", "binder-deployer-deployer-guard",
          body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("write Endpoints (CVE-2021-25740)", False, "create", "v1", "Endpoints", body={
        "apiVersion": "v1", "kind": "Endpoints", "metadata": _meta("e2e-probe", "binder")}),
    Probe("create a bare Pod", False, "create", "v1", "Pod", body={
        "apiVersion": "v1", "kind": "Pod", "metadata": _meta("e2e-probe", "binder"),
        "spec": _deployment("binder")["spec"]["template"]["spec"]}),
    Probe("exec into a pod", False, "review", "v1", "Pod", review={
        "namespace": "binder", "verb": "create", "resource": "pods", "subresource": "exec"}),
    Probe("port-forward to a pod", False, "review", "v1", "Pod", review={
        "namespace": "binder", "verb": "create", "resource": "pods",
        "subresource": "portforward"}),
    Probe("request a token (TokenRequest API)", False, "review", "v1", "ServiceAccount", review={
        "namespace": "binder", "verb": "create", "resource": "serviceaccounts",
        "subresource": "token"}),
    Probe("impersonate a user", False, "impersonate", "v1", "Namespace"),
    Probe("change a node", False, "patch", "v1", "Node", "kwok-core-0",
          body={"metadata": {"labels": {"e2e-probe": "1"}}}),
    Probe("bind a chart ClusterRole to itself", False, "create", f"{RBAC}/v1",
          "ClusterRoleBinding", body=_binding("ClusterRoleBinding", "e2e-probe",
                                              "prometheus-server", [_sa("deployer", "deployer")])),
    Probe("bind a chart ClusterRole to a person", False, "create", f"{RBAC}/v1",
          "ClusterRoleBinding", body=_binding(
              "ClusterRoleBinding", "e2e-probe", "prometheus-server",
              [{"kind": "User", "name": "mallory@example.org", "apiGroup": RBAC}])),
    Probe("bind a chart ClusterRole to a kube-system ServiceAccount", False, "create",
          f"{RBAC}/v1", "ClusterRoleBinding", body=_binding(
              "ClusterRoleBinding", "e2e-probe", "prometheus-server",
              [_sa("default", "kube-system")])),
    Probe("aggregate a chart ClusterRole into admin", False, "patch", f"{RBAC}/v1",
          "ClusterRole", "prometheus-server", body={"metadata": {"labels": {
              "rbac.authorization.k8s.io/aggregate-to-admin": "true"}}}),
    Probe("create a token Secret for a non-chart ServiceAccount", False, "create", "v1",
          "Secret", body=_token_secret("binder", "default")),
    # A leaked deploy token's escalations through the charts' own objects (docs/access.md,
    # "What the guard closes"): each refused by the guard, RBAC allowing the write.
    Probe("grant everything through a chart's ClusterRole (prometheus-server)", False, "patch",
          f"{RBAC}/v1", "ClusterRole", "prometheus-server",
          body={"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    Probe("make a chart's ClusterRole aggregate others (aggregationRule)", False, "patch",
          f"{RBAC}/v1", "ClusterRole", "prometheus-server", body={"aggregationRule": {
              "clusterRoleSelectors": [{"matchLabels": {"e2e-probe": "1"}}]}}),
    Probe("create a token Secret for a chart ServiceAccount (binder/hub)", False, "create",
          "v1", "Secret", body=_token_secret("binder", "hub")),
    Probe("point a chart's webhook at a URL (cert-manager-webhook)", False, "patch",
          "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
          "cert-manager-webhook", body={"webhooks": _webhook("x")["webhooks"]}),
    Probe("create a PriorityClass of a new name", False, "create", "scheduling.k8s.io/v1",
          "PriorityClass", body={"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                 "metadata": _meta("e2e-probe"), "value": 1000}),
    Probe("make the program's PriorityClass the cluster default", False, "patch",
          "scheduling.k8s.io/v1", "PriorityClass", "binder-node-critical",
          body={"globalDefault": True}),
    Probe("create an IngressClass of a new name", False, "create", "networking.k8s.io/v1",
          "IngressClass", body={"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                "metadata": _meta("e2e-probe"),
                                "spec": {"controller": "example.org/e2e-probe"}}),
    Probe("relax a namespace's Pod Security level", False, "patch", "v1", "Namespace", "ingress",
          body={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
)


def _classify(exc: ApiError) -> str:
    message = exc.message
    if "ValidatingAdmissionPolicy" in message:
        return "guard"
    if "violates PodSecurity" in message:
        return "pod-security"
    if exc.code == 403:
        return "rbac"
    return "validation"


def attempt(probe: Probe, client: Client) -> Outcome:
    """Send ``probe`` as ``client``'s user; what the API server answered."""
    try:
        if probe.verb == "create":
            client.create(probe.body, dry_run=True)
        elif probe.verb == "patch":
            client.patch(probe.api_version, probe.kind, probe.name, probe.body,
                         namespace=probe.namespace, dry_run=True)
        elif probe.verb == "get":
            client.get(probe.api_version, probe.kind, probe.name, probe.namespace)
        elif probe.verb == "list":
            client.list(probe.api_version, probe.kind, probe.namespace)
        elif probe.verb == "delete":
            client.delete(probe.api_version, probe.kind, probe.name, probe.namespace,
                          dry_run=True)
        elif probe.verb == "review":
            answer = client.request("POST", REVIEWS, {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": dict(probe.review)}})
            status = answer.get("status", {})
            if not status.get("allowed"):
                return Outcome(False, "rbac", status.get("reason") or "not allowed")
        elif probe.verb == "impersonate":
            client.request("GET", "/api/v1/namespaces", headers={
                "Impersonate-User": "system:admin"})
    except ApiError as exc:
        return Outcome(False, _classify(exc), exc.message)
    return Outcome(True, "", "")


def _merged(live: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch applied to ``live`` (RFC 7386), as the API server applies it."""
    out = copy.deepcopy(dict(live))
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def guard_request(probe: Probe, admin: Client, request_type: Callable[..., Any]) -> Any | None:
    """The admission request the guard sees for ``probe`` (as ``tests/admission.Request``), or
    None for a request no ValidatingAdmissionPolicy judges (reads, deletes, reviews)."""
    if probe.verb not in ("create", "patch"):
        return None
    group, _, version = probe.api_version.rpartition("/")
    resource = admin.resource(probe.api_version, probe.kind)
    if probe.verb == "create":
        obj: dict[str, Any] = json.loads(json.dumps(probe.body))
        namespace = obj["metadata"].get("namespace", "")
        return request_type("CREATE", group, resource.plural, DEPLOYER, namespace=namespace,
                            object=obj, version=version)
    live = admin.get(probe.api_version, probe.kind, probe.name, probe.namespace)
    return request_type("UPDATE", group, resource.plural, DEPLOYER,
                        namespace=probe.namespace or "", object=_merged(live, probe.body),
                        old_object=live, version=version)
