"""A GKE cluster with a ``core`` and a ``user`` node pool (the ``gcp`` stack).

The default node pool is removed and two managed pools are created, as z2jh recommends for
a public hub: hub, proxy and BinderHub on ``core``; user pods on ``user``, which carries the
taint user pods tolerate.
https://z2jh.jupyter.org/en/stable/administrator/optimization.html#using-a-dedicated-node-pool-for-users
https://www.pulumi.com/registry/packages/gcp/api-docs/container/cluster/
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import yaml

from components.cluster.base import KubernetesCluster, merge_labels
from components.cluster.cost import cost_labels, pool_labels
from components.config.cluster import (
    NODE_PURPOSE_LABEL,
    USER_TAINT_KEY,
    USER_TAINT_VALUE,
    GkeCluster,
    GkeMaintenanceWindow,
    GkeNodePool,
    Taint,
)

#: The scope of the nodes: everything, limited by the node account's IAM roles (Google's
#: recommendation for a custom node service account).
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: Project roles of the node service account the program creates: GKE's least-privilege
#: node role (logging, monitoring, metrics). Pulling from the stack's Artifact Registry
#: repository is granted on the repository itself (components/registry/artifact_registry.py).
#: https://cloud.google.com/kubernetes-engine/docs/how-to/service-accounts#default-gke-service-agent
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)

#: GKE spells taint effects in its API's enum style.
_GKE_EFFECT = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}

#: kubectl >= 1.26 authenticates to GKE only through this exec plugin; no static token is
#: ever written into the kubeconfig.
#: https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


def gcp_region(location: str) -> str:
    """The region of a GKE location: ``europe-west1-b`` -> ``europe-west1``."""
    if re.fullmatch(r"[a-z]+-[a-z]+\d+-[a-z]", location):
        return location.rsplit("-", 1)[0]
    return location


def gke_kubeconfig(context: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates through ``gke-gcloud-auth-plugin``."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": f"https://{endpoint}",
                    "certificate-authority-data": ca_data,
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "users": [
            {
                "name": context,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": AUTH_PLUGIN,
                        "installHint": AUTH_PLUGIN_HINT,
                        "provideClusterInfo": True,
                        "interactiveMode": "IfAvailable",
                    }
                },
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class GkeKubernetesClusterArgs:
    """Inputs of :class:`GkeKubernetesCluster`."""

    config: GkeCluster
    """The validated ``binder:cluster`` settings (``provider: gke``)."""
    project: str
    """GCP project ID (``gcp:project``)."""
    location: str
    """Region (regional cluster) or zone (zonal cluster)."""


class GkeKubernetesCluster(KubernetesCluster):
    """A GKE cluster without its default pool, plus the ``core`` and ``user`` pools."""

    def __init__(
        self, name: str, args: GkeKubernetesClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:cluster_gke:GkeKubernetesCluster", name, None, opts)
        cfg = args.config
        net = cfg.network
        protected = pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        self.node_service_account = self._node_identity(name, args)
        # What Google Cloud bills by (components/cluster/cost.py).
        self.labels = cost_labels(pulumi.get_stack(), cfg.name, cfg.resource_labels)

        private = (
            gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                # The API server stays reachable from CI; restrict it with
                # masterAuthorizedNetworks instead.
                enable_private_endpoint=False,
                master_ipv4_cidr_block=net.master_ipv4_cidr_block,
            )
            if net.private_nodes
            else None
        )
        ip_policy = (
            gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=net.pods_secondary_range,
                services_secondary_range_name=net.services_secondary_range,
            )
            if net.pods_secondary_range or net.services_secondary_range
            else gcp.container.ClusterIpAllocationPolicyArgs()  # VPC-native, auto ranges
        )
        authorized = (
            gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=f"authorized-{i}"
                    )
                    for i, cidr in enumerate(net.master_authorized_networks)
                ]
            )
            if net.master_authorized_networks
            else None
        )

        # A cluster needs a node pool to be created; GKE makes a default one, which we
        # delete at once so that every pool is managed here with its labels and taints.
        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=cfg.name,
            project=args.project,
            location=args.location,
            remove_default_node_pool=True,
            initial_node_count=1,
            # The default pool lives only until the cluster exists, but runs as the same
            # account: the Compute Engine default one may be disabled in the organisation
            # (hashicorp/terraform-provider-google#2115). A cluster's node_config diffs after
            # the default pool is gone (#12070): ignore_changes below keeps it from ever
            # replacing the cluster.
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=self.node_service_account,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
            ),
            min_master_version=cfg.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=cfg.release_channel),
            workload_identity_config=(
                gcp.container.ClusterWorkloadIdentityConfigArgs(
                    workload_pool=f"{args.project}.svc.id.goog"
                )
                if cfg.workload_identity
                else None
            ),
            network=net.network,
            subnetwork=net.subnetwork,
            networking_mode="VPC_NATIVE",
            # Dataplane V2 enforces NetworkPolicies itself (no Calico add-on, which must then
            # stay off). Without it z2jh's NetworkPolicies are accepted and do nothing.
            # https://www.pulumi.com/registry/packages/gcp/api-docs/container/cluster/#datapathprovider_python
            datapath_provider="ADVANCED_DATAPATH" if cfg.dataplane_v2 else None,
            ip_allocation_policy=ip_policy,
            private_cluster_config=private,
            master_authorized_networks_config=authorized,
            authenticator_groups_config=(
                gcp.container.ClusterAuthenticatorGroupsConfigArgs(
                    security_group=cfg.security_group
                )
                if cfg.security_group
                else None
            ),
            deletion_protection=(
                cfg.protect if cfg.deletion_protection is None else cfg.deletion_protection
            ),
            resource_labels=self.labels,
            cost_management_config=gcp.container.ClusterCostManagementConfigArgs(
                enabled=cfg.cost_allocation
            ),
            # Upgrades (and the node drains they bring) only in the stack's weekly window.
            # https://www.pulumi.com/registry/packages/gcp/api-docs/container/cluster/#recurring_window_python
            maintenance_policy=_maintenance_policy(cfg.maintenance_window),
            opts=pulumi.ResourceOptions.merge(
                protected,
                # The default pool's settings only matter at creation (it is deleted at
                # once). min_master_version is a floor: the release channel upgrades past
                # it, and raising kubernetesVersion asks GKE for an upgrade.
                pulumi.ResourceOptions(ignore_changes=["node_config", "initial_node_count"]),
            ),
        )

        self.nat: gcp.compute.RouterNat | None = None
        if net.private_nodes and net.cloud_nat:
            self._cloud_nat(name, args, protected)

        self.core_pool = self._pool(name, "core", cfg.core_pool, args, protected)
        self.user_pool = self._pool(
            name,
            "user",
            cfg.user_pool,
            args,
            protected,
            extra_taints=[Taint(key=USER_TAINT_KEY, value=USER_TAINT_VALUE)],
        )

        context = f"gke_{args.project}_{args.location}_{cfg.name}"
        ca_data = self.cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate or "")
        self._expose(
            name,
            cluster_name=self.cluster.name,
            endpoint=self.cluster.endpoint.apply(lambda host: f"https://{host}"),
            ca_data=ca_data,
            kubeconfig=pulumi.Output.all(self.cluster.endpoint, ca_data).apply(
                lambda parts: gke_kubeconfig(context, parts[0], parts[1])
            ),
            nodes=[self.core_pool, self.user_pool, *([self.nat] if self.nat else [])],
        )
        self.register_outputs(
            {
                **self._outputs(),
                "core_pool": self.core_pool.name,
                "user_pool": self.user_pool.name,
            }
        )

    def _node_identity(self, name: str, args: GkeKubernetesClusterArgs) -> pulumi.Output[str]:
        """The nodes' Google service account, by email: ``binder:cluster.nodeServiceAccount``,
        or one of the program's own with the least-privilege node role only (logging,
        monitoring, autoscaling metrics). The Compute Engine default account is never used:
        it usually holds Editor on the project, which any pod reaching the metadata server
        (or a node's credentials) would wield.
        https://cloud.google.com/kubernetes-engine/docs/how-to/service-accounts#node-service-accounts
        """
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        if cfg.node_service_account is not None:
            self.node_identity = pulumi.Output.from_input(
                f"serviceAccount:{cfg.node_service_account}")
            return pulumi.Output.from_input(cfg.node_service_account)
        account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            project=args.project,
            account_id=cfg.node_account_id,
            display_name=f"GKE nodes of {cfg.name} (BinderHub)",
            opts=child,
        )
        self.node_identity = account.email.apply(lambda email: f"serviceAccount:{email}")
        self.node_roles = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.rsplit('/', 1)[-1]}",
                project=args.project,
                role=role,
                member=self.node_identity,
                opts=child,
            )
            for role in NODE_ROLES
        ]
        return account.email

    def _cloud_nat(
        self, name: str, args: GkeKubernetesClusterArgs, protected: pulumi.ResourceOptions
    ) -> None:
        """Private nodes have no public IPs: without NAT they can pull no public image and
        BinderHub can fetch no repository.
        https://cloud.google.com/kubernetes-engine/docs/how-to/private-clusters#private-nodes-outbound
        """
        region = gcp_region(args.location)
        self.router = gcp.compute.Router(
            f"{name}-router",
            name=f"{args.config.name}-router",
            project=args.project,
            region=region,
            network=args.config.network.network,
            opts=protected,
        )
        self.nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{args.config.name}-nat",
            project=args.project,
            region=region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=protected,
        )

    def _pool(
        self,
        name: str,
        purpose: str,
        pool: GkeNodePool,
        args: GkeKubernetesClusterArgs,
        protected: pulumi.ResourceOptions,
        extra_taints: list[Taint] | None = None,
    ) -> gcp.container.NodePool:
        taints = [*(extra_taints or []), *pool.taints]
        bounds = pool.autoscaling
        return gcp.container.NodePool(
            f"{name}-{purpose}",
            name=purpose,
            project=args.project,
            location=args.location,
            cluster=self.cluster.name,
            # Totals across the pool's zones, which is what "min/max nodes" means to a
            # reader; the per-zone fields would multiply by the zone count.
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=bounds.min_nodes,
                total_max_node_count=bounds.max_nodes,
                location_policy="BALANCED",
            ),
            initial_node_count=1 if bounds.min_nodes > 0 else 0,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # Surge upgrades: a new node is up before an old one is drained (by default).
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE",
                max_surge=pool.upgrade.max_surge,
                max_unavailable=pool.upgrade.max_unavailable,
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.machine_type,
                disk_size_gb=pool.disk_size_gb,
                disk_type=pool.disk_type,
                spot=pool.spot,
                labels=merge_labels(pool.labels, {NODE_PURPOSE_LABEL: purpose}),
                resource_labels=pool_labels(self.labels, purpose),
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(
                        key=t.key, value=t.value, effect=_GKE_EFFECT[t.effect]
                    )
                    for t in taints
                ],
                # Google's advice: the broad scope, with the account's IAM roles deciding.
                service_account=self.node_service_account,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                # Pods reach Google APIs as their Kubernetes service account, not the node's.
                workload_metadata_config=(
                    gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA")
                    if args.config.workload_identity
                    else None
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                protected,
                # The cluster autoscaler owns the node count.
                pulumi.ResourceOptions(ignore_changes=["node_count", "initial_node_count"]),
            ),
        )


def _maintenance_policy(
    window: GkeMaintenanceWindow | None,
) -> gcp.container.ClusterMaintenancePolicyArgs | None:
    if window is None:
        return None
    start, end = window.times()
    return gcp.container.ClusterMaintenancePolicyArgs(
        recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
            start_time=start, end_time=end, recurrence=window.recurrence
        )
    )
