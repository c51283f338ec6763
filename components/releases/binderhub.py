"""BinderHub and its JupyterHub, from the BinderHub Helm chart.

Modelled on public deployments (mybinder.org-deploy, the BioExcel Binder): BinderHub and its
hub each get a public hostname behind the ingress controller, with TLS; built images are
pushed to a registry (DockerHub by default); user pods run on the user node pool when the
cluster has one. The service is anonymous unless ``binder:binderhub.auth`` asks for logins
through an OAuth provider (GitHub, or an institution's OIDC). Docs:
https://binderhub.readthedocs.io/en/latest/zero-to-binderhub/,
https://binderhub.readthedocs.io/en/latest/authentication.html and
https://z2jh.jupyter.org/en/stable/resources/reference.html.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from components.catalog import charts
from components.config.base import ConfigError
from components.config.cluster import (
    NODE_PURPOSE_LABEL,
    USER_TAINT_KEY,
    USER_TAINT_VALUE,
    ClusterBase,
)
from components.config.registry import RegistryConfig
from components.config.releases import AuthConfig, BinderHubConfig
from components.registry.target import DOCKERHUB_HOSTS, RegistryTarget, url_registry_target
from components.releases import events, helm, values
from components.releases.builder import (
    DIND_IMAGE,
    ImageBuilder,
    ImageBuilderArgs,
    builder_values,
    image_cleaner_values,
)
from components.releases.federation_member import membership_values
from components.releases.hub_auth import (
    AUTHENTICATORS,
    authenticated_hub_values,
    oauth_callback_url,
)
from components.releases.ingress_tls import IngressTls, institution_tls_secret
from components.releases.limits import limits_values
from components.releases.public import public_service_values
from components.releases.registry import mirror_image, pull_secret_values, registry_chart_values
from components.releases.replicas import build_token_secret_values
from components.releases.repo_providers import repo_provider_secret_values
from components.releases.site import SitePlan, site_config_maps, site_values
from components.secrets.deployment import DeploymentSecrets

__all__ = ["DOCKERHUB_HOSTS", "BinderHub", "BinderHubArgs"]

#: The hub service Prometheus scrapes ``/hub/metrics`` as, and the role that lets it: the
#: ``read:metrics`` scope and nothing else.
#: https://jupyterhub.readthedocs.io/en/stable/rbac/scopes.html#available-scopes
METRICS_SERVICE = "prometheus"
METRICS_ROLE = "prometheus-metrics"
METRICS_SCOPES = ("read:metrics",)


def check_institution_certificate(tls_source: str, has_certificate: bool) -> None:
    """``tls.source: institution`` needs the certificate and key, for the BinderHub and hub
    Ingresses; a ConfigError naming the settings otherwise. Never reads a secret value."""
    if tls_source == "institution" and not has_certificate:
        raise ConfigError(
            "binder:tls.source is 'institution' but no certificate was given; set "
            "binder:tlsCertificate and binder:tlsKey (`pulumi config set --secret`), or "
            "tls.certificate/tls.key in a secrets file (binder:secretsFiles)"
        )


@dataclass(frozen=True, kw_only=True)
class BinderHubArgs(helm.ReleasePlacement):
    """Inputs of :class:`BinderHub`; where the release goes is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    binderhub: BinderHubConfig
    """``binder:binderhub``: public hosts, image builder, user pod resources, authentication."""
    registry: RegistryConfig
    """``binder:registry``: where built images are pushed."""
    registry_target: RegistryTarget | None = None
    """The plan's registry target (:func:`components.releases.registry.plan_registry`);
    None: worked out from ``registry`` for a ``type: url`` registry."""
    cluster: ClusterBase
    """``binder:cluster``: tells whether (and how) user nodes are labelled and tainted."""
    secrets: DeploymentSecrets
    """Proxy token, binder->hub API token, registry credentials, Prometheus' metrics token
    (with monitoring) and, for an authenticated hub, the OAuth client (secret Outputs)."""
    tls: IngressTls
    """Certificate source for the two Ingresses."""
    ingress_class: str
    """IngressClass of the two Ingresses (``binder:ingress.className``)."""
    prometheus_namespace: str | None = None
    """Namespace of the Prometheus that scrapes the hub, let through the hub's NetworkPolicy;
    the hub then registers Prometheus' metrics token (``secrets.prometheus_metrics_token``,
    required) as a service allowed ``read:metrics``. None without monitoring: no token, and
    ``/hub/metrics`` stays behind authentication."""
    image_pull_secrets: tuple[str, ...] = ()
    """Pull Secrets of the program's own pods in the namespace (the BuildKit pruner); the
    chart's pods get theirs from the values (``jupyterhub.imagePullSecrets``)."""
    site: SitePlan | None = None
    """The site's files, about page and template variables (the plan's); None: BinderHub's."""
    namespace: str = "binder"
    """Namespace of the release."""
    def target(self) -> RegistryTarget:
        """Where BinderHub pushes: the plan's target, else that of a ``type: url`` registry."""
        return self.registry_target or url_registry_target(self.registry)


