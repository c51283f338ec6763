"""The ingress controller: Traefik, installed from its Helm chart.

ingress-nginx was retired upstream in March 2026; Traefik serves standard ``Ingress`` objects
through its ``kubernetesIngress`` provider and an ``IngressClass`` of its own
(https://doc.traefik.io/traefik/reference/install-configuration/providers/kubernetes/kubernetes-ingress/).
A cluster that brings its own controller sets ``binder:ingress.controller: none``; then this
component is not created and the Ingresses just name ``binder:ingress.className``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.core.v1 import Service

from components.catalog import charts
from components.config.releases import IngressConfig
from components.network.plan import PROXY_PROTOCOL_VALUE, NetworkPlan
from components.releases import helm


@dataclass(frozen=True, kw_only=True)
class IngressControllerArgs(helm.ReleasePlacement):
    """Inputs of :class:`IngressController`; where the release goes is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    config: IngressConfig
    """``binder:ingress``: the controller and the IngressClass name."""
    redirect_to_https: bool
    """Redirect plain HTTP to HTTPS (on when the stack has TLS)."""
    network: NetworkPlan | None = None
    """The entry point's plan: traffic policy, PROXY protocol. None: the chart's defaults
    and ``config.load_balancer_ip``."""
    load_balancer_ip: pulumi.Input[str] | None = None
    """The address the stack reserved (:class:`components.network.address.IngressAddress`)."""
    namespace: str = "ingress"
    """Namespace of the release."""


