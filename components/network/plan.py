"""The public entry point's part of the plan: its address, how client IPs survive, and DNS.

:func:`plan_network` decides, per cluster provider and before any resource:

* whether the program owns the public address (a regional static IP on GKE, a floating IP on
  OpenStack) and gives it to Traefik's LoadBalancer Service, so it survives the Service's
  re-creation and DNS stays valid;
* how the client's address reaches Traefik: on OpenStack, Octavia's PROXY protocol (Traefik
  trusting only the nodes' subnet); elsewhere the load balancer keeps the source address;
* the Service's ``externalTrafficPolicy`` (see :func:`external_traffic_policy`);
* the A records of the public hosts, in Cloud DNS or Designate (``binder:dns``), or listed
  in the ``dns_records`` output for someone to create by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.cluster.kubeconfig import ClusterInputs
from components.config.base import ConfigError
from components.config.cluster import GkeCluster, MagnumCluster
from components.config.releases import DnsConfig
from components.config.stack import StackConfig

#: cloud-provider-openstack: "proxy-protocol ... Not supported when lb-provider=ovn".
#: https://github.com/kubernetes/cloud-provider-openstack/blob/master/docs/openstack-cloud-controller-manager/expose-applications-using-loadbalancer-type-service.md#service-annotations
OVN = "ovn"


@dataclass(frozen=True)
class NetworkPlan:
    """The public entry point, decided."""

    provider: Literal["magnum", "gke", "existing"]
    static_address: bool
    """The program reserves the address (:class:`components.network.address.IngressAddress`)."""
    load_balancer_ip: str | None
    """An address reserved outside the stack, given as is."""
    proxy_protocol: bool
    trusted_ips: tuple[str, ...]
    """Where Traefik accepts the PROXY header from (with ``proxy_protocol``)."""
    external_traffic_policy: Literal["Local", "Cluster"] | None
    """None: left to the values files (existing clusters: the site's load balancer)."""
    hosts: tuple[str, ...]
    """The public hostnames: BinderHub, its hub, Grafana (if it has one)."""
    dns: DnsConfig | None
    """Manage A records for ``hosts`` in this zone."""
    cluster_name: str
    gcp_project: str | None = None
    gcp_region: str | None = None
    external_network: str | None = None
    """OpenStack: the external network (pool) the floating IP comes from."""


#: The ``loadbalancer.openstack.org/proxy-protocol`` value: ``true``, which every OCCM reads as
#: PROXY v1 -- as a boolean before chart 2.31.0 (``getBoolFromServiceAnnotation``; ``v1``
#: there means "off"), and as ``PROXY`` since (``getProxyProtocolFromServiceAnnotation``:
#: ``true`` and ``v1`` alike). Which OCCM each capi-helm-charts version ships, and the values
#: it accepts: components/config/magnum_drivers.py ``CAPI_HELM_CHARTS``.
#: https://github.com/kubernetes/cloud-provider-openstack/blob/openstack-cloud-controller-manager-2.36.0/pkg/openstack/loadbalancer.go#L481-L492
PROXY_PROTOCOL_VALUE = "true"


def external_traffic_policy(
    provider: str, proxy_protocol: bool
) -> Literal["Local", "Cluster"] | None:
    """The Service's ``externalTrafficPolicy``, chosen per provider.

    * GKE: ``Local``. GCP's external passthrough load balancer delivers packets with the
      client's source address, and ``Local`` keeps it by not forwarding between nodes (and
      health-checks only nodes that run Traefik).
      https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters#externalTrafficPolicy
    * OpenStack: ``Local``, with a health monitor on the Octavia pool (the Service asks for
      one, ``loadbalancer.openstack.org/enable-health-monitor``: "A health monitor is
      required for services with externalTrafficPolicy: Local", cloud-provider-openstack's
      LoadBalancer docs; magnum-capi-helm also turns ``create-monitor`` on by default, label
      ``octavia_lb_healthcheck``). Octavia then only sends to nodes that run Traefik and
      kube-proxy does not forward: Traefik sees Octavia's own address, in the nodes' subnet
      it trusts, and reads the client's address from the PROXY header. With ``Cluster``,
      kube-proxy would forward to Traefik on another node with the source rewritten to that
      node's Calico VXLAN tunnel address, from the pods' range (172.16.0.0/13 in
      capi-helm-charts): outside the trusted subnet, so Traefik would ignore the header and
      log the tunnel address. (With OVN, which keeps the client's address, ``Local`` keeps
      it as on GKE.)
    * Existing clusters: ``None``, left to the values files (``base/traefik.yaml`` says
      ``Local``; ``local/traefik.yaml`` says ``Cluster`` for kind/k3d load balancers).
    """
    if provider == "existing":
        return None
    return "Local"


def _gcp_region(location: str) -> str:
    # europe-west1-b -> europe-west1 (a zonal cluster's region); a region stays as is.
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) == 3 and len(parts[2]) == 1 else location


