"""Create the cluster component of the configured provider, importing only its SDK."""

from __future__ import annotations

import pulumi

from components.cluster.base import KubernetesCluster
from components.cluster.kubeconfig import ClusterInputs
from components.config.cluster import (
    ClusterConfig,
    GkeCluster,
    MagnumCluster,
)


def create_cluster(
    name: str,
    cluster: ClusterConfig,
    inputs: ClusterInputs,
    opts: pulumi.ResourceOptions | None = None,
) -> KubernetesCluster:
    """Create the component for the configured provider; import only its SDK."""
    if isinstance(cluster, MagnumCluster):
        from components.cluster.magnum import (
            MagnumKubernetesCluster,
            MagnumKubernetesClusterArgs,
        )

        return MagnumKubernetesCluster(name, MagnumKubernetesClusterArgs(config=cluster), opts)
    if isinstance(cluster, GkeCluster):
        from components.cluster.gke import GkeKubernetesCluster, GkeKubernetesClusterArgs

        if not (inputs.gcp_project and inputs.gcp_location):
            raise ValueError("GKE needs gcp:project and a location: pass the plan's ClusterInputs")
        gke = GkeKubernetesCluster(
            name,
            GkeKubernetesClusterArgs(
                config=cluster, project=inputs.gcp_project, location=inputs.gcp_location
            ),
            opts,
        )
        if cluster.budget is not None:
            from components.cluster.cost import BillingBudget, BillingBudgetArgs

            BillingBudget(
                f"{name}-budget",
                BillingBudgetArgs(
                    config=cluster.budget,
                    project=inputs.gcp_project,
                    display_name=f"binder {cluster.name} (stack {pulumi.get_stack()})",
                ),
                opts,
            )
        return gke
    from components.cluster.existing import (
        ExistingKubernetesCluster,
        ExistingKubernetesClusterArgs,
    )

    if inputs.kubeconfig is None:
        raise ValueError("an existing cluster needs a kubeconfig: pass the plan's ClusterInputs")
    return ExistingKubernetesCluster(
        name, ExistingKubernetesClusterArgs(config=cluster, kubeconfig=inputs.kubeconfig), opts
    )
