"""What the pinned charts create cluster-wide, by release.

The deploy agent may bind, escalate or change only these ClusterRoles, and change only these
ClusterRoleBindings, webhook configurations and CRDs. Names follow each chart's templates at
the version pinned in :mod:`components.releases.charts`; docs/access.md says how to update them
when a chart is upgraded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.catalog.charts import (
    BINDERHUB,
    CERT_MANAGER,
    CRYPTNONO,
    FLUENTD,
    GRAFANA,
    PROMETHEUS,
    TRAEFIK,
)
from components.catalog.charts import NAMESPACES as RELEASE_NAMESPACES

if TYPE_CHECKING:
    from components.config.stack import StackConfig


def helm_fullname(release: str, chart: str) -> str:
    """The ``<chart>.fullname`` most charts (and subcharts) derive their object names from:
    the release name if it already contains the chart name, else ``<release>-<chart>``."""
    name = release if chart in release else f"{release}-{chart}"
    return name[:63].rstrip("-")


@dataclass(frozen=True)
class ChartClusterObjects:
    """Cluster-scoped objects, by name, that the pinned charts create with this project's
    values. The deployer may change, bind or escalate these and no others."""

    cluster_roles: tuple[str, ...] = ()
    cluster_role_bindings: tuple[str, ...] = ()
    webhook_configurations: tuple[str, ...] = ()
    """Names shared by the Mutating- and ValidatingWebhookConfiguration."""
    crds: tuple[str, ...] = ()
    """CRDs the chart installs as templates (Helm upgrades those; ``crds/`` directories are
    installed once, with the admin credentials, and never upgraded by Helm)."""
    service_accounts: tuple[str, ...] = ()
    """The chart's own ServiceAccounts as ``<namespace>/<name>``: the only subjects the
    deploy agent's bindings may name, and the only accounts it may make token Secrets for
    (enforced by :mod:`components.access.admission_guard`)."""

    def __add__(self, other: ChartClusterObjects) -> ChartClusterObjects:
        return ChartClusterObjects(
            *(
                tuple(sorted({*getattr(self, f), *getattr(other, f)}))
                for f in (
                    "cluster_roles",
                    "cluster_role_bindings",
                    "webhook_configurations",
                    "crds",
                    "service_accounts",
                )
            )
        )


def _accounts(release_namespace: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{RELEASE_NAMESPACES[release_namespace]}/{name}" for name in names)


def _binderhub_objects() -> ChartClusterObjects:
    release = BINDERHUB.release
    # binderhub chart templates/rbac.yaml: `{{ .Release.Name }}-image-cleaner` (imageCleaner
    # is on); jupyterhub subchart _helpers-names.tpl `jupyterhub.user-scheduler.fullname`:
    # `{{ .Release.Name }}-user-scheduler` while jupyterhub.fullnameOverride is "" (default).
    names = (f"{release}-image-cleaner", f"{release}-user-scheduler")
    return ChartClusterObjects(
        cluster_roles=names,
        cluster_role_bindings=names,
        # binderhub templates/rbac.yaml: `binderhub` and `<release>-image-cleaner`; the
        # jupyterhub subchart's _helpers-names.tpl `jupyterhub.*-serviceaccount.fullname`
        # with fullnameOverride "" (no prefix): hub, user-scheduler, the image pullers and
        # autohttps (each only where its part is enabled; listed so an environment may).
        service_accounts=_accounts(
            "binderhub",
            "binderhub",
            f"{release}-image-cleaner",
            "hub",
            "user-scheduler",
            "hook-image-awaiter",
            "hook-image-puller",
            "continuous-image-puller",
            "autohttps",
        ),
    )


def _traefik_objects() -> ChartClusterObjects:
    # templates/_helpers.tpl `traefik.clusterRoleName`: `<fullname>-<release namespace>`, for
    # the ClusterRole and its binding (rbac.namespaced false, rbac.aggregateTo empty).
    full = helm_fullname(TRAEFIK.release, TRAEFIK.chart)
    name = f"{full}-{RELEASE_NAMESPACES['ingress']}"
    return ChartClusterObjects(
        cluster_roles=(name,),
        cluster_role_bindings=(name,),
        # `traefik.serviceAccountName`: the fullname unless serviceAccount.name is set.
        service_accounts=_accounts("ingress", full),
    )


def _cert_manager_objects() -> ChartClusterObjects:
    full = helm_fullname(CERT_MANAGER.release, CERT_MANAGER.chart)
    # templates/rbac.yaml, cainjector-rbac.yaml, webhook-rbac.yaml: each controller's
    # ClusterRole has a ClusterRoleBinding of the same name ...
    bound = (
        f"{full}-cainjector",
        f"{full}-controller-issuers",
        f"{full}-controller-clusterissuers",
        f"{full}-controller-certificates",
        f"{full}-controller-orders",
        f"{full}-controller-challenges",
        f"{full}-controller-ingress-shim",
        f"{full}-controller-approve:cert-manager-io",
        f"{full}-controller-certificatesigningrequests",
        f"{full}-webhook:subjectaccessreviews",
    )
    # ... and two unbound ones, `-view` and `-edit`. helm_configs/base/cert-manager.yaml sets
    # global.rbac.aggregateClusterRoles false: then they carry no aggregate-to-* labels (so
    # their rules do not flow into the built-in view/edit/admin, which the admission guard
    # would refuse anyway) and `-cluster-view` is not rendered at all.
    unbound = (f"{full}-view", f"{full}-edit")
    return ChartClusterObjects(
        cluster_roles=bound + unbound,
        cluster_role_bindings=bound,
        # webhook-mutating-webhook.yaml / webhook-validating-webhook.yaml: `webhook.fullname`.
        webhook_configurations=(f"{full}-webhook",),
        # crds.enabled (set by the program): the CRDs are chart templates.
        crds=(
            "certificaterequests.cert-manager.io",
            "certificates.cert-manager.io",
            "challenges.acme.cert-manager.io",
            "clusterissuers.cert-manager.io",
            "issuers.cert-manager.io",
            "orders.acme.cert-manager.io",
        ),
        # _helpers.tpl `*.serviceAccountName`: `<fullname>`, `<fullname>-cainjector`,
        # `-webhook`, `-startupapicheck` (serviceAccount.create on, no name set).
        service_accounts=_accounts(
            "cert-manager",
            full,
            f"{full}-cainjector",
            f"{full}-webhook",
            f"{full}-startupapicheck",
        ),
    )


def _prometheus_objects() -> ChartClusterObjects:
    release = PROMETHEUS.release
    # templates/clusterrole(binding).yaml `prometheus.server.fullname`; the
    # kube-state-metrics subchart names its `<fullname>`. The prometheus-node-exporter
    # subchart renders a ClusterRole only with kubeRBACProxy.enabled (its
    # templates/clusterrole.yaml), which we leave off: no role of its to change or bind.
    names = (
        f"{helm_fullname(release, PROMETHEUS.chart)}-server",
        helm_fullname(release, "kube-state-metrics"),
    )
    # The same names for their ServiceAccounts (`prometheus.serviceAccountName.server`, the
    # subcharts' `*.serviceAccountName`), node-exporter's too. Alertmanager (on,
    # helm_configs/base/prometheus.yaml) has a ServiceAccount but no cluster role:
    # charts/alertmanager/templates/_helpers.tpl `alertmanager.serviceAccountName` =
    # `alertmanager.fullname` = `<release>-alertmanager`. The pushgateway is disabled.
    return ChartClusterObjects(
        cluster_roles=names,
        cluster_role_bindings=names,
        service_accounts=_accounts(
            "monitoring",
            *names,
            helm_fullname(release, "prometheus-node-exporter"),
            helm_fullname(release, "alertmanager"),
        ),
    )


def _grafana_objects() -> ChartClusterObjects:
    full = helm_fullname(GRAFANA.release, GRAFANA.chart)
    # templates/clusterrole.yaml / clusterrolebinding.yaml (rbac.namespaced false).
    return ChartClusterObjects(
        cluster_roles=(f"{full}-clusterrole",),
        cluster_role_bindings=(f"{full}-clusterrolebinding",),
        # `grafana.serviceAccountName`: the fullname (serviceAccount.create on).
        service_accounts=_accounts("monitoring", full),
    )


def _fluentd_objects() -> ChartClusterObjects:
    full = helm_fullname(FLUENTD.release, FLUENTD.chart)
    # `fluentd.serviceAccountName`: the fullname (serviceAccount.create on).
    return ChartClusterObjects(
        cluster_roles=(full,),
        cluster_role_bindings=(full,),
        service_accounts=_accounts("logging", full),
    )


#: The cluster-scoped RBAC, webhooks and CRDs each release's chart creates, by release name.
#: Kept by hand from the pinned charts' templates (the chart data beside the repository holds
#: no templates). When a chart pin changes, render it (``helm template <release> <chart>
#: --version <pin> -n <namespace> -f helm_configs/base/<release>.yaml | grep -A3 -E
#: 'kind: (ClusterRole|ClusterRoleBinding|MutatingWebhookConfiguration|
#: ValidatingWebhookConfiguration|CustomResourceDefinition)$'``) and update the entry; a
#: missing name shows up as "forbidden" when the deploy agent upgrades that release.
CHART_CLUSTER_OBJECTS: dict[str, ChartClusterObjects] = {
    BINDERHUB.release: _binderhub_objects(),
    TRAEFIK.release: _traefik_objects(),
    CERT_MANAGER.release: _cert_manager_objects(),
    PROMETHEUS.release: _prometheus_objects(),
    GRAFANA.release: _grafana_objects(),
    FLUENTD.release: _fluentd_objects(),
    # templates/: a DaemonSet and ConfigMaps, nothing cluster-wide, no ServiceAccount.
    CRYPTNONO.release: ChartClusterObjects(),
}


def enabled_releases(cfg: StackConfig) -> list[str]:
    """The Helm releases a stack installs (components/releases/releases.py creates the same set)."""
    enabled = {
        BINDERHUB.release: True,
        TRAEFIK.release: cfg.ingress.controller == "traefik",
        CERT_MANAGER.release: cfg.cert_manager.enabled,
        PROMETHEUS.release: cfg.monitoring.enabled,
        GRAFANA.release: cfg.monitoring.enabled,
        FLUENTD.release: cfg.logging.enabled,
        CRYPTNONO.release: cfg.cryptnono_enabled,
    }
    return [release for release, on in enabled.items() if on]


def chart_cluster_objects(releases: Iterable[str]) -> ChartClusterObjects:
    """What the charts of ``releases`` create cluster-wide, merged."""
    total = ChartClusterObjects()
    for release in releases:
        total += CHART_CLUSTER_OBJECTS[release]
    return total