def plan_network(cfg: StackConfig, cluster: ClusterInputs) -> NetworkPlan:
    """The entry point's plan, or one ConfigError naming every problem."""
    ingress = cfg.ingress
    provider = cfg.cluster.provider
    problems: list[str] = []
    has_controller = ingress.controller != "none"

    static = ingress.static_address
    if static is None:
        static = has_controller and provider != "existing" and not ingress.load_balancer_ip
    if static and provider == "existing":
        problems.append(
            "binder:ingress.staticAddress: an existing cluster's load balancer is not this "
            "stack's to reserve; reserve the address with the site and set loadBalancerIp"
        )
    if static and ingress.load_balancer_ip:
        problems.append(
            "binder:ingress.staticAddress and loadBalancerIp both give the address; keep one "
            "(staticAddress: the stack reserves it; loadBalancerIp: reserved elsewhere)"
        )
    if static and not has_controller:
        problems.append(
            "binder:ingress.staticAddress: the address is given to our Traefik, but "
            "controller is 'none'; remove staticAddress"
        )

    octavia = None
    if isinstance(cfg.cluster, MagnumCluster):
        octavia = cfg.cluster.template.labels.get("octavia_provider", "amphora")
    proxy = ingress.proxy_protocol
    if proxy is None:
        proxy = has_controller and provider == "magnum" and octavia != OVN
    if proxy and provider != "magnum":
        problems.append(
            "binder:ingress.proxyProtocol: only OpenStack's Octavia sends it here; on "
            f"'{provider}' the load balancer keeps the client's address: remove it"
        )
    if proxy and octavia == OVN:
        problems.append(
            "binder:ingress.proxyProtocol: the Octavia 'ovn' provider (octavia_provider label) "
            "cannot send the PROXY protocol; remove proxyProtocol (OVN keeps the client's "
            "address) or use the amphora provider"
        )
    trusted: tuple[str, ...] = ()
    if ingress.trusted_ips is not None and not proxy:
        problems.append(
            "binder:ingress.trustedIps: only used with the PROXY protocol; remove it"
        )
    elif proxy:
        node_cidr = cfg.cluster.node_cidr if isinstance(cfg.cluster, MagnumCluster) else None
        trusted = tuple(ingress.trusted_ips or ([node_cidr] if node_cidr else []))
        if not trusted:
            problems.append(
                "binder:ingress.trustedIps: the nodes' subnet is unknown; set it (Octavia "
                "connects to Traefik from there)"
            )

    hosts: list[str] = []
    if cfg.binderhub is not None:
        hosts = [cfg.binderhub.host, cfg.binderhub.hub_host]
    if cfg.monitoring.enabled and cfg.monitoring.grafana_host:
        hosts.append(cfg.monitoring.grafana_host)
    dns = cfg.dns
    if dns is not None:
        if provider == "existing":
            problems.append(
                "binder:dns: records are made in Cloud DNS (gke) or Designate (magnum); an "
                "existing cluster has neither here: remove binder:dns and create the records "
                "listed in the dns_records output"
            )
        if not has_controller:
            problems.append(
                "binder:dns: the records point at our Traefik's address, but "
                "binder:ingress.controller is 'none'; remove binder:dns"
            )
        if not (static or ingress.load_balancer_ip):
            problems.append(
                "binder:dns: the records need an address known before the load balancer "
                "exists; keep staticAddress on, or set loadBalancerIp"
            )
        outside = [h for h in hosts if not (h == dns.domain or h.endswith(f".{dns.domain}"))]
        if outside:
            problems.append(
                f"binder:dns.domain '{dns.domain}': {', '.join(outside)} "
                + ("is" if len(outside) == 1 else "are")
                + " not in it; use the zone that holds every public host"
            )
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ConfigError("Invalid network configuration:\n" + lines)

    magnum = cfg.cluster if isinstance(cfg.cluster, MagnumCluster) else None
    return NetworkPlan(
        provider=provider,
        static_address=bool(static),
        load_balancer_ip=ingress.load_balancer_ip,
        proxy_protocol=bool(proxy),
        trusted_ips=trusted,
        external_traffic_policy=external_traffic_policy(provider, bool(proxy)),
        hosts=tuple(hosts),
        dns=dns,
        cluster_name=cfg.cluster.name,
        gcp_project=cluster.gcp_project if isinstance(cfg.cluster, GkeCluster) else None,
        gcp_region=(
            _gcp_region(cluster.gcp_location)
            if isinstance(cfg.cluster, GkeCluster) and cluster.gcp_location
            else None
        ),
        external_network=magnum.template.external_network if magnum else None,
    )
