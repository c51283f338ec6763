"""The public address of the ingress, owned by the stack: it outlives the LoadBalancer Service.

A Service's load balancer gets a new address whenever the Service is re-created (a Traefik
chart upgrade that renames it, an uninstall), and DNS then points nowhere. So the stack
reserves the address itself and gives it to the Service (``spec.loadBalancerIP``):

* GKE: a regional external static IP in the cluster's region (GKE's external passthrough load
  balancers take a *regional* address).
  https://cloud.google.com/kubernetes-engine/docs/tutorials/configuring-domain-name-static-ip
  https://www.pulumi.com/registry/packages/gcp/api-docs/compute/address/
* OpenStack: a Neutron floating IP from the external network; the cloud controller manager
  gives an existing floating IP named in ``loadBalancerIP`` to the Octavia load balancer
  ("Creating Service by specifying a floating IP"), and keeps it when the Service goes
  (``loadbalancer.openstack.org/keep-floatingip``).
  https://github.com/kubernetes/cloud-provider-openstack/blob/master/docs/openstack-cloud-controller-manager/expose-applications-using-loadbalancer-type-service.md
  https://www.pulumi.com/registry/packages/openstack/api-docs/networking/floatingip/

Protected like the cluster, so ``pulumi destroy`` does not give the address back by accident.
Cloud SDKs are imported only for the provider in use.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.network.plan import NetworkPlan


class RegionalAddress(pulumi.CustomResource):
    """``gcp:compute/address:Address``, external and premium tier, registered exactly as
    ``pulumi_gcp.compute.Address`` registers it (same type token, inputs, provider version;
    tests/components/network/test_network.py compares the two), without importing
    ``pulumi_gcp.compute``: that package's ``__init__`` loads its ~290 modules, which cost the
    gcp stack about 1.3 s and 60 MB on every run for this one resource (``make bench``)."""

    address: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        address_name: str,
        project: str | None,
        region: str | None,
        description: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        from pulumi_gcp import _utilities

        props: dict[str, object] = {
            "address": None,  # GCP picks it; an output
            "addressType": "EXTERNAL",
            "description": description,
            "name": address_name,
            # Premium tier: the only one a regional passthrough LB of any region takes.
            "networkTier": "PREMIUM",
            "project": project,
            "region": region,
        }
        opts = pulumi.ResourceOptions.merge(_utilities.get_resource_opts_defaults(), opts)
        # As the SDK class: the label maps it computes are kept secret.
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(additional_secret_outputs=["effectiveLabels", "pulumiLabels"]),
        )
        super().__init__("gcp:compute/address:Address", resource_name, props, opts)


@dataclass(frozen=True)
class IngressAddressArgs:
    """Inputs of :class:`IngressAddress`."""

    plan: NetworkPlan
    """A plan with ``static_address`` on a ``gke`` or ``magnum`` cluster."""
    protect: bool
    """Protect the address as the cluster is (``binder:cluster.protect``)."""


class IngressAddress(pulumi.ComponentResource):
    """A static IP (GKE) or floating IP (OpenStack) for Traefik's load balancer."""

    address: pulumi.Output[str]
    resource: pulumi.CustomResource

    def __init__(
        self, name: str, args: IngressAddressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:network:IngressAddress", name, None, opts)
        plan = args.plan
        child = pulumi.ResourceOptions(parent=self, protect=args.protect)
        description = f"Public address of the {plan.cluster_name} BinderHub ingress (Pulumi)"
        if plan.provider == "gke":
            ip = RegionalAddress(
                f"{name}-ip",
                address_name=f"{plan.cluster_name}-ingress",
                project=plan.gcp_project,
                region=plan.gcp_region,
                description=description,
                opts=child,
            )
            self.resource, self.address = ip, ip.address
        elif plan.provider == "magnum":
            import pulumi_openstack as openstack

            fip = openstack.networking.FloatingIp(
                f"{name}-fip",
                pool=plan.external_network,
                description=description,
                opts=child,
            )
            self.resource, self.address = fip, fip.address
        else:
            raise ValueError("IngressAddress is for gke or magnum clusters: build it from the plan")
        self.register_outputs({"address": self.address})
