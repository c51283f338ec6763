"""Wiring of the federation stack for ``__main__``: the members, the front door where the
configuration says, its DNS record, and the stack's outputs."""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.federation import CloudRunFrontDoor as CloudRunConfig
from components.config.federation import FrontDoorDns
from components.federation.member import export_membership
from components.federation.members import FederationMembers, FederationMembersArgs
from components.federation.plan import FederationPlan, build_federation_plan, is_federation_stack
from components.network.dns import DnsRecords, DnsRecordsArgs, records_to_create
from components.network.plan import NetworkPlan


def front_door_network(plan: FederationPlan, dns: FrontDoorDns) -> NetworkPlan:
    """The front door's host as a :class:`NetworkPlan` for :class:`DnsRecords` (Cloud DNS in
    ``gcp:project``, or Designate)."""
    from components.config.releases import DnsConfig

    host = plan.config.host
    return NetworkPlan(
        provider="gke" if dns.service == "cloudDns" else "magnum", static_address=True,
        load_balancer_ip=None, proxy_protocol=False, trusted_ips=(),
        external_traffic_policy=None, hosts=(host,),
        dns=DnsConfig(zone=dns.zone, domain=host, ttl=dns.ttl), cluster_name=plan.stack,
        gcp_project=plan.gcp_project or pulumi.Config("gcp").get("project"))


__all__ = ["deploy_federation", "export_membership", "is_federation_stack"]


def deploy_federation(plan: FederationPlan | None = None) -> None:
    """Register the federation stack: members, front door, DNS; export its outputs. Every
    configuration problem is raised by :func:`build_federation_plan`, before any resource."""
    plan = plan or build_federation_plan()
    cfg = plan.config
    members = FederationMembers("members", FederationMembersArgs(plan=plan))
    door = cfg.front_door
    address: pulumi.Output[Any]
    if isinstance(door, CloudRunConfig):
        from components.federation.cloud_run import CloudRunFrontDoor, CloudRunFrontDoorArgs

        address = CloudRunFrontDoor("front-door", CloudRunFrontDoorArgs(
            plan=plan, document=members.document)).address
    else:
        from components.federation.on_cluster import ClusterFrontDoor, ClusterFrontDoorArgs

        ClusterFrontDoor("front-door", ClusterFrontDoorArgs(
            plan=plan, document=members.document,
            kubeconfig=members.output(door.member, "kubeconfig"),
            hosting=members.output(door.member, "front_door_hosting")))
        # The hosting member's ingress address: the front door's host resolves to it.
        address = members.output(door.member, "ingress_address")
    if door.dns is not None:
        DnsRecords("dns", DnsRecordsArgs(plan=front_door_network(plan, door.dns),
                                         address=address))
    else:
        pulumi.export("dns_records", records_to_create((cfg.host,), address))
    pulumi.export("front_door_url", cfg.url)
    pulumi.export("public_address", address)
    pulumi.export("members", {m.name: {"url": members.urls[m.name], "weight": m.weight,
                                       "prime": m.prime, "enabled": m.enabled}
                              for m in cfg.members})
    pulumi.export("redirector_config", members.document)
