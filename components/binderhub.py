"""BinderHub and its JupyterHub, from the BinderHub Helm chart.

Modelled on public deployments (mybinder.org-deploy, the BioExcel Binder): BinderHub and its
hub each get a public hostname behind the ingress controller, with TLS; built images are
pushed to a registry (DockerHub by default); user pods run on the user node pool when the
cluster has one. Docs: https://binderhub.readthedocs.io/en/latest/zero-to-binderhub/ and
https://z2jh.jupyter.org/en/stable/resources/reference.html.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi

from components import charts, values
from components.config import (
    NODE_PURPOSE_LABEL,
    USER_TAINT_KEY,
    USER_TAINT_VALUE,
    BinderHubConfig,
    ClusterBase,
    ConfigError,
    RegistryConfig,
)
from components.ingress_tls import IngressTls, institution_tls_secret
from components.secrets import DeploymentSecrets

#: Hosts that mean DockerHub; there, images are named ``<account>/<name>`` without a host.
DOCKERHUB_HOSTS = frozenset(
    {"registry.hub.docker.com", "index.docker.io", "docker.io", "registry-1.docker.io"}
)


@dataclass(frozen=True)
class BinderHubArgs:
    """Inputs of :class:`BinderHub`."""

    stack: str
    """Stack name; selects ``helm_configs/<stack>/binderhub.yaml``."""
    binderhub: BinderHubConfig
    """``binder:binderhub``: public hosts, image builder, user pod resources."""
    registry: RegistryConfig
    """``binder:registry``: where built images are pushed."""
    cluster: ClusterBase
    """``binder:cluster``: tells whether (and how) user nodes are labelled and tainted."""
    secrets: DeploymentSecrets
    """Proxy token, binder->hub API token and registry credentials (secret Outputs)."""
    tls: IngressTls
    """Certificate source for the two Ingresses."""
    ingress_class: str
    """IngressClass of the two Ingresses (``binder:ingress.className``)."""
    prometheus_namespace: str | None = None
    """Namespace of the Prometheus that scrapes the hub, let through the hub's NetworkPolicy;
    None without monitoring."""
    namespace: str = "binder"
    """Namespace of the release."""
    namespace_resources: Sequence[pulumi.Resource] = ()
    """What the bootstrap makes of the namespace (the Namespace and its quota/limits); the
    release waits for all of it. Empty: Helm creates the namespace."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist first: the ingress controller's release and the ClusterIssuer.
    (Secrets from resources are waited for through their Outputs.)"""
    values_root: Path | None = None
    """``helm_configs`` directory; the repository's by default."""