class BinderHub(pulumi.ComponentResource):
    """The BinderHub release (BinderHub + JupyterHub) and, for an institution certificate,
    its TLS Secret."""

    release: pulumi.CustomResource
    binder_url: pulumi.Output[str]
    hub_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: BinderHubArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:binderhub:BinderHub", name, None, opts)
        # What the API server needs first: the namespace (args.namespace_resources) and, for
        # an institution certificate, its Secret; secrets from resources are waited for
        # through their Outputs. Not the ingress controller (an Ingress names its class as
        # a string) nor the ClusterIssuer (cert-manager issues for the Ingresses it finds,
        # whenever it starts): the real engine deploys without them, and BinderHub no longer
        # waits for cert-manager's release (e2e/tests/test_lifecycle.py).
        depends: list[pulumi.Resource] = []
        if args.tls.source == "institution" and args.secrets.tls is not None:
            depends.append(
                institution_tls_secret(
                    f"{name}-tls", args.namespace, args.secrets.tls, args.in_namespace(self)
                )
            )
        if args.site is not None:  # the pods mount them: made first
            depends += site_config_maps(f"{name}-site", args.namespace, args.site, self,
                                        args.namespace_resources)
        target = args.target()
        if target.artifact is not None and args.secrets.registry is not None:
            pulumi.log.warn(
                "Registry credentials are given (registryUsername/registryPassword or "
                "registry.username/password in a secrets file) but binder:registry.type is "
                "'artifactRegistry', which needs none (Workload Identity): they are not used.",
                resource=self,
            )
        elif args.secrets.registry is None and target.artifact is None:
            pulumi.log.warn(
                "No registry credentials (binder:registryUsername/registryPassword or "
                "registry.username/password in a secrets file): BinderHub will push to "
                f"{args.registry.url} anonymously, which only works for an open registry.",
                resource=self,
            )
        if args.secrets.oauth is not None and not args.binderhub.auth.enabled:
            pulumi.log.warn(
                "An OAuth client is given (oauthClientId/oauthClientSecret) but "
                "binder:binderhub.auth.type is 'none', so it is not used; set auth.type to "
                "'github' or 'generic' to use it.",
                resource=self,
            )
        self.release = args.helm_release(
            f"{name}-release",
            charts.BINDERHUB,
            parent=self,
            computed=binderhub_values(args),
            secrets=values.merge(
                binderhub_secret_values(
                    # Artifact Registry needs (and gets) no account.
                    replace(args.secrets, registry=None) if target.artifact else args.secrets,
                    args.binderhub.auth,
                    prometheus_namespace=args.prometheus_namespace,
                ),
                pull_secret_values(
                    target, args.secrets.registry.username, args.secrets.registry.password
                )
                if args.secrets.registry is not None and target.artifact is None
                else {},
            ),
            depends_on=depends,
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
        )
        if args.binderhub.image_builder_type == "dind":
            mirror = args.registry.system_images_mirror
            self.builder = ImageBuilder(
                f"{name}-builder",
                ImageBuilderArgs(
                    builder=args.binderhub.builder,
                    namespace=args.namespace,
                    dind_image=mirror_image(mirror, "library/docker") if mirror else DIND_IMAGE,
                    banned_cidrs=tuple(args.binderhub.egress.banned_cidrs),
                    image_pull_secrets=args.image_pull_secrets,
                    # The pruner follows dind (it talks to dind's socket on the same node).
                    node_selector=build_node_selector(args.cluster) or None,
                ),
                args.in_namespace(self),
            )
        self.binder_url = pulumi.Output.from_input(args.tls.url(args.binderhub.host))
        self.hub_url = pulumi.Output.from_input(args.tls.url(args.binderhub.hub_host))
        self.register_outputs({"binder_url": self.binder_url, "hub_url": self.hub_url})


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


