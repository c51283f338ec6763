"""All Helm releases of a stack, wired from its configuration.

Dependencies are explicit and minimal:

* the ClusterIssuers wait for the cert-manager release (its CRDs and webhook);
* BinderHub waits for the ingress controller, the ClusterIssuer it uses, its namespace and its
  secrets (Outputs of the resources that hold them);
* monitoring and logging wait only for their namespaces -- never for BinderHub, so a broken
  BinderHub upgrade can still be watched.

Optional parts -- the ingress controller (``binder:ingress.controller: none``), cert-manager
(``binder:certManager.enabled``), monitoring and logging (``enabled``) -- are simply not
created when switched off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import pulumi

from components.config.base import ConfigError
from components.config.releases import BinderHubConfig, RegistryConfig, TlsConfig
from components.config.stack import StackConfig
from components.releases import charts, values
from components.releases.binderhub import (
    BinderHub,
    BinderHubArgs,
    check_institution_certificate,
    check_oauth_client,
    oauth_callback_url,
)
from components.releases.cert_manager import CertManager, CertManagerArgs
from components.releases.ingress import IngressController, IngressControllerArgs
from components.releases.ingress_tls import IngressTls, cluster_issuer_name
from components.releases.logging import Logging, LoggingArgs, check_output_credentials
from components.releases.monitoring import (
    Monitoring,
    MonitoringArgs,
    check_grafana_certificate,
    check_monitoring_secrets,
)
from components.secrets.deployment import DeploymentSecrets
from components.secrets.material import SecretMaterial


def enabled_releases(cfg: StackConfig) -> list[charts.ChartPin]:
    """The charts this configuration installs, in the order :class:`Releases` creates them."""
    pins = []
    if cfg.ingress.controller == "traefik":
        pins.append(charts.TRAEFIK)
    if cfg.cert_manager.enabled:
        pins.append(charts.CERT_MANAGER)
    pins.append(charts.BINDERHUB)
    if cfg.monitoring.enabled:
        pins += [charts.PROMETHEUS, charts.GRAFANA]
    if cfg.logging.enabled:
        pins.append(charts.FLUENTD)
    return pins


def check_release_config(
    cfg: StackConfig, *, stack: str | None = None, values_root: Path | None = None
) -> tuple[BinderHubConfig, RegistryConfig, TlsConfig]:
    """The settings the releases cannot do without, or a ConfigError naming them.

    With ``stack``, the values files of every enabled release (``helm_configs/base`` and
    ``helm_configs/<stack>``) are read and checked too: malformed YAML, a SOPS file or a
    plaintext credential is reported here rather than halfway through the deployment.

    Call it right after ``load_config()`` to fail before any resource is registered. It
    registers nothing; it only reads the values files.
    """
    problems = []
    if cfg.binderhub is None:
        problems.append(
            "  binder:binderhub: missing; set at least `host` and `hubHost` (the public "
            "hostnames of BinderHub and of its JupyterHub)"
        )
    if cfg.registry is None:
        problems.append(
            "  binder:registry: missing; set at least `prefix` (e.g. `myorg/binder-` on "
            "DockerHub) and, for another registry, `url`"
        )
    if cfg.tls is None:
        problems.append(
            "  binder:tls: missing; set `source: letsencrypt` (with `email`), "
            "`source: institution` (with the secrets tlsCertificate/tlsKey) or `source: none`"
        )
    elif cfg.tls.source == "letsencrypt" and not cfg.cert_manager.enabled:
        problems.append(
            "  binder:tls.source is 'letsencrypt', which needs cert-manager, but "
            "binder:certManager.enabled is false; set binder:certManager.enabled to true "
            "(Pulumi.local.yaml turns it off), or use tls.source 'institution' or 'none'"
        )
    if (
        cfg.monitoring.enabled
        and cfg.binderhub is not None
        and cfg.monitoring.grafana_host
        in (
            cfg.binderhub.host,
            cfg.binderhub.hub_host,
        )
    ):
        problems.append(
            "  binder:monitoring.grafanaHost: must differ from binder:binderhub.host and hubHost"
        )
    if stack is not None:
        for pin in enabled_releases(cfg):
            try:
                values.file_layers(pin.release, stack, values_root)
            except ConfigError as exc:
                problems.append(f"  {exc}")
    if problems or cfg.binderhub is None or cfg.registry is None or cfg.tls is None:
        raise ConfigError("Invalid release configuration:\n" + "\n".join(problems))
    return cfg.binderhub, cfg.registry, cfg.tls


def check_release_secrets(cfg: StackConfig, material: SecretMaterial) -> None:
    """Release settings that need a secret, checked against what the secrets files and config
    gave (:func:`components.secrets.material.load_secret_material`); a ConfigError naming the
    setting.

    Call it right after ``load_secret_material`` to fail before any resource is registered.
    Looks only at whether a secret is given, never at its value. Runs the same checks as the
    components (which keep them as a backstop), on the material instead of the finished
    :class:`DeploymentSecrets`.
    """
    binderhub, _, tls = check_release_config(cfg)
    _check_secrets_present(
        cfg,
        binderhub,
        tls,
        has_oauth_client=(
            material.oauth_client_id is not None and material.oauth_client_secret is not None
        ),
        has_certificate=material.tls_certificate is not None and material.tls_key is not None,
        has_logging_password=material.logging_password is not None,
    )


def _check_secrets_present(
    cfg: StackConfig,
    binderhub: BinderHubConfig,
    tls: TlsConfig,
    *,
    has_oauth_client: bool,
    has_certificate: bool,
    has_logging_password: bool,
) -> None:
    check_oauth_client(
        binderhub.auth, has_oauth_client, oauth_callback_url(_ingress_tls(tls), binderhub.hub_host)
    )
    check_institution_certificate(tls.source, has_certificate)
    if cfg.monitoring.enabled:
        check_grafana_certificate(cfg.monitoring, tls.source, has_certificate)
    if cfg.logging.enabled:
        check_output_credentials(cfg.logging.output, has_logging_password)


def _ingress_tls(tls: TlsConfig) -> IngressTls:
    return IngressTls(
        source=tls.source,
        cluster_issuer=cluster_issuer_name(tls.issuer) if tls.source == "letsencrypt" else None,
    )


class _Placement(TypedDict):
    """The :class:`components.releases.charts.ReleasePlacement` fields of one component's Args."""

    stack: str
    namespace: str
    namespace_resources: list[pulumi.Resource]
    values_root: Path | None


