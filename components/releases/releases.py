"""All Helm releases of a stack, wired from its configuration.

Dependencies are explicit and minimal:

* the ClusterIssuers wait for the cert-manager release (its CRDs: the API server refuses a
  ClusterIssuer before them);
* BinderHub waits for its namespace and its secrets (Outputs of the resources that hold
  them) -- not for the ingress controller or a ClusterIssuer, which the API server does not
  need first (the real engine's test deploys without those links);
* monitoring and logging wait only for their namespaces -- never for BinderHub, so a broken
  BinderHub upgrade can still be watched.

Optional parts -- the ingress controller (``binder:ingress.controller: none``), cert-manager
(``binder:certManager.enabled``), monitoring and logging (``enabled``) -- are simply not
created when switched off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import pulumi

from components.catalog import charts
from components.network.plan import NetworkPlan
from components.releases.binderhub import BinderHub, BinderHubArgs
from components.releases.cert_manager import CertManager, CertManagerArgs
from components.releases.cryptnono import Cryptnono, CryptnonoArgs
from components.releases.ingress import IngressController, IngressControllerArgs
from components.releases.logging import Logging, LoggingArgs
from components.releases.monitoring import Monitoring, MonitoringArgs
from components.releases.plan import ReleasesPlan
from components.releases.pull_secrets import DockerHubPullSecrets, DockerHubPullSecretsArgs
from components.releases.registry import DOCKERHUB_PULL_SECRET
from components.releases.storage import ReleaseStorage, ReleaseStorageArgs
from components.secrets.deployment import DeploymentSecrets


class _Placement(TypedDict):
    """The :class:`components.releases.helm.ReleasePlacement` fields of one component's Args."""

    namespace: str
    namespace_resources: list[pulumi.Resource]
    file_values: Mapping[str, Sequence[Any]]
    chart_directory: str | None


@dataclass(frozen=True)
class ReleasesArgs:
    """Inputs of :class:`Releases`."""

    plan: ReleasesPlan
    """The releases' part of the plan (:func:`components.releases.plan.plan_releases`):
    settings and values files, already checked."""
    secrets: DeploymentSecrets
    """Every secret the releases consume (secret Outputs)."""
    namespaces: Mapping[str, pulumi.Resource | Sequence[pulumi.Resource]] = field(
        default_factory=dict
    )
    """What the bootstrap made of each namespace, by name (``bootstrap.ready_for(ns)``: the
    Namespace and its guard rails); each release waits for its own. A release whose namespace
    is not in the mapping lets Helm create it."""
    network: NetworkPlan | None = None
    """The public entry point's plan (traffic policy, PROXY protocol) for Traefik's Service."""
    load_balancer_ip: pulumi.Input[str] | None = None
    """The address the stack reserved for Traefik's load balancer, if it did."""