def build_node_selector(cluster: ClusterBase) -> dict[str, str]:
    """``BinderHub.build_node_selector``: the user pool's labels (empty without one)."""
    return dict(cluster.user_node_selector)


def binderhub_values(args: BinderHubArgs) -> dict[str, Any]:
    """Layer 3 of the BinderHub values: hosts, ingress + TLS, registry, scheduling."""
    hub = args.binderhub
    target = args.target()
    binderhub_config: dict[str, Any] = {
        "hub_url": args.tls.url(hub.hub_host),
        "use_registry": True,
        "image_prefix": target.image_prefix,
        # Set here, from binder:binderhub.auth, never in a values file: the BinderHub and
        # JupyterHub halves below must agree.
        "auth_enabled": hub.auth.enabled,
        # Launch events name the public host, whatever Host header a request came with.
        "normalized_origin": hub.host,
    }
    if hub.banner_message:
        binderhub_config["banner_message"] = hub.banner_message
    if args.cluster.has_user_pool:
        # Builds run the repository's code in privileged dind: keep them, dind and the image
        # cleaner on the user pool, never beside the hub and its Secrets. The chart puts this
        # selector on the dind and image-cleaner DaemonSets (templates/container-builder/
        # daemonset.yaml, templates/image-cleaner.yaml) and BinderHub on each build pod
        # (KubernetesBuildExecutor.node_selector, which also tolerates the user taint in both
        # spellings: binderhub/build.py at the pinned chart's commit
        # https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/build.py#L557-L573).
        binderhub_config["build_node_selector"] = build_node_selector(args.cluster)
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
        # The repo2docker image of the build pods: the catalogue's pin, not the chart's default.
        "config": {
            "BinderHub": binderhub_config,
            "KubernetesBuildExecutor": {"build_image": charts.REPO2DOCKER.image},
        },
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
    computed["extraConfig"] = {events.SNIPPET_KEY: events.eventlog_snippet()}  # see events.py
    computed = values.merge(computed, registry_chart_values(target))
    computed = values.merge(computed, limits_values(hub.limits))
    computed = values.merge(computed, membership_values(hub.federation))
    if hub.image_builder_type == "dind":
        computed = values.merge(computed, builder_values(hub.builder, args.cluster))
    computed["imageCleaner"] = image_cleaner_values(
        hub.image_builder_type, hub.builder, args.cluster
    )
    if scheduling:
        computed["jupyterhub"]["scheduling"] = scheduling
    if args.prometheus_namespace:
        # Our Prometheus scrapes the hub and BinderHub with named jobs
        # (components.releases.monitoring);
        # switch off the scrape annotation both charts put on their Service, or the chart's
        # catch-all `kubernetes-service-endpoints` job scrapes them a second time. z2jh adds
        # `prometheus.io/scrape: "true"` only when hub.service.annotations has no such key
        # (https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/4.2.0/jupyterhub/templates/hub/service.yaml);
        # binderhub's values.yaml sets it in service.annotations. Without our monitoring the
        # annotations stay, for a cluster's own Prometheus.
        computed["service"]["annotations"] = {"prometheus.io/scrape": "false"}
        # z2jh's hub NetworkPolicy only admits pods labelled for hub access; let Prometheus
        # (another namespace) reach the hub's metrics port.
        # https://z2jh.jupyter.org/en/stable/administrator/security.html#kubernetes-network-policies
        computed["jupyterhub"]["hub"] = {
            "service": {"annotations": {"prometheus.io/scrape": "false"}},
            # ...and let it in with its own token (the secret part is in layer 4).
            "loadRoles": metrics_role_values(),
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
            },
        }
    if hub.auth.enabled:
        computed["jupyterhub"] = values.merge(
            computed["jupyterhub"],
            authenticated_hub_values(
                hub.auth,
                binder_url=args.tls.url(hub.host),
                callback_url=oauth_callback_url(args.tls, hub.hub_host),
            ),
        )
    if args.site is not None:
        computed = values.merge(computed, site_values(args.site))
    return values.merge(computed, public_service_values(hub))


