"""The releases' part of the plan: their settings and values files, validated once.

:func:`plan_releases` checks the release settings that span sections (a registry, the TLS
source and cert-manager, distinct hosts) and reads every enabled release's values files
(``helm_configs/base`` then ``helm_configs/<stack>``), refusing malformed YAML, a SOPS file or a
plaintext credential. :func:`check_release_secrets` checks the settings that need a secret
(the OAuth client, an institution certificate, the logging password) against what the secrets
files and config gave -- whether a secret is given, never its value.

Both raise :class:`~components.config.base.ConfigError` and register nothing; they are called by
:func:`components.plan.build_plan`, the only place release settings are checked. The release
components take a :class:`ReleasesPlan` and only build resources from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType

import pulumi

from components.catalog import charts
from components.catalog.charts import cluster_issuer_name
from components.cluster.kubeconfig import ClusterInputs
from components.config.base import ConfigError
from components.config.registry import RegistryConfig
from components.config.releases import BinderHubConfig, TlsConfig
from components.config.stack import StackConfig
from components.registry.target import RegistryTarget, harbor_registry_target, plan_registry
from components.releases import values
from components.releases.alerting import check_alert_credential
from components.releases.bans import spec_format_findings
from components.releases.binderhub import check_institution_certificate
from components.releases.builder import builder_problems
from components.releases.hub_auth import check_oauth_client, oauth_callback_url
from components.releases.ingress_tls import IngressTls
from components.releases.limits import daemon_requests, user_pod_problems
from components.releases.logging import check_output_credentials
from components.releases.monitoring import check_grafana_certificate
from components.releases.owned_values import owned_problems
from components.releases.quota import QuotaDerivation, plan_launch_limits
from components.releases.registry import (
    DockerHubPulls,
    dockerhub_images,
    mirror_layer,
    plan_dockerhub_pulls,
)
from components.releases.replicas import replica_problems
from components.releases.repo_providers import github_token_warning
from components.releases.site import SitePlan, plan_site
from components.releases.storage import (
    StoragePlan,
    class_paths_set_in,
    plan_storage,
    storage_layer,
)
from components.secrets.material import SecretMaterial


@dataclass(frozen=True)
class ReleasesPlan:
    """Everything the release components need, already validated."""

    stack: str
    """Stack name (the values files were read for it)."""
    config: StackConfig
    """The whole stack configuration (ingress, cert-manager, monitoring, logging, cluster)."""
    binderhub: BinderHubConfig
    """``binder:binderhub``, present; expired quota raises dropped and, unless
    ``limits.totalPods`` is given, the derived global quota in its place."""
    registry: RegistryConfig
    """``binder:registry``, present."""
    tls: TlsConfig
    """``binder:tls``, present and consistent with cert-manager."""
    ingress_tls: IngressTls
    """Where the Ingresses' certificates come from."""
    enabled: tuple[charts.ChartPin, ...]
    """The charts this configuration installs, in the order they are created."""
    file_values: Mapping[str, tuple[values.Values, ...]]
    """Layers 1 and 2 of each enabled release's values (base file, then the stack's file),
    read and checked, then the storage class of its volumes (``binder:storage``), and with
    ``binder:registry.systemImagesMirror`` the layer that points the release's Docker Hub
    images at the mirror, by release name. Read-only."""
    storage: StoragePlan
    """The StorageClass of every release volume, and whether the program creates it."""
    registry_target: RegistryTarget | None = None
    """Where BinderHub pushes (and whether user pods need a pull secret), checked against
    the cluster and the secrets by :func:`plan_registry_target`."""
    dockerhub_pulls: DockerHubPulls | None = None
    """How the pods pull their Docker Hub images (mirror, account, or acknowledged as
    anonymous), decided with the registry target; its pull-Secret layer is in
    :attr:`file_values`."""
    site: SitePlan | None = None
    """The site's files (``helm_configs/*/templates``, ``static``, ``hub-templates``), about
    page and template variables, read and checked (issue 22, item 6)."""


def enabled_releases(cfg: StackConfig) -> tuple[charts.ChartPin, ...]:
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
    if cfg.cryptnono_enabled:
        pins.append(charts.CRYPTNONO)
    if cfg.harbor.enabled:
        pins.append(charts.HARBOR)
    return tuple(pins)


def ingress_tls(tls: TlsConfig) -> IngressTls:
    """The Ingresses' certificate source for ``binder:tls``."""
    return IngressTls(
        source=tls.source,
        cluster_issuer=cluster_issuer_name(tls.issuer) if tls.source == "letsencrypt" else None,
    )