class BinderHub(pulumi.ComponentResource):
    """The BinderHub release (BinderHub + JupyterHub) and, for an institution certificate,
    its TLS Secret."""

    release: pulumi.CustomResource
    binder_url: pulumi.Output[str]
    hub_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: BinderHubArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if args.tls.source == "institution" and args.secrets.tls is None:
            raise ConfigError(
                "binder:tls.source is 'institution' but no certificate was given; set "
                "binder:tlsCertificate and binder:tlsKey (or tls.certificate/tls.key in a "
                "secrets file)"
            )
        super().__init__("binder:binderhub:BinderHub", name, None, opts)
        depends: list[pulumi.Resource] = list(args.depends_on)
        depends.extend(args.namespace_resources)
        if args.tls.source == "institution" and args.secrets.tls is not None:
            depends.append(
                institution_tls_secret(
                    f"{name}-tls",
                    args.namespace,
                    args.secrets.tls,
                    pulumi.ResourceOptions(
                        parent=self,
                        depends_on=list(args.namespace_resources),
                    ),
                )
            )
        if args.secrets.registry is None:
            pulumi.log.warn(
                "No registry credentials (binder:registryUsername/registryPassword or "
                "registry.username/password in a secrets file): BinderHub will push to "
                f"{args.registry.url} anonymously, which only works for an open registry.",
                resource=self,
            )
        self.release = charts.helm_release(
            f"{name}-release",
            charts.BINDERHUB,
            namespace=args.namespace,
            values=values.release_values(
                charts.BINDERHUB.release,
                args.stack,
                computed=binderhub_values(args),
                secrets=binderhub_secret_values(args.secrets),
                root=args.values_root,
            ),
            create_namespace=not args.namespace_resources,
            # The hub, proxy, binder and the dind DaemonSet pull their images on first
            # install; on a fresh (autoscaled) node that takes minutes.
            timeout=900,
            # No automatic rollback: the hub upgrades its database on start, and rolling back
            # would start an older hub on the newer schema. A failed upgrade is left for a
            # human to read the hub's logs and roll forward.
            atomic=False,
            # ...but objects a failed upgrade created are removed, so a retry starts clean.
            cleanup_on_fail=True,
            # Wait: "up" only succeeds once hub, proxy and binder are ready.
            skip_await=False,
            holds_secrets=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.binder_url = pulumi.Output.from_input(args.tls.url(args.binderhub.host))
        self.hub_url = pulumi.Output.from_input(args.tls.url(args.binderhub.hub_host))
        self.register_outputs({"binder_url": self.binder_url, "hub_url": self.hub_url})


def registry_values(registry: RegistryConfig) -> tuple[dict[str, Any], str]:
    """``(registry values, image_prefix)`` for a registry URL and prefix.

    On DockerHub images are ``<account>/<name>`` and the chart's default registry URL is
    right; elsewhere the prefix starts with the registry host
    (https://binderhub.readthedocs.io/en/latest/zero-to-binderhub/setup-registry.html).
    """
    host = urlparse(registry.url).netloc
    if host in DOCKERHUB_HOSTS:
        return {}, registry.prefix
    prefix = (
        registry.prefix if registry.prefix.startswith(f"{host}/") else f"{host}/{registry.prefix}"
    )
    return {"url": registry.url}, prefix


def user_scheduling(cluster: ClusterBase) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(singleuser, scheduling)`` values placing user pods on the user pool, if any.

    https://z2jh.jupyter.org/en/stable/administrator/optimization.html#using-a-dedicated-node-pool-for-users
    """
    selector = cluster.user_node_selector
    singleuser: dict[str, Any] = {}
    user_pods: dict[str, Any] = {}
    if selector:
        singleuser["nodeSelector"] = dict(selector)
        if selector.get(NODE_PURPOSE_LABEL) == "user":
            # z2jh's own affinity on the same label, required rather than preferred.
            user_pods["nodeAffinity"] = {"matchNodePurpose": "require"}
    if cluster.user_nodes_tainted:
        user_pods["tolerations"] = [
            {
                "key": USER_TAINT_KEY,
                "operator": "Equal",
                "value": USER_TAINT_VALUE,
                "effect": "NoSchedule",
            }
        ]
    scheduling = {"userPods": user_pods} if user_pods else {}
    return singleuser, scheduling


def binderhub_values(args: BinderHubArgs) -> dict[str, Any]:
    """Layer 3 of the BinderHub values: hosts, ingress + TLS, registry, scheduling."""
    hub = args.binderhub
    registry, image_prefix = registry_values(args.registry)
    binderhub_config: dict[str, Any] = {
        "hub_url": args.tls.url(hub.hub_host),
        "use_registry": True,
        "image_prefix": image_prefix,
    }
    if hub.banner_message:
        binderhub_config["banner_message"] = hub.banner_message
    singleuser, scheduling = user_scheduling(args.cluster)
    singleuser["cpu"] = {
        "guarantee": hub.user_resources.cpu.guarantee,
        "limit": hub.user_resources.cpu.limit,
    }
    singleuser["memory"] = {
        "guarantee": hub.user_resources.memory.guarantee,
        "limit": hub.user_resources.memory.limit,
    }
    annotations = args.tls.annotations()
    computed: dict[str, Any] = {
        "config": {"BinderHub": binderhub_config},
        "imageBuilderType": hub.image_builder_type,
        # Reached through the Ingress only.
        "service": {"type": "ClusterIP"},
        "ingress": {
            "enabled": True,
            "ingressClassName": args.ingress_class,
            "hosts": [hub.host],
            "annotations": annotations,
            "tls": args.tls.tls("binder-tls", [hub.host]),
        },
        "jupyterhub": {
            "proxy": {"service": {"type": "ClusterIP"}},
            "ingress": {
                "enabled": True,
                "ingressClassName": args.ingress_class,
                "hosts": [hub.hub_host],
                "annotations": annotations,
                "tls": args.tls.tls("hub-tls", [hub.hub_host]),
            },
            "singleuser": singleuser,
        },
    }
    if registry:
        computed["registry"] = registry
    if scheduling:
        computed["jupyterhub"]["scheduling"] = scheduling
    if args.prometheus_namespace:
        # z2jh's hub NetworkPolicy only admits pods labelled for hub access; let Prometheus
        # (another namespace) reach the hub's metrics port.
        # https://z2jh.jupyter.org/en/stable/administrator/security.html#kubernetes-network-policies
        computed["jupyterhub"]["hub"] = {
            "networkPolicy": {
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {
                                        "kubernetes.io/metadata.name": args.prometheus_namespace
                                    }
                                }
                            }
                        ],
                        "ports": [{"port": 8081, "protocol": "TCP"}],
                    }
                ]
            }
        }
    return computed


def binderhub_secret_values(secrets: DeploymentSecrets) -> dict[str, Any]:
    """Layer 4: the proxy token, the binder->hub API token and the registry account."""
    layer: dict[str, Any] = {
        "jupyterhub": {
            "proxy": {"secretToken": secrets.proxy_secret_token},
            # The binderhub chart gives the same token to BinderHub and registers it with
            # the hub as the `binder` service's token.
            "hub": {"services": {"binder": {"apiToken": secrets.hub_api_token}}},
        }
    }
    if secrets.registry is not None:
        layer["registry"] = {
            "username": secrets.registry.username,
            "password": secrets.registry.password,
        }
    return layer