def metrics_role_values() -> dict[str, Any]:
    """``jupyterhub.hub.loadRoles`` entry of the metrics service: ``read:metrics`` only.

    The hub keeps ``/hub/metrics`` behind authentication (``authenticatePrometheus: true`` in
    ``helm_configs/base/binderhub.yaml``, JupyterHub's default), and answers a token only if
    its owner has that scope. The service itself is registered with its token in
    :func:`binderhub_secret_values`; z2jh names it after its key under ``hub.services`` and
    the role after its key under ``hub.loadRoles``.
    https://jupyterhub.readthedocs.io/en/stable/reference/monitoring.html
    https://z2jh.jupyter.org/en/stable/resources/reference.html#hub-loadroles
    """
    return {
        METRICS_ROLE: {
            "description": "Read the hub's Prometheus metrics (/hub/metrics), nothing else",
            "scopes": list(METRICS_SCOPES),
            "services": [METRICS_SERVICE],
        }
    }


def binderhub_secret_values(
    secrets: DeploymentSecrets,
    auth: AuthConfig | None = None,
    *,
    prometheus_namespace: str | None = None,
) -> dict[str, Any]:
    """Layer 4: the proxy token, the binder->hub API token, the registry account, with our
    Prometheus (``prometheus_namespace``) its metrics token and, for an authenticated hub, the
    OAuth client (in the authenticator's ``hub.config`` section)."""
    services: dict[str, Any] = {
        # The binderhub chart gives the same token to BinderHub and registers it with the
        # hub as the `binder` service's token.
        "binder": {"apiToken": secrets.hub_api_token},
    }
    if prometheus_namespace:
        if secrets.prometheus_metrics_token is None:
            # The plan builds the secrets with monitoring whenever Prometheus is on.
            raise ValueError(
                "Prometheus scrapes the hub, but the deployment secrets have no metrics token: "
                "build them from the same plan as the releases"
            )
        # z2jh registers hub.services.<name>.apiToken as that service's API token (and keeps
        # it in the hub's Kubernetes Secret, never in a ConfigMap); the role of
        # metrics_role_values grants it read:metrics. Prometheus presents the same token.
        # https://z2jh.jupyter.org/en/stable/resources/reference.html#hub-services
        services[METRICS_SERVICE] = {"apiToken": secrets.prometheus_metrics_token}
    layer: dict[str, Any] = {
        "jupyterhub": {
            "proxy": {"secretToken": secrets.proxy_secret_token},
            "hub": {"services": services},
        }
    }
    if secrets.registry is not None:
        layer["registry"] = {
            "username": secrets.registry.username,
            "password": secrets.registry.password,
        }
    layer = values.merge(layer, repo_provider_secret_values(secrets.repo_providers))
    layer = values.merge(layer, build_token_secret_values(secrets.build_token_secret))
    if auth is not None and auth.enabled and secrets.oauth is not None:
        # z2jh stores hub.config in the hub's Kubernetes Secret, not in a ConfigMap.
        _, authenticator_class = AUTHENTICATORS[auth.type]
        layer["jupyterhub"]["hub"]["config"] = {
            authenticator_class: {
                "client_id": secrets.oauth.client_id,
                "client_secret": secrets.oauth.client_secret,
            }
        }
    return layer
