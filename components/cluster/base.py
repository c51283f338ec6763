"""The interface every cluster component implements.

Every cluster component -- Magnum, GKE or an existing cluster -- exposes the same outputs:
``name``, ``endpoint``, ``ca_data``, ``kubeconfig`` (a secret) and a ``kubernetes.Provider``
built from that kubeconfig, which the rest of the program uses. Cloud SDKs are imported only
for the stack that needs them (:mod:`components.cluster.create`): ``pulumi_gcp`` is large and
the ``ebi`` stack never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as kubernetes

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class KubernetesCluster(pulumi.ComponentResource):
    """Base of the cluster components: the outputs every provider exposes."""

    name: pulumi.Output[str]
    """The cluster's name."""
    endpoint: pulumi.Output[str]
    """The API server URL (``https://...``)."""
    ca_data: pulumi.Output[str]
    """The cluster CA, base64-encoded PEM, as in a kubeconfig's certificate-authority-data."""
    kubeconfig: pulumi.Output[str]
    """An admin kubeconfig. Always a secret."""
    provider: kubernetes.Provider
    """The Kubernetes provider every in-cluster resource uses."""
    node_identity: pulumi.Output[str] | None = None
    """The cloud identity the nodes pull images as, as an IAM member
    (``serviceAccount:<email>`` on GKE); None where the cloud has none of ours."""

    def _expose(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        endpoint: pulumi.Input[str],
        ca_data: pulumi.Input[str],
        kubeconfig: pulumi.Input[str],
        nodes: Sequence[pulumi.Resource] = (),
    ) -> None:
        """Set the common outputs and build the Kubernetes provider from the kubeconfig.

        ``nodes``: the node pools/groups (and what they need to pull images, such as NAT).
        The provider waits for them, so every in-cluster resource does: on GKE the default
        pool is deleted at creation, and Traefik, cert-manager and the user placeholders would
        otherwise wait on a cluster with no node until their Helm timeouts."""
        self.name = pulumi.Output.from_input(cluster_name)
        self.endpoint = pulumi.Output.from_input(endpoint)
        self.ca_data = pulumi.Output.from_input(ca_data)
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        self.provider = kubernetes.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Server-side apply lets the charts' own controllers co-own fields without fights.
            # https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(nodes)),
        )

    def _outputs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "ca_data": self.ca_data,
            "kubeconfig": self.kubeconfig,
        }


def merge_labels(*layers: Mapping[str, str] | None) -> dict[str, str]:
    """Later label maps win."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer or {})
    return merged