@dataclass(frozen=True)
class ReleasesArgs:
    """Inputs of :class:`Releases`."""

    config: StackConfig
    """The whole stack configuration."""
    stack: str
    """Stack name; selects ``helm_configs/<stack>/``."""
    secrets: DeploymentSecrets
    """Every secret the releases consume (secret Outputs)."""
    namespaces: Mapping[str, pulumi.Resource | Sequence[pulumi.Resource]] = field(
        default_factory=dict
    )
    """What the bootstrap made of each namespace, by name (``bootstrap.ready_for(ns)``: the
    Namespace and its guard rails); each release waits for its own. A release whose namespace
    is not in the mapping lets Helm create it."""
    values_root: Path | None = None
    """``helm_configs`` directory; the repository's by default."""


class Releases(pulumi.ComponentResource):
    """Ingress controller, cert-manager, BinderHub, monitoring and logging."""

    ingress: IngressController | None
    cert_manager: CertManager | None
    binderhub: BinderHub
    monitoring: Monitoring | None
    logging: Logging | None
    binder_url: pulumi.Output[str]
    hub_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str | None]
    ingress_address: pulumi.Output[str | None]
    """External IP or hostname of our ingress controller; None with ``controller: none``."""

    def __init__(
        self, name: str, args: ReleasesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        cfg = args.config
        # The same checks as check_release_config/check_release_secrets, so that this
        # component alone also fails before registering anything.
        binderhub, registry, tls_config = check_release_config(
            cfg, stack=args.stack, values_root=args.values_root
        )
        tls = _ingress_tls(tls_config)
        _check_secrets_present(
            cfg,
            binderhub,
            tls_config,
            has_oauth_client=args.secrets.oauth is not None,
            has_certificate=args.secrets.tls is not None,
            has_logging_password=args.secrets.logging_password is not None,
        )
        if cfg.monitoring.enabled:
            # Grafana's password and Prometheus' metrics token (which BinderHub registers
            # with the hub too) exist only if the secrets were made with monitoring on.
            check_monitoring_secrets(args.secrets)
        super().__init__("binder:releases:Releases", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def placed(release: str) -> _Placement:
            namespace = charts.NAMESPACES[release]
            given = args.namespaces.get(namespace, [])
            return _Placement(
                stack=args.stack,
                namespace=namespace,
                namespace_resources=[given] if isinstance(given, pulumi.Resource) else list(given),
                values_root=args.values_root,
            )

        class_name = cfg.ingress.class_name

        self.ingress = None
        if cfg.ingress.controller == "traefik":
            self.ingress = IngressController(
                f"{name}-ingress",
                IngressControllerArgs(
                    **placed("ingress"), config=cfg.ingress, redirect_to_https=tls.enabled
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

        binder_depends: list[pulumi.Resource] = []
        if self.ingress is not None:
            binder_depends.append(self.ingress.release)
        if tls.source == "letsencrypt" and self.cert_manager is not None:
            binder_depends.append(self.cert_manager.issuers[tls_config.issuer])
        monitoring_namespace = charts.NAMESPACES["monitoring"] if cfg.monitoring.enabled else None
        self.binderhub = BinderHub(
            f"{name}-binderhub",
            BinderHubArgs(
                **placed("binderhub"),
                binderhub=binderhub,
                registry=registry,
                cluster=cfg.cluster,
                secrets=args.secrets,
                tls=tls,
                ingress_class=class_name,
                prometheus_namespace=monitoring_namespace,
                depends_on=binder_depends,
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
                ),
                child,
            )

        self.logging = None
        if cfg.logging.enabled:
            self.logging = Logging(
                f"{name}-logging",
                LoggingArgs(**placed("logging"), config=cfg.logging, secrets=args.secrets),
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
