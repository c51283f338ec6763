"""A records of the public hosts, in the cloud's DNS service (``binder:dns``).

Let's Encrypt's HTTP-01 challenge fails until each name resolves to the ingress, so the
records are made with the address, before cert-manager asks for certificates.

* GKE stacks: Cloud DNS, in the managed zone ``binder:dns.zone`` of ``gcp:project``.
  https://www.pulumi.com/registry/packages/gcp/api-docs/dns/recordset/
* OpenStack stacks: Designate, in the zone whose ID is ``binder:dns.zone``.
  https://www.pulumi.com/registry/packages/openstack/api-docs/dns/recordset/

Without ``binder:dns`` the same records are the stack output ``dns_records``
(:func:`records_to_create`), for whoever runs the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.network.plan import NetworkPlan


def records_to_create(hosts: tuple[str, ...], address: pulumi.Input[str | None]) -> Any:
    """The A records to create by hand: ``[{name, type, value}]`` (an Output)."""
    return pulumi.Output.from_input(address).apply(
        lambda ip: [{"name": host, "type": "A", "value": ip} for host in hosts]
    )


@dataclass(frozen=True)
class DnsRecordsArgs:
    """Inputs of :class:`DnsRecords`."""

    plan: NetworkPlan
    """A plan with ``dns`` on a ``gke`` or ``magnum`` cluster."""
    address: pulumi.Input[str]
    """The ingress address the records point at."""


class DnsRecords(pulumi.ComponentResource):
    """One A record per public host."""

    records: dict[str, pulumi.CustomResource]

    def __init__(
        self, name: str, args: DnsRecordsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:network:DnsRecords", name, None, opts)
        plan, dns = args.plan, args.plan.dns
        if dns is None:
            raise ValueError("DnsRecords needs binder:dns: build it from the plan")
        child = pulumi.ResourceOptions(parent=self)
        self.records = {}
        for host in plan.hosts:
            label = host.replace(".", "-")
            fqdn = f"{host}."  # both services take absolute names, with the final dot
            if plan.provider == "gke":
                import pulumi_gcp as gcp

                self.records[host] = gcp.dns.RecordSet(
                    f"{name}-{label}",
                    managed_zone=dns.zone,
                    project=plan.gcp_project,
                    name=fqdn,
                    type="A",
                    ttl=dns.ttl,
                    rrdatas=[args.address],
                    opts=child,
                )
            else:
                import pulumi_openstack as openstack

                self.records[host] = openstack.dns.RecordSet(
                    f"{name}-{label}",
                    zone_id=dns.zone,
                    name=fqdn,
                    type="A",
                    ttl=dns.ttl,
                    records=[args.address],
                    opts=child,
                )
        self.register_outputs({"hosts": list(plan.hosts)})
