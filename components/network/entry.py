"""Wiring of the public entry point for ``__main__``: reserve the address, publish the names.

:func:`reserve_address` makes the :class:`~components.network.address.IngressAddress` when the
plan says the stack owns the address; :func:`publish_names` makes the DNS records
(``binder:dns``) or exports them as ``dns_records``, and exports where the names must resolve
(``public_address``, ``public_hosts``: ``make tls-production`` checks them).
"""

from __future__ import annotations

import pulumi

from components.network.address import IngressAddress, IngressAddressArgs
from components.network.dns import DnsRecords, DnsRecordsArgs, records_to_create
from components.network.plan import NetworkPlan


def reserve_address(name: str, plan: NetworkPlan, *, protect: bool) -> pulumi.Output[str] | None:
    """The address the stack reserved for Traefik's load balancer, or None."""
    if not plan.static_address:
        return None
    return IngressAddress(name, IngressAddressArgs(plan=plan, protect=protect)).address


def publish_names(
    name: str,
    plan: NetworkPlan,
    reserved: pulumi.Output[str] | None,
    ingress_address: pulumi.Output[str | None],
) -> None:
    """DNS records for the public hosts, or the ``dns_records`` output; and the outputs
    ``public_address`` and ``public_hosts``."""
    known: pulumi.Input[str] | None = reserved if reserved is not None else plan.load_balancer_ip
    public = known if known is not None else ingress_address
    pulumi.export("public_address", public)
    pulumi.export("public_hosts", list(plan.hosts))
    if plan.dns is not None and known is not None:
        DnsRecords(name, DnsRecordsArgs(plan=plan, address=known))
    else:
        pulumi.export("dns_records", records_to_create(plan.hosts, public))
