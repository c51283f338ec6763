"""A cluster someone else runs, given by kubeconfig (partner sites, a newcomer's own).

Nothing is created in the cloud: the component only checks the kubeconfig and builds the
Kubernetes provider from it. The kubeconfig is a secret from end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.cluster.base import KubernetesCluster
from components.cluster.kubeconfig import parse_kubeconfig
from components.config.cluster import ExistingCluster


@dataclass(frozen=True)
class ExistingKubernetesClusterArgs:
    """Inputs of :class:`ExistingKubernetesCluster`."""

    config: ExistingCluster
    """The validated ``binder:cluster`` settings (``provider: existing``)."""
    kubeconfig: pulumi.Output[str]
    """The kubeconfig text, a secret (``binder:kubeconfig``, or the file it was read from
    already reduced to the stack's context)."""


class ExistingKubernetesCluster(KubernetesCluster):
    """Outputs and a provider for a cluster that already exists."""

    def __init__(
        self,
        name: str,
        args: ExistingKubernetesClusterArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("binder:cluster_existing:ExistingKubernetesCluster", name, None, opts)
        cfg = args.config
        # The plan checked and reduced the kubeconfig (file or secret) before any resource;
        # parsing the reduced text again only derives the endpoint and CA, inside the secret.
        reduced = args.kubeconfig.apply(
            lambda text: parse_kubeconfig(text, cfg.context, "binder:kubeconfig", Path.cwd())
        )
        self._expose(
            name,
            cluster_name=cfg.name,
            endpoint=reduced.apply(lambda k: k.server),
            ca_data=reduced.apply(lambda k: k.ca_data),
            # Reduced to one context whose name is current-context: the provider needs no
            # context setting, and the exported kubeconfig selects the same cluster.
            kubeconfig=reduced.apply(lambda k: k.text),
        )
        self.register_outputs(self._outputs())
