"""A cluster someone else runs, given by kubeconfig (partner sites, a newcomer's own).

Nothing is created in the cloud: the component only checks the kubeconfig and builds the
Kubernetes provider from it. The kubeconfig is a secret from end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cluster import KubernetesCluster, kubeconfig_document
from components.config import ExistingCluster


@dataclass(frozen=True)
class ExistingClusterArgs:
    """Inputs of :class:`ExistingKubernetesCluster`."""

    config: ExistingCluster
    """The validated ``binder:cluster`` settings (``provider: existing``)."""
    kubeconfig: pulumi.Output[str]
    """The kubeconfig text, a secret (``binder:kubeconfig`` or the file it was read from)."""


class ExistingKubernetesCluster(KubernetesCluster):
    """Outputs and a provider for a cluster that already exists."""

    def __init__(
        self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:cluster_existing:ExistingKubernetesCluster", name, None, opts)
        cfg = args.config
        # A file-based kubeconfig was checked before any resource was registered; one from
        # the secret binder:kubeconfig can only be read here, inside the secret Output.
        parsed = args.kubeconfig.apply(
            lambda text: kubeconfig_document(text, cfg.context, "binder:kubeconfig")
        )
        self._expose(
            name,
            cluster_name=cfg.name,
            endpoint=parsed.apply(lambda p: p[2]),
            ca_data=parsed.apply(lambda p: p[3]),
            kubeconfig=args.kubeconfig,
            context=cfg.context,
        )
        self.register_outputs(self._outputs())