def plan_releases(
    cfg: StackConfig, stack: str, *, values_root: Path | None = None, today: date | None = None
) -> ReleasesPlan:
    """The releases' plan, or one ConfigError listing every problem with the release settings
    and the enabled releases' values files (``values_root``: the repository's
    ``helm_configs`` by default). Registers nothing but warnings (expired quota raises, no
    global quota) and a note of the derived global quota; ``today`` (UTC by default) decides
    which quota raises have expired."""
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
    elif cfg.tls.source != "letsencrypt" and cfg.cert_manager.enabled:
        # Nothing else asks cert-manager for a certificate: it would run (a webhook in the
        # path of every write to its CRDs, a controller, 6 CRDs) for nothing (issue 20).
        pulumi.log.warn(
            f"binder:tls.source is '{cfg.tls.source}', so nothing uses cert-manager, which "
            "binder:certManager.enabled installs anyway; set binder:certManager.enabled: "
            "false unless you run Issuers of your own"
        )
    if (
        cfg.monitoring.enabled
        and cfg.binderhub is not None
        and cfg.monitoring.grafana_host in (cfg.binderhub.host, cfg.binderhub.hub_host)
    ):
        problems.append(
            "  binder:monitoring.grafanaHost: must differ from binder:binderhub.host and hubHost"
        )
    enabled = enabled_releases(cfg)
    if cfg.charts.directory is not None:
        problems += charts.local_chart_problems(cfg.charts.directory, enabled)
    storage = StoragePlan(class_name=None, create=False)
    try:
        storage = plan_storage(cfg.storage, cfg.cluster)
    except ConfigError as exc:
        problems.append(f"  {exc}")
    file_values: dict[str, tuple[values.Values, ...]] = {}
    mirror = cfg.registry.system_images_mirror if cfg.registry is not None else None
    for pin in enabled:
        try:
            layers = values.file_layers(pin.release, stack, values_root)
        except ConfigError as exc:
            problems.append(f"  {exc}")
            continue
        # A value the program computes from a setting would silently replace the file's.
        for file, layer in zip(
            values.values_files(pin.release, stack, values_root), layers, strict=True
        ):
            problems += owned_problems(pin.release, layer, _relative(file))
        # One place says where volumes go: binder:storage. A class in a values file would
        # silently win over it for one release.
        for layer in layers:
            for path in class_paths_set_in(pin.release, layer):
                problems.append(
                    f"  helm_configs/*/{pin.release}.yaml sets {path}; the class of every "
                    "volume comes from binder:storage: remove it there and set "
                    "binder:storage.className"
                )
        mirrored = mirror_layer(pin.release, mirror)
        storage_values = storage_layer(pin.release, storage)
        file_values[pin.release] = (
            *layers,
            *([mirrored] if mirrored else []),
            *([storage_values] if storage_values else []),
        )
    binderhub = cfg.binderhub
    warnings: list[str] = []
    derivation: QuotaDerivation | None = None
    site: SitePlan | None = None
    if binderhub is not None and binderhub.image_builder_type == "dind":
        problems += builder_problems(binderhub.builder, cfg.cluster)
    if binderhub is not None:
        daemons = daemon_requests(binderhub, file_values)
        problems += user_pod_problems(binderhub, cfg.cluster, daemon_requests=daemons)
        # Expired quota raises dropped, the global quota derived (issue 22).
        binderhub, warnings, derivation = plan_launch_limits(
            binderhub, cfg.cluster, daemons, today or datetime.now(UTC).date()
        )
        if binderhub.federation is not None and binderhub.limits.total_pods is None:
            # A member's quota is the room the front door fills (issue 24); derived above
            # where the user nodes are known (issue 22).
            problems.append(
                "  binder:binderhub.federation: a member needs a global launch quota "
                "(LaunchQuota.total_quota), the room the front door fills; set "
                "binder:binderhub.limits.totalPods, or give limits.userNode (and the user "
                "pool's size) so that the plan derives it"
            )
        # Repository patterns against each provider's spec format (issue 22).
        spec_problems, spec_warnings = spec_format_findings(binderhub.limits)
        problems += spec_problems
        problems += replica_problems(binderhub)
        # The service's face: its files, read and checked (issue 22, item 6).
        if cfg.tls is not None:
            site, site_problems, site_warnings = plan_site(
                binderhub,
                stack,
                values_root or values.HELM_CONFIGS,
                ingress_tls(cfg.tls).url(binderhub.host),
            )
            problems += site_problems
            warnings += site_warnings
        warnings += spec_warnings
    if problems or binderhub is None or cfg.registry is None or cfg.tls is None:
        raise ConfigError("Invalid release configuration:\n" + "\n".join(problems))
    for warning in warnings:
        pulumi.log.warn(warning)
    if derivation is not None:
        pulumi.log.info(
            f"binder:binderhub.limits: global launch quota {derivation.total} "
            f"(LaunchQuota.total_quota): {derivation.explanation}; set limits.totalPods to "
            "override"
        )
    return ReleasesPlan(
        stack=stack,
        config=cfg,
        binderhub=binderhub,
        registry=cfg.registry,
        tls=cfg.tls,
        ingress_tls=ingress_tls(cfg.tls),
        enabled=enabled,
        file_values=MappingProxyType(file_values),
        storage=storage,
        site=site,
    )


