"""A Kubernetes cluster on OpenStack Magnum (the ``ebi`` stack).

Replaces the ``openstack coe cluster template create`` / ``cluster create`` calls of the old
Makefile. Credentials and region come from the provider's own config (``openstack:cloud``
naming a clouds.yaml entry, or ``openstack:authUrl`` and friends).

Magnum fixes most cluster settings at creation: in the provider, changing the template,
flavors, counts of masters or labels of a Cluster (or the labels, flavor or role of a
NodeGroup) *replaces* it. The cluster is protected by default, so such a change stops at
``pulumi preview`` instead of rebuilding it; docs/operations.md says how to change them
(``openstack coe nodegroup update``, or a new cluster). What can change in place: worker
counts and the bounds of extra node groups.
Docs: https://docs.openstack.org/magnum/latest/user/ and
https://www.pulumi.com/registry/packages/openstack/api-docs/containerinfra/cluster/
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from components.cluster.base import KubernetesCluster, merge_labels
from components.config.cluster import Autoscaling, MagnumCluster

#: Label Magnum's Heat driver puts on every node of a node group: ``role`` of the group.
#: https://docs.openstack.org/magnum/latest/user/#node-groups
MAGNUM_ROLE_LABEL = "magnum.openstack.org/role"


def _autoscaling_labels(bounds: Autoscaling | None) -> dict[str, str]:
    # The default worker group gets its autoscaler bounds from these cluster labels, read at
    # creation. https://docs.openstack.org/magnum/latest/user/#auto-scaling
    if bounds is None:
        return {}
    return {
        "auto_scaling_enabled": "true",
        "min_node_count": str(bounds.min_nodes),
        "max_node_count": str(bounds.max_nodes),
    }


@dataclass(frozen=True)
class MagnumKubernetesClusterArgs:
    """Inputs of :class:`MagnumKubernetesCluster`."""

    config: MagnumCluster
    """The validated ``binder:cluster`` settings (``provider: magnum``)."""


class MagnumKubernetesCluster(KubernetesCluster):
    """A ClusterTemplate, a Cluster and its extra NodeGroups; the kubeconfig is Magnum's."""

    def __init__(
        self,
        name: str,
        args: MagnumKubernetesClusterArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("binder:cluster_magnum:MagnumKubernetesCluster", name, None, opts)
        cfg = args.config
        tpl = cfg.template
        protected = pulumi.ResourceOptions(parent=self, protect=cfg.protect)

        self.template = openstack.containerinfra.ClusterTemplate(
            f"{name}-template",
            name=f"{cfg.name}-template",
            coe="kubernetes",
            server_type="vm",
            image=tpl.image,
            master_flavor=tpl.master_flavor,
            flavor=tpl.flavor,
            external_network_id=tpl.external_network,
            keypair_id=tpl.keypair,
            docker_volume_size=tpl.docker_volume_size,
            # Heat-era field; the Cluster API drivers have no Docker volume.
            docker_storage_driver="overlay2" if cfg.driver == "heat" else None,
            network_driver=tpl.network_driver,
            volume_driver=tpl.volume_driver,
            dns_nameserver=tpl.dns_nameserver,
            master_lb_enabled=tpl.master_lb_enabled,
            floating_ip_enabled=tpl.floating_ip_enabled,
            labels=tpl.labels,
            opts=protected,
        )

        # The autoscaler owns the worker count between its bounds: a `pulumi up` must not
        # fight it back to the configured count.
        # https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/
        self.cluster = openstack.containerinfra.Cluster(
            f"{name}-cluster",
            name=cfg.name,
            cluster_template_id=self.template.id,
            master_count=cfg.master_count,
            node_count=cfg.node_count,
            keypair=tpl.keypair,
            create_timeout=cfg.create_timeout,
            floating_ip_enabled=cfg.floating_ip_enabled,
            # Cluster labels are merged onto the template's, so the template stays reusable.
            merge_labels=True,
            labels=merge_labels(_autoscaling_labels(cfg.autoscaling)),
            opts=pulumi.ResourceOptions.merge(
                protected,
                pulumi.ResourceOptions(
                    # create_timeout only matters while creating, yet the provider would
                    # replace the cluster when it changes.
                    ignore_changes=["create_timeout", *(["node_count"] if cfg.autoscaling else [])],
                    custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.create_timeout}m"),
                ),
            ),
        )

        self.node_groups: dict[str, openstack.containerinfra.NodeGroup] = {}
        for group in cfg.node_groups:
            bounds = group.autoscaling
            self.node_groups[group.name] = openstack.containerinfra.NodeGroup(
                f"{name}-{group.name}",
                name=group.name,
                cluster_id=self.cluster.id,
                flavor_id=group.flavor or tpl.flavor,
                node_count=group.node_count,
                # Bounds as fields, not labels: these update in place, labels would replace
                # the group.
                min_node_count=bounds.min_nodes if bounds else None,
                max_node_count=bounds.max_nodes if bounds else None,
                docker_volume_size=group.docker_volume_size,
                # Nodes of the group carry `magnum.openstack.org/role=<role>`; the user
                # pool's role is "user", which is what user pods select on.
                role=group.purpose or group.name,
                merge_labels=True,
                labels=group.labels,
                opts=pulumi.ResourceOptions.merge(
                    protected,
                    pulumi.ResourceOptions(ignore_changes=["node_count"] if bounds else None),
                ),
            )

        kubeconfig = self.cluster.kubeconfig
        self._expose(
            name,
            cluster_name=self.cluster.name,
            endpoint=kubeconfig.apply(lambda k: k["host"]),
            ca_data=kubeconfig.apply(
                lambda k: base64.b64encode(k["cluster_ca_certificate"].encode()).decode()
            ),
            kubeconfig=kubeconfig.apply(lambda k: k["raw_config"]),
            # The cluster is ready with its default workers; extra groups come after it.
            nodes=list(self.node_groups.values()),
        )
        self.register_outputs(self._outputs())
