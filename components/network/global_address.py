"""A global external static address (``gcp.compute.GlobalAddress``), for a global load
balancer: the federation's front door on Cloud Run (components/federation/cloud_run.py).

Global, not regional (:mod:`components.network.address`): Google's global external
Application Load Balancer takes a global address
(https://cloud.google.com/load-balancing/docs/https/setup-global-ext-https-serverless#ip-address;
https://www.pulumi.com/registry/packages/gcp/api-docs/compute/globaladdress/). Owned by the
stack, so the DNS record stays valid whatever happens to the load balancer.
"""

from __future__ import annotations

import pulumi


def global_address(name: str, *, address_name: str, project: str | None, description: str,
                   opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """Reserve the address; its IP (an Output)."""
    import pulumi_gcp as gcp

    address = gcp.compute.GlobalAddress(
        name, name=address_name, project=project, description=description,
        address_type="EXTERNAL", ip_version="IPV4", opts=opts)
    return address.address
