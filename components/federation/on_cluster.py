"""The front door as a Deployment on one member's cluster (``frontDoor.platform:
memberCluster``), behind that member's ingress controller and certificates.

Reached with the member stack's own ``kubeconfig`` output (a secret, read through its
StackReference), so the federation stack needs no credential of its own. Objects, all in a
namespace of their own at Pod Security ``restricted``: the redirector's configuration
(ConfigMap), the Deployment (the image by digest, non-root, read-only root file system, no
capabilities; spread over nodes; a checksum of the configuration in the pod template so that
a change rolls the pods), a PodDisruptionBudget, a Service that the member's Prometheus
scrapes (``prometheus.io/scrape``, the prometheus chart's ``kubernetes-service-endpoints``
job), a NetworkPolicy that admits only the ingress controller and Prometheus, and the
Ingress for the front door's host with the member's certificate source.

The trade-off (docs/federation.md, "Where the front door runs"): when that cluster is down,
so is the front door, whatever the other members' health.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.access.objects import MANAGED_BY, meta
from components.catalog.charts import NAMESPACES
from components.config.access import POD_SECURITY_LABEL_PREFIX
from components.config.federation import MemberClusterFrontDoor
from components.federation.plan import FederationPlan

PORT = 8080
CONFIG_PATH = "/etc/federation/config.json"
RESTRICTED = {f"{POD_SECURITY_LABEL_PREFIX}{mode}{suffix}": value
              for mode in ("enforce", "warn", "audit")
              for suffix, value in (("", "restricted"), ("-version", "latest"))}
APP_LABELS = {"app.kubernetes.io/name": "federation-redirector",
              "app.kubernetes.io/component": "front-door"}


@dataclass(frozen=True)
class ClusterFrontDoorArgs:
    """Inputs of :class:`ClusterFrontDoor`."""

    plan: FederationPlan
    document: pulumi.Input[str]
    """The redirector's configuration (JSON)."""
    kubeconfig: pulumi.Input[str]
    """The hosting member's kubeconfig (a secret Output of its stack)."""
    hosting: pulumi.Input[dict[str, Any]]
    """The hosting member's ``front_door_hosting`` output: ingress class and TLS."""


def deployment_spec(plan: FederationPlan, document: str) -> Any:
    """The Deployment's spec (a plain dict: the tests read it as the API server would)."""
    cfg = plan.config
    door = cfg.front_door
    assert isinstance(door, MemberClusterFrontDoor)  # noqa: S101 (the caller's choice)
    checksum = hashlib.sha256(document.encode()).hexdigest()
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10,
             "timeoutSeconds": 3}
    return {
        "replicas": door.replicas,
        "selector": {"matchLabels": APP_LABELS},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": APP_LABELS,
                         "annotations": {"binder.federation/config-sha256": checksum}},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                    "runAsGroup": 65534,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                # One replica per node where the cluster has several.
                "topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": APP_LABELS}}],
                "containers": [{
                    "name": "redirector",
                    "image": cfg.image,
                    "args": ["--config", CONFIG_PATH, "--port", str(PORT)],
                    "ports": [{"name": "http", "containerPort": PORT}],
                    "readinessProbe": probe,
                    "livenessProbe": {**probe, "failureThreshold": 6},
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                  "limits": {"memory": "256Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/federation",
                                      "readOnly": True}],
                }],
                "volumes": [{"name": "config",
                             "configMap": {"name": "federation-redirector"}}],
            },
        },
    }


def ingress_spec(plan: FederationPlan, hosting: dict[str, Any]) -> Any:
    cfg = plan.config
    spec: dict[str, Any] = {
        "ingressClassName": hosting.get("ingressClass") or "traefik",
        "rules": [{"host": cfg.host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "federation-redirector",
                                    "port": {"name": "http"}}}}]}}],
    }
    tls = hosting.get("tls") or {}
    if cfg.tls and tls.get("source") == "letsencrypt":
        spec["tls"] = [{"hosts": [cfg.host], "secretName": "federation-tls"}]
    elif cfg.tls and tls.get("source") == "institution":
        spec["tls"] = [{"hosts": [cfg.host], "secretName": "institution-tls"}]
    return spec