class Releases(pulumi.ComponentResource):
    """Ingress controller, cert-manager, BinderHub, monitoring and logging."""

    storage: ReleaseStorage | None
    """The StorageClass the program creates (``binder:storage.create``), if any."""
    pull_secrets: DockerHubPullSecrets | None
    """The Docker Hub account's pull Secrets, when the plan pulls Docker Hub images with it."""
    ingress: IngressController | None
    cert_manager: CertManager | None
    binderhub: BinderHub
    monitoring: Monitoring | None
    logging: Logging | None
    harbor: pulumi.ComponentResource | None
    """Harbor and its project (``binder:harbor.enabled``): a
    :class:`components.releases.harbor.Harbor`, imported (with ``pulumiverse_harbor``) only by
    a stack that runs it; the SDK evaluates these annotations, so the name cannot be used."""
    binder_url: pulumi.Output[str]
    hub_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str | None]
    ingress_address: pulumi.Output[str | None]
    """External IP or hostname of our ingress controller; None with ``controller: none``."""

    def __init__(
        self, name: str, args: ReleasesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        plan = args.plan
        cfg = plan.config
        binderhub, registry = plan.binderhub, plan.registry
        tls_config, tls = plan.tls, plan.ingress_tls
        if cfg.monitoring.enabled and (
            args.secrets.grafana_admin_password is None
            or args.secrets.prometheus_metrics_token is None
        ):
            # Not a configuration problem (the plan checked those): the secrets were built
            # for another plan. Grafana's password and Prometheus' metrics token exist only if
            # the Secrets component was given material loaded with monitoring on.
            raise ValueError(
                "binder:monitoring.enabled is true, but the deployment secrets were made "
                "without monitoring; build them from the same plan (Secrets(SecretsArgs("
                "material=plan.secrets)))"
            )
        super().__init__("binder:releases:Releases", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The StorageClass of the releases' volumes, when the program owns it; the releases
        # with volumes (BinderHub's hub database, Prometheus, Grafana) wait for it, or their
        # PVCs would stay Pending and the release time out.
        self.storage = None
        if plan.storage.create:
            self.storage = ReleaseStorage(
                f"{name}-storage", ReleaseStorageArgs(plan=plan.storage), child
            )

        def namespace_waits(namespace: str) -> list[pulumi.Resource]:
            given = args.namespaces.get(namespace, [])
            return [given] if isinstance(given, pulumi.Resource) else list(given)

        # The Docker Hub account as a pull Secret in each namespace that runs a Docker Hub
        # image (the plan named the account and put the Secret's name in the values).
        self.pull_secrets = None
        pulls = plan.dockerhub_pulls
        if pulls is not None and pulls.via == "account":
            secrets = args.secrets
            account = secrets.dockerhub if pulls.account == "dockerHub" else secrets.registry
            if account is None:
                raise ValueError(
                    f"the plan pulls Docker Hub images with the {pulls.account} account, but "
                    "the deployment secrets have none; build them from the same plan"
                )
            self.pull_secrets = DockerHubPullSecrets(
                f"{name}-pull-secrets",
                DockerHubPullSecretsArgs(
                    account=account,
                    namespaces=pulls.namespaces,
                    waits={ns: namespace_waits(ns) for ns in pulls.namespaces},
                ),
                child,
            )

        def placed(release: str) -> _Placement:
            namespace = charts.NAMESPACES[release]
            waits = namespace_waits(namespace)
            # (Only with a bootstrapped namespace: an empty list means "Helm creates it".)
            with_volumes = ("binderhub", "monitoring", "harbor")
            if waits and self.storage is not None and release in with_volumes:
                waits.append(self.storage.storage_class)
            if self.pull_secrets is not None and namespace in self.pull_secrets.secrets:
                waits.append(self.pull_secrets.secrets[namespace])
            return _Placement(
                namespace=namespace,
                namespace_resources=waits,
                file_values=plan.file_values,
                chart_directory=cfg.charts.directory,
            )

        class_name = cfg.ingress.class_name

        self.ingress = None
        if cfg.ingress.controller == "traefik":
            self.ingress = IngressController(
                f"{name}-ingress",
                IngressControllerArgs(
                    **placed("ingress"),
                    config=cfg.ingress,
                    redirect_to_https=tls.enabled,
                    network=args.network,
                    load_balancer_ip=args.load_balancer_ip,
                ),
                child,
            )

        self.cert_manager = None
        if cfg.cert_manager.enabled:
            self.cert_manager = CertManager(
                f"{name}-cert-manager",
                CertManagerArgs(
                    **placed("cert-manager"), ingress_class=class_name, email=tls_config.email
                ),
                child,
            )

        # Harbor (binder:harbor): BinderHub pushes with its `builder` robot, whose secret the
        # Harbor component generates, instead of a registry account from the secrets (the
        # plan refuses both at once: components/registry/target.py).
        self.harbor = None
        binderhub_secrets = args.secrets
        if cfg.harbor.enabled:
            from components.releases.harbor import Harbor, HarborArgs

            self.harbor = Harbor(
                f"{name}-harbor",
                HarborArgs(
                    **placed("harbor"),
                    config=cfg.harbor,
                    tls=tls,
                    ingress_class=class_name,
                    institution_certificate=args.secrets.tls,
                ),
                child,
            )
            binderhub_secrets = replace(args.secrets, registry=self.harbor.push_credentials)

        monitoring_namespace = charts.NAMESPACES["monitoring"] if cfg.monitoring.enabled else None
        self.binderhub = BinderHub(
            f"{name}-binderhub",
            BinderHubArgs(
                **placed("binderhub"),
                binderhub=binderhub,
                registry=registry,
                registry_target=plan.registry_target,
                cluster=cfg.cluster,
                secrets=binderhub_secrets,
                tls=tls,
                ingress_class=class_name,
                prometheus_namespace=monitoring_namespace,
                image_pull_secrets=(DOCKERHUB_PULL_SECRET,)
                if self.pull_secrets is not None
                and charts.NAMESPACES["binderhub"] in self.pull_secrets.secrets
                else (),
                site=plan.site,
            ),
            child,
        )

        self.monitoring = None
        if cfg.monitoring.enabled:
            self.monitoring = Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(
                    **placed("monitoring"),
                    config=cfg.monitoring,
                    secrets=args.secrets,
                    tls=tls,
                    ingress_class=class_name,
                    binder_namespace=charts.NAMESPACES["binderhub"],
                    front_door=(binderhub.federation.front_door if binderhub.federation
                                and binderhub.federation.monitor else None),
                ),
                child,
            )

        self.logging = None
        if cfg.logging.enabled:
            self.logging = Logging(
                f"{name}-logging",
                LoggingArgs(
                    **placed("logging"),
                    config=cfg.logging,
                    secrets=args.secrets,
                    stack=plan.stack,
                    binder_namespace=charts.NAMESPACES["binderhub"],
                ),
                child,
            )

        self.cryptnono = None
        if cfg.cryptnono_enabled:
            self.cryptnono = Cryptnono(
                f"{name}-cryptnono",
                CryptnonoArgs(
                    **placed("cryptnono"),
                    config=cfg.cryptnono,
                    dind=binderhub.image_builder_type == "dind",
                    metrics=cfg.monitoring.enabled,
                ),
                child,
            )

        self.binder_url = self.binderhub.binder_url
        self.hub_url = self.binderhub.hub_url
        self.grafana_url = (
            self.monitoring.grafana_url
            if self.monitoring is not None
            else pulumi.Output.from_input(None)
        )
        self.ingress_address = (
            self.ingress.external_address
            if self.ingress is not None
            else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "binder_url": self.binder_url,
                "hub_url": self.hub_url,
                "grafana_url": self.grafana_url,
                "ingress_address": self.ingress_address,
            }
        )