class IngressController(pulumi.ComponentResource):
    """Traefik as the cluster's ingress controller, with a LoadBalancer Service."""

    release: pulumi.CustomResource
    external_address: pulumi.Output[str | None]
    """IP or hostname of the controller's LoadBalancer, once the cloud has assigned one."""

    def __init__(
        self, name: str, args: IngressControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:ingress:IngressController", name, None, opts)
        self.release = args.helm_release(
            f"{name}-release",
            charts.TRAEFIK,
            parent=self,
            computed=traefik_values(
                args.config,
                redirect_to_https=args.redirect_to_https,
                network=args.network,
                load_balancer_ip=args.load_balancer_ip,
            ),
            # A cloud load balancer (Octavia on OpenStack, a GCP forwarding rule) can take
            # several minutes to get its address; Helm waits for it (LoadBalancer Services
            # count as ready only with an address).
            timeout=600,
            # A half-installed controller serves nothing: roll back a failed upgrade to the
            # last working revision, and remove a failed first install.
            atomic=True,
            # atomic implies it; stated for readers: remove objects a failed upgrade created.
            cleanup_on_fail=True,
            # Wait, so that "ready" means the Service has its external address (exported).
            skip_await=False,
            holds_secrets=False,
        )
        # The chart names the Service after the release (release name contains "traefik").
        # Reading it back after the release is the pattern of the provider's docs
        # (https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/).
        # The ID comes from the release status, so during preview it is unknown and so is
        # the address: nothing is read from a cluster that does not exist yet.
        status: Any = self.release.status
        service = Service.get(
            f"{name}-service",
            pulumi.Output.concat(status.namespace, "/", status.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.external_address = service.status.apply(load_balancer_address)
        self.register_outputs({"external_address": self.external_address})


def traefik_values(
    config: IngressConfig,
    *,
    redirect_to_https: bool,
    network: NetworkPlan | None = None,
    load_balancer_ip: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """Layer 3 of the Traefik values: the IngressClass, the Service, HTTPS redirection."""
    computed: dict[str, Any] = {
        # An IngressClass of our name, handled by this Traefik; not the cluster default, so
        # Ingresses of other controllers are left alone.
        "ingressClass": {"enabled": True, "isDefaultClass": False, "name": config.class_name},
    }
    service: dict[str, Any] = {}
    address = load_balancer_ip or config.load_balancer_ip
    if address:
        # GKE and the OpenStack CCM both still honour spec.loadBalancerIP for a reserved
        # address (see components/network/address.py for the links).
        service.setdefault("spec", {})["loadBalancerIP"] = address
    if network is not None:
        # Why each provider gets its policy: components.network.plan.external_traffic_policy.
        policy = network.external_traffic_policy
        if policy:
            service.setdefault("spec", {})["externalTrafficPolicy"] = policy
        if network.provider == "magnum":
            annotations = {
                # Keep the floating IP if the Service goes, so DNS stays valid.
                "loadbalancer.openstack.org/keep-floatingip": "true",
            }
            if policy == "Local":
                # Octavia must only send to nodes that run Traefik: a health monitor on the
                # pool (components.network.plan.external_traffic_policy).
                annotations["loadbalancer.openstack.org/enable-health-monitor"] = "true"
            if network.proxy_protocol:
                # Octavia prepends the PROXY header carrying the client's address; the value
                # every OCCM version reads as PROXY v1 (PROXY_PROTOCOL_VALUE). In-cluster
                # clients that kube-proxy short-cuts to Traefik (cert-manager's HTTP-01
                # self-check) arrive without the header, which Traefik accepts: it never
                # requires one (below), so no `loadbalancer.openstack.org/hostname` detour
                # through Octavia is needed and the Service keeps its address.
                annotations["loadbalancer.openstack.org/proxy-protocol"] = PROXY_PROTOCOL_VALUE
            service["annotations"] = annotations
        if network.proxy_protocol:
            # Traefik uses the PROXY header's address only from these sources (the nodes'
            # subnet, where Octavia connects from) and ignores the header from any other;
            # a connection without a header is served with its own source address. Traefik's
            # listener policy (pkg/server/server_entrypoint_tcp.go,
            # buildProxyProtocolListener: USE if trusted, else IGNORE) and go-proxyproto's
            # policies (USE: the header's address if there is a header; only REQUIRE refuses
            # a connection without one).
            # https://github.com/traefik/traefik/blob/master/pkg/server/server_entrypoint_tcp.go
            # https://github.com/pires/go-proxyproto/blob/main/policy.go
            # Chart values ports.<name>.proxyProtocol.
            # https://doc.traefik.io/traefik/routing/entrypoints/#proxyprotocol
            trusted = {"proxyProtocol": {"trustedIPs": list(network.trusted_ips)}}
            computed["ports"] = {"web": dict(trusted), "websecure": dict(trusted)}
    if service:
        computed["service"] = service
    if redirect_to_https:
        # Let's Encrypt follows the redirect of an HTTP-01 challenge to HTTPS and does not
        # check the certificate there (https://letsencrypt.org/docs/challenge-types/).
        ports = computed.setdefault("ports", {})
        ports["web"] = {
            **ports.get("web", {}),
            "http": {
                "redirections": {
                    "entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}
                }
            },
        }
    return computed


def load_balancer_address(status: Any) -> str | None:
    """First IP (or hostname) of a Service's ``status.loadBalancer.ingress``."""
    if status is None:
        return None
    lb = _field(status, "load_balancer", "loadBalancer")
    ingress = _field(lb, "ingress", "ingress") or []
    for entry in ingress:
        address = _field(entry, "ip", "ip") or _field(entry, "hostname", "hostname")
        if address:
            return str(address)
    return None


def _field(obj: Any, attr: str, key: str) -> Any:
    """``obj``'s field: by its property on the SDK's typed outputs (a deploy hands those
    over; they are dicts too, but warn "Key 'loadBalancer' not found in ServiceStatus" on
    ``get`` -- as the real engine showed on every run), by its camelCase key on plain dicts
    (what the mock engine hands over)."""
    if obj is None:
        return None
    if isinstance(getattr(type(obj), attr, None), property):
        return getattr(obj, attr)
    if isinstance(obj, dict):
        return obj.get(key, obj.get(attr))
    return getattr(obj, attr, None)