#: The Kubernetes provider's Ingress await waits for ``status.loadBalancer.ingress``, which
#: only an ingress controller that publishes its address fills in
#: (https://github.com/pulumi/pulumi-kubernetes/issues/1810, /1812): a hosting member whose
#: controller does not (``binder:ingress.controller: none`` with its own) would hang `up` for
#: ten minutes. The front door's readiness is the Deployment's and its /health, not that field.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


def ingress_annotations(plan: FederationPlan, hosting: dict[str, Any]) -> dict[str, str]:
    tls = hosting.get("tls") or {}
    if plan.config.tls and tls.get("source") == "letsencrypt" and tls.get("clusterIssuer"):
        return {**SKIP_AWAIT, "cert-manager.io/cluster-issuer": tls["clusterIssuer"]}
    return dict(SKIP_AWAIT)


def _disruption_budget() -> Any:
    return {"minAvailable": 1, "selector": {"matchLabels": APP_LABELS}}


def _service_spec() -> Any:
    return {"type": "ClusterIP", "selector": APP_LABELS,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}


def _network_policy_spec() -> Any:
    """Only the ingress controller (the public traffic) and Prometheus (/metrics) reach the
    pods; the redirector needs no other inbound traffic."""
    return {"podSelector": {"matchLabels": APP_LABELS}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": NAMESPACES[release]}}}
                for release in ("ingress", "monitoring")],
                "ports": [{"port": PORT, "protocol": "TCP"}]}]}


class ClusterFrontDoor(pulumi.ComponentResource):
    """The redirector on the hosting member's cluster."""

    namespace: k8s.core.v1.Namespace
    deployment: k8s.apps.v1.Deployment
    ingress: k8s.networking.v1.Ingress

    def __init__(self, name: str, args: ClusterFrontDoorArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("binder:federation:ClusterFrontDoor", name, None, opts)
        plan = args.plan
        door = plan.config.front_door
        assert isinstance(door, MemberClusterFrontDoor)  # noqa: S101 (the caller's choice)
        hosting = pulumi.Output.from_input(args.hosting).apply(lambda h: h or {})
        provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=pulumi.Output.secret(args.kubeconfig),
            enable_server_side_apply=True, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # Pod Security "restricted", at the latest version: the redirector's pod meets it
        # whole, and the hosting member's Kubernetes version is not this stack's to know.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=meta(door.namespace, labels=RESTRICTED), opts=child)

        ns = self.namespace.metadata.name
        in_ns = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
            depends_on=[self.namespace]))
        labels = {**APP_LABELS}
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=meta("federation-redirector", ns, labels=labels),
            data={"config.json": args.document}, opts=in_ns)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta("federation-redirector", ns, labels=labels),
            spec=pulumi.Output.from_input(args.document).apply(
                lambda document: deployment_spec(plan, document)),
            opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(
                depends_on=[config_map])))
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=meta("federation-redirector", ns, labels=labels),
            spec=_disruption_budget(), opts=in_ns)
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta("federation-redirector", ns, labels=labels, annotations={
                "prometheus.io/scrape": "true", "prometheus.io/port": str(PORT),
                "prometheus.io/path": "/metrics"}),
            spec=_service_spec(),
            opts=in_ns)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", metadata=meta("federation-redirector", ns, labels=labels),
            spec=_network_policy_spec(),
            opts=in_ns)
        self.ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="federation-redirector", namespace=ns,
                labels={**MANAGED_BY, **labels},
                annotations=hosting.apply(lambda h: ingress_annotations(plan, h))),
            spec=hosting.apply(lambda h: ingress_spec(plan, h)),
            opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(
                depends_on=[service])))
        self.register_outputs({"namespace": ns})