def _relative(path: Path) -> str:
    """``helm_configs/<dir>/<file>`` for a message (the last three parts of the path)."""
    return "/".join(path.parts[-3:])


def plan_registry_target(
    plan: ReleasesPlan, cluster: ClusterInputs, material: SecretMaterial
) -> ReleasesPlan:
    """``plan`` with its registry target (:func:`components.registry.target.plan_registry`)
    and how its Docker Hub images are pulled (:func:`plan_dockerhub_pulls`, whose pull-Secret
    layer joins :attr:`ReleasesPlan.file_values`): a ConfigError for Docker Hub without an
    account, Artifact Registry off GKE, or a Docker Hub image pulled anonymously."""
    has_registry_account = (
        material.registry_username is not None and material.registry_password is not None
    )
    if plan.config.harbor.enabled:
        if not plan.ingress_tls.enabled:
            # The nodes' container runtime pulls over HTTPS unless each node is configured to
            # trust a plain-HTTP registry, which the program does not do.
            raise ConfigError(
                "binder:harbor.enabled is true but binder:tls.source is 'none': the nodes "
                "pull the built images from Harbor over HTTPS; set binder:tls.source to "
                "'letsencrypt' or 'institution', or push to a registry of your own "
                "(binder:registry.url) and set binder:harbor.enabled to false"
            )
        target = harbor_registry_target(plan.config.harbor, plan.registry, has_registry_account)
        # Harbor's push robot is the registry account (components/releases/harbor.py).
        has_registry_account = True
    else:
        target = plan_registry(
            plan.registry,
            plan.config.cluster,
            gcp_project=cluster.gcp_project,
            gcp_location=cluster.gcp_location,
            has_credentials=has_registry_account,
        )
    pulls = plan_dockerhub_pulls(
        plan.registry,
        plan.config.cluster,
        target,
        dockerhub_images((p.release for p in plan.enabled), plan.binderhub.image_builder_type),
        has_dockerhub_account=material.dockerhub_username is not None
        and material.dockerhub_password is not None,
        has_registry_account=has_registry_account,
    )
    file_values = {
        release: (*layers, *([layer] if (layer := pulls.values_layer(release)) else []))
        for release, layers in plan.file_values.items()
    }
    return replace(
        plan,
        registry_target=target,
        dockerhub_pulls=pulls,
        file_values=MappingProxyType(file_values),
    )


def check_release_secrets(plan: ReleasesPlan, material: SecretMaterial) -> None:
    """Release settings that need a secret, checked against what the secrets files and config
    gave (:func:`components.secrets.material.load_secret_material`); a ConfigError naming the
    setting. Looks only at whether a secret is given, never at its value."""
    cfg = plan.config
    has_certificate = material.tls_certificate is not None and material.tls_key is not None
    check_oauth_client(
        plan.binderhub.auth,
        material.oauth_client_id is not None and material.oauth_client_secret is not None,
        oauth_callback_url(plan.ingress_tls, plan.binderhub.hub_host),
    )
    check_institution_certificate(plan.tls.source, has_certificate)
    if cfg.monitoring.enabled:
        check_grafana_certificate(cfg.monitoring, plan.tls.source, has_certificate)
        # Alertmanager's receiver: an SMTP login needs its password (issue 11).
        check_alert_credential(cfg.monitoring.alerts, material.alertmanager_credential is not None)
    if cfg.logging.enabled:
        check_output_credentials(cfg.logging.output, material.logging_password is not None)
    warning = github_token_warning(
        plan.binderhub,
        material.github_access_token is not None
        or (material.github_client_id is not None and material.github_client_secret is not None),
    )
    if warning:
        pulumi.log.warn(warning)
