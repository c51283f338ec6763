"""Create the registry's cloud resources, when the target needs any, importing only their SDK."""

from __future__ import annotations

import pulumi

from components.config.cluster import ClusterBase
from components.registry.target import RegistryTarget


def create_registry(
    name: str,
    target: RegistryTarget | None,
    cluster: ClusterBase,
    after: pulumi.Resource,
    nodes: pulumi.Input[str] | None,
) -> pulumi.ComponentResource | None:
    """The Artifact Registry repository of ``binder:registry.type: artifactRegistry`` (after
    the cluster, whose Workload Identity pool its grants name); None for any other registry.
    ``nodes``: the IAM member the cluster's nodes pull as. Imports ``pulumi_gcp`` only then."""
    if target is None or target.artifact is None:
        return None
    if nodes is None:
        raise ValueError("an Artifact Registry needs the nodes' identity to grant them pulls")
    from components.registry.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs

    return ArtifactRegistry(
        name,
        ArtifactRegistryArgs(repository=target.artifact, nodes=nodes, protect=cluster.protect),
        pulumi.ResourceOptions(depends_on=[after]),
    )
