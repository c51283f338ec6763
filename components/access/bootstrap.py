"""Cluster bootstrap: namespaces, the deploy agent's access and user accounts.

Once a cluster exists it is initialised before anything is deployed on it. Everything here is
created on the Kubernetes provider inherited from the component's ``opts`` (the cluster's
admin credentials); afterwards a deploy agent with a dedicated ServiceAccount and the
``deployer_kubeconfig`` stack output can upgrade the releases. Its RBAC is scoped (it may
bind, escalate and change only the charts' own cluster roles), which guards against mistakes
but is not a security boundary; widening access needs the admin credentials. See
docs/access.md.

RBAC background this module relies on:

* user-facing ClusterRoles ``admin`` / ``edit`` / ``view``:
  https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
* privilege-escalation prevention (why the deployer holds ``escalate`` and ``bind``, and why
  only on the charts' own roles):
  https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping
  -- the API server checks ``bind`` against the *referenced role's* name (so ``resourceNames``
  limits it, also on create) and ``escalate`` against the name in the request URL (empty on
  create, so a named ``escalate`` covers updates of those roles only); see
  kubernetes/kubernetes ``pkg/registry/rbac/escalation_check.go``;
* long-lived ServiceAccount token Secrets:
  https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#manually-create-an-api-token-for-a-serviceaccount
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config.access import (
    BUILTIN_ROLES,
    DeployerConfig,
    NamespaceConfig,
    UserAccount,
    identity_slug,
)
from components.releases.charts import (
    BINDERHUB,
    CERT_MANAGER,
    FLUENTD,
    GRAFANA,
    PROMETHEUS,
    TRAEFIK,
)
from components.releases.releases import NAMESPACES as RELEASE_NAMESPACES

if TYPE_CHECKING:
    from components.config.stack import StackConfig

RBAC_GROUP = "rbac.authorization.k8s.io"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"  # noqa: S105 (a type, not a secret)
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "binder"}

#: Verbs Helm (and Pulumi's server-side apply) use to manage an object's whole life cycle.
#: Not ``deletecollection``: neither tool issues it.
MANAGE = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")

Rule = dict[str, list[str]]


def _rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> Rule:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


#: What the deployer may do in each namespace this program manages: everything a Helm
#: release of BinderHub/JupyterHub, traefik, cert-manager, prometheus, grafana and fluentd
#: creates there, plus the release records Helm keeps as Secrets in the release's namespace.
#: Bound with a RoleBinding per managed namespace, so it grants nothing in kube-system or in
#: other tenants' namespaces.
DEPLOYER_NAMESPACE_RULES: tuple[Rule, ...] = (
    # Helm stores each release revision as a Secret in the release namespace
    # (https://helm.sh/docs/topics/advanced/#storage-backends); charts ship ConfigMaps,
    # Secrets, Services, ServiceAccounts, PVCs (hub DB, prometheus, grafana) and hook Pods.
    _rule(
        [""],
        [
            "configmaps",
            "secrets",
            "services",
            "serviceaccounts",
            "persistentvolumeclaims",
            "pods",
            "resourcequotas",
            "limitranges",
        ],
        MANAGE,
    ),
    # Read-only: `helm --wait` and Pulumi's await logic follow these; events and logs are
    # what a CI agent shows when a rollout fails. Writing Endpoints is deliberately absent
    # (CVE-2021-25740, also removed from the built-in `edit` role).
    _rule([""], ["endpoints", "events", "pods/log"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(["events.k8s.io"], ["events"], READ),
    _rule(["apps"], ["deployments", "statefulsets", "daemonsets"], MANAGE),
    _rule(["apps"], ["replicasets", "controllerrevisions"], READ),
    _rule(["batch"], ["jobs", "cronjobs"], MANAGE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], MANAGE),
    _rule(["policy"], ["poddisruptionbudgets"], MANAGE),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], MANAGE),
    # Charts ship Roles/RoleBindings for their own pods (hub, user-scheduler, grafana sidecar).
    _rule([RBAC_GROUP], ["roles", "rolebindings"], MANAGE),
    # ... some with permissions the deployer does not hold (cert-manager's `leases` and
    # `serviceaccounts/token` Roles), which needs `escalate`/`bind` on Roles. Not limited by
    # name: a Role only grants inside its namespace, i.e. inside a managed namespace, where
    # the deployer already controls every ServiceAccount (it creates their pods). Binding a
    # *ClusterRole* from a RoleBinding is checked against `clusterroles`, which is limited
    # to the charts' own names (deployer_cluster_rules).
    _rule([RBAC_GROUP], ["roles"], ["bind", "escalate"]),
    # Custom resources of the CRDs this project installs: cert-manager Certificates/Issuers
    # and traefik's IngressRoute & co.
    _rule(["cert-manager.io"], ["certificates", "certificaterequests", "issuers"], MANAGE),
    _rule(
        ["traefik.io"],
        [
            "ingressroutes",
            "ingressroutetcps",
            "ingressrouteudps",
            "middlewares",
            "middlewaretcps",
            "serverstransports",
            "serverstransporttcps",
            "tlsoptions",
            "tlsstores",
            "traefikservices",
        ],
        MANAGE,
    ),
)


def _helm_fullname(release: str, chart: str) -> str:
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

    def __add__(self, other: ChartClusterObjects) -> ChartClusterObjects:
        return ChartClusterObjects(
            *(
                tuple(sorted({*getattr(self, f), *getattr(other, f)}))
                for f in ("cluster_roles", "cluster_role_bindings", "webhook_configurations",
                          "crds")
            )
        )


def _binderhub_objects() -> ChartClusterObjects:
    release = BINDERHUB.release
    # binderhub chart templates/rbac.yaml: `{{ .Release.Name }}-image-cleaner` (imageCleaner
    # is on); jupyterhub subchart _helpers-names.tpl `jupyterhub.user-scheduler.fullname`:
    # `{{ .Release.Name }}-user-scheduler` while jupyterhub.fullnameOverride is "" (default).
    names = (f"{release}-image-cleaner", f"{release}-user-scheduler")
    return ChartClusterObjects(cluster_roles=names, cluster_role_bindings=names)


def _traefik_objects() -> ChartClusterObjects:
    # templates/_helpers.tpl `traefik.clusterRoleName`: `<fullname>-<release namespace>`, for
    # the ClusterRole and its binding (rbac.namespaced false, rbac.aggregateTo empty).
    name = f"{_helm_fullname(TRAEFIK.release, TRAEFIK.chart)}-{RELEASE_NAMESPACES['ingress']}"
    return ChartClusterObjects(cluster_roles=(name,), cluster_role_bindings=(name,))


def _cert_manager_objects() -> ChartClusterObjects:
    full = _helm_fullname(CERT_MANAGER.release, CERT_MANAGER.chart)
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
    # ... and three unbound ones aggregate into the built-in view/edit/admin roles
    # (global.rbac.aggregateClusterRoles, on by default).
    aggregated = (f"{full}-cluster-view", f"{full}-view", f"{full}-edit")
    return ChartClusterObjects(
        cluster_roles=bound + aggregated,
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
    )


def _prometheus_objects() -> ChartClusterObjects:
    release = PROMETHEUS.release
    # templates/clusterrole(binding).yaml `prometheus.server.fullname`; the
    # kube-state-metrics and prometheus-node-exporter subcharts name theirs `<fullname>`.
    names = (
        f"{_helm_fullname(release, PROMETHEUS.chart)}-server",
        _helm_fullname(release, "kube-state-metrics"),
        _helm_fullname(release, "prometheus-node-exporter"),
    )
    return ChartClusterObjects(cluster_roles=names, cluster_role_bindings=names)


def _grafana_objects() -> ChartClusterObjects:
    full = _helm_fullname(GRAFANA.release, GRAFANA.chart)
    # templates/clusterrole.yaml / clusterrolebinding.yaml (rbac.namespaced false).
    return ChartClusterObjects(
        cluster_roles=(f"{full}-clusterrole",),
        cluster_role_bindings=(f"{full}-clusterrolebinding",),
    )


def _fluentd_objects() -> ChartClusterObjects:
    full = _helm_fullname(FLUENTD.release, FLUENTD.chart)
    return ChartClusterObjects(cluster_roles=(full,), cluster_role_bindings=(full,))


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
    }
    return [release for release, on in enabled.items() if on]


def chart_cluster_objects(releases: Iterable[str]) -> ChartClusterObjects:
    """What the charts of ``releases`` create cluster-wide, merged."""
    total = ChartClusterObjects()
    for release in releases:
        total += CHART_CLUSTER_OBJECTS[release]
    return total


def _named(
    groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str], names: Sequence[str]
) -> list[Rule]:
    # An EMPTY resourceNames list means "every name": never emit one.
    return [{**_rule(groups, resources, verbs), "resourceNames": sorted(names)}] if names else []


def deployer_cluster_rules(
    managed_namespaces: Sequence[str], charts: ChartClusterObjects
) -> list[Rule]:
    """Cluster-scoped permissions of the deployer, bound with a ClusterRoleBinding.

    ``create`` cannot be limited by name (the name is not known when the request is
    authorized: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources),
    so every kind the charts create cluster-wide is creatable; changing and deleting is limited
    to the names in ``charts``, and to the ``managed_namespaces``.
    """
    admission = "admissionregistration.k8s.io"
    webhooks = ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
    return [
        _rule([""], ["namespaces"], READ),
        # No `create`: a new namespace widens the deployer's own permissions (this role's
        # resourceNames, a RoleBinding in it), which only the admin credentials may do.
        *_named([""], ["namespaces"], ["update", "patch", "delete"], managed_namespaces),
        # cert-manager (crds.enabled) installs CRDs. No `delete`: deleting a CRD deletes every
        # object of that kind in the cluster; Helm keeps CRDs on uninstall.
        _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], (*READ, "create")),
        *_named(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["update", "patch"],
                charts.crds),
        # Every chart here ships ClusterRoles and ClusterRoleBindings. Creating is open (see
        # above), but a new ClusterRole may only hold what the deployer holds itself, and a
        # new binding may only refer to a role the deployer holds or may `bind`.
        _rule([RBAC_GROUP], ["clusterroles", "clusterrolebindings"], (*READ, "create")),
        # RBAC escalation prevention lets a subject write a role with permissions it lacks
        # only with `escalate`, and bind one only with `bind`. The charts' roles grant what
        # the deployer does not hold (cluster-wide Secret reads, nodes/proxy, ...), and every
        # chart upgrade rewrites them (at least their labels). So: `escalate`, `bind` and
        # changes ONLY on the charts' own roles -- never cluster-admin, admin/edit/view,
        # system:* or the deployer's own roles. docs/access.md says what this does and does
        # not prevent.
        *_named([RBAC_GROUP], ["clusterroles"],
                ["update", "patch", "delete", "bind", "escalate"], charts.cluster_roles),
        *_named([RBAC_GROUP], ["clusterrolebindings"], ["update", "patch", "delete"],
                charts.cluster_role_bindings),
        # cert-manager's webhook (the cainjector keeps its CA bundle up to date).
        _rule([admission], webhooks, (*READ, "create")),
        *_named([admission], webhooks, ["update", "patch", "delete"],
                charts.webhook_configurations),
        # traefik's IngressClass; z2jh's PriorityClasses (scheduling.podPriority); fluentd's.
        _rule(["networking.k8s.io"], ["ingressclasses"], MANAGE),
        _rule(["scheduling.k8s.io"], ["priorityclasses"], MANAGE),
        # The Let's Encrypt ClusterIssuers of the TLS setup.
        _rule(["cert-manager.io"], ["clusterissuers"], MANAGE),
    ]


def object_slug(name: str) -> str:
    """A DNS-label-safe form of an identity (``alice@example.org`` -> ``alice-example-org-…``).

    When the mapping loses information, a short hash keeps distinct identities distinct
    (:func:`components.config.stack.identity_slug`, which ``load_config`` checks for clashes).
    """
    return identity_slug(name)


def kubeconfig_yaml(
    *,
    cluster_name: str,
    endpoint: str,
    ca_data: str,
    user: str,
    token: str,
    namespace: str | None,
) -> str:
    """A self-contained kubeconfig with a bearer token (usable by kubectl/helm/pulumi as is).

    https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
    """
    cluster: dict[str, Any] = {"server": endpoint}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    context: dict[str, Any] = {"cluster": cluster_name, "user": user}
    if namespace:
        context["namespace"] = namespace
    context_name = f"{user}@{cluster_name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context_name, "context": context}],
        "current-context": context_name,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


def _meta(
    name: pulumi.Input[str],
    namespace: pulumi.Input[str] | None = None,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
    labels: Mapping[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**MANAGED_BY, **(labels or {})},
        annotations=dict(annotations) if annotations else None,
    )


def _cluster_role_ref(name: pulumi.Input[str]) -> k8s.rbac.v1.RoleRefArgs:
    return k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=name)


def _policy_rules(rules: Sequence[Rule]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=rule["apiGroups"],
            resources=rule["resources"],
            verbs=rule["verbs"],
            resource_names=rule.get("resourceNames"),
        )
        for rule in rules
    ]


class _ClusterLike(Protocol):
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ca_data: pulumi.Output[str]


@dataclass(frozen=True)
class ClusterBootstrapArgs:
    """Inputs of :class:`ClusterBootstrap`."""

    namespaces: Mapping[str, NamespaceConfig]
    """Every namespace to create, by name (``StackConfig.all_namespaces``)."""
    deployer: DeployerConfig
    """The deploy agent's ServiceAccount settings."""
    users: Sequence[UserAccount]
    """User accounts to bind (validated by ``load_config``)."""
    chart_objects: ChartClusterObjects
    """What the charts of the stack's releases create cluster-wide: the only ClusterRoles the
    deployer may bind, escalate or change, and the only ClusterRoleBindings, webhook
    configurations and CRDs it may change (:func:`chart_cluster_objects`)."""
    cluster_provider: Literal["magnum", "gke", "existing"]
    """Who runs the cluster. On GKE, Group subjects need Google Groups for RBAC, which the
    component points out (identities themselves are checked by ``load_config``)."""
    cluster_name: pulumi.Input[str]
    """Name of the cluster entry in the generated kubeconfigs."""
    endpoint: pulumi.Input[str]
    """API server URL (``https://...``) written into the kubeconfigs."""
    ca_data: pulumi.Input[str]
    """Cluster CA, base64 PEM (kubeconfig ``certificate-authority-data``); may be empty when
    the API server has a publicly trusted certificate."""

    @classmethod
    def from_stack(cls, cfg: StackConfig, cluster: _ClusterLike) -> ClusterBootstrapArgs:
        """The arguments for a stack's config and its cluster component."""
        return cls(
            namespaces=cfg.all_namespaces,
            deployer=cfg.deployer,
            users=list(cfg.users),
            chart_objects=chart_cluster_objects(enabled_releases(cfg)),
            cluster_provider=cfg.cluster.provider,
            cluster_name=cluster.name,
            endpoint=cluster.endpoint,
            ca_data=cluster.ca_data,
        )


class ClusterBootstrap(pulumi.ComponentResource):
    """Namespaces, the deploy agent (ServiceAccount, RBAC, token, kubeconfig) and users."""

    namespaces: dict[str, k8s.core.v1.Namespace]
    """The Namespace objects by name; a release ``depends_on`` the ones it deploys into."""
    deployer_service_account: k8s.core.v1.ServiceAccount
    deployer_token: k8s.core.v1.Secret
    """The deployer's long-lived token Secret (replace it to rotate the token)."""
    deployer_kubeconfig: pulumi.Output[str]
    """A kubeconfig for the deploy agent. Always a secret."""
    user_kubeconfigs: dict[str, pulumi.Output[str]]
    """ServiceAccount users' kubeconfigs by user name. Each is a secret."""

    def __init__(
        self, name: str, args: ClusterBootstrapArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:bootstrap:ClusterBootstrap", name, None, opts)
        self._prefix = name
        self._args = args
        self._guards: dict[str, list[pulumi.Resource]] = {}
        deployer = args.deployer
        if deployer.namespace not in args.namespaces:
            raise ValueError(
                f"deployer namespace '{deployer.namespace}' is not among the namespaces; "
                "pass StackConfig.all_namespaces"
            )
        #: Where the deployer works: every managed namespace but its own, whose Secrets are
        #: its and the ServiceAccount users' tokens.
        self._deployer_namespaces = sorted(ns for ns in args.namespaces if ns != deployer.namespace)
        self._deployer_subject: k8s.rbac.v1.SubjectArgs | None = None

        # The deployer's cluster-wide role first: it names the namespaces the deployer may
        # patch. A run by the deployer itself that adds a namespace then stops at this role
        # (only the admin credentials may widen it) before touching the Namespace, instead
        # of racing it; with the admin credentials the order costs nothing.
        cluster_role = None if deployer.cluster_admin else self._deployer_cluster_role()
        self.namespaces = {
            ns: self._namespace(ns, ns_cfg, cluster_role)
            for ns, ns_cfg in sorted(args.namespaces.items())
        }

        self.deployer_service_account, self.deployer_token = self._service_account(
            "deployer", deployer.name, deployer.token_generation
        )
        self._deployer_rbac(cluster_role)
        self.deployer_kubeconfig = self._kubeconfig(
            self.deployer_token, deployer.name, deployer.name, deployer.namespace
        )

        self.user_kubeconfigs = {}
        legacy_names = Counter(
            self._legacy_binding_name(user, ns)
            for user in args.users
            for ns in user.namespaces or []
        )
        for user in args.users:
            self._user(user, legacy_names)

        self.register_outputs(
            {
                "namespaces": {ns: r.metadata.name for ns, r in self.namespaces.items()},
                "deployer_service_account": self.deployer_service_account.metadata.name,
                "deployer_kubeconfig": self.deployer_kubeconfig,
                "user_kubeconfigs": self.user_kubeconfigs,
            }
        )

    # ---- public helpers ------------------------------------------------------------------

    def ready_for(self, namespace: str) -> list[pulumi.Resource]:
        """What a release in ``namespace`` must wait for: the Namespace and its guard rails.

        A LimitRange created after the pods does not give them defaults, and a CPU/memory
        quota rejects pods without requests, so a release waits for both, not only for the
        Namespace. Use as ``depends_on=bootstrap.ready_for("binder")``.
        """
        if namespace not in self.namespaces:
            raise KeyError(
                f"namespace '{namespace}' is not managed by the bootstrap; declare it in "
                "binder:namespaces"
            )
        return [self.namespaces[namespace], *self._guards[namespace]]

    # ---- namespaces ----------------------------------------------------------------------

    def _namespace(
        self, ns: str, cfg: NamespaceConfig, deployer_role: k8s.rbac.v1.ClusterRole | None
    ) -> k8s.core.v1.Namespace:
        namespace = k8s.core.v1.Namespace(
            f"{self._prefix}-ns-{ns}",
            # An explicit name, not auto-naming: releases and users refer to it.
            metadata=_meta(ns, labels=cfg.labels, annotations=cfg.annotations),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=cfg.protect,
                depends_on=[deployer_role] if deployer_role is not None else None,
            ),
        )
        # Parented to the component, not the Namespace: children inherit `protect`, and a
        # protected namespace must not make its quota or bindings undeletable.
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        guards: list[pulumi.Resource] = []
        if cfg.quota is not None:
            guards.append(
                k8s.core.v1.ResourceQuota(
                    f"{self._prefix}-quota-{ns}",
                    metadata=_meta("quota", namespace.metadata.name),
                    spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=dict(cfg.quota.hard)),
                    opts=in_ns,
                )
            )
        if cfg.limits:
            guards.append(
                k8s.core.v1.LimitRange(
                    f"{self._prefix}-limits-{ns}",
                    metadata=_meta("limits", namespace.metadata.name),
                    spec=k8s.core.v1.LimitRangeSpecArgs(
                        limits=[
                            k8s.core.v1.LimitRangeItemArgs(
                                type=item.type,
                                default=item.default,
                                default_request=item.default_request,
                                max=item.max,
                                min=item.min,
                            )
                            for item in cfg.limits
                        ]
                    ),
                    opts=in_ns,
                )
            )
        self._guards[ns] = guards
        return namespace

    # ---- service accounts and tokens -----------------------------------------------------

    def _service_account(
        self, part: str, sa_name: str, generation: int
    ) -> tuple[k8s.core.v1.ServiceAccount, k8s.core.v1.Secret]:
        """A ServiceAccount in the deployer namespace and a long-lived token Secret for it."""
        namespace = self.namespaces[self._args.deployer.namespace]
        account = k8s.core.v1.ServiceAccount(
            f"{self._prefix}-{part}-sa",
            metadata=_meta(sa_name, namespace.metadata.name),
            # The agent talks to the API server from outside; no pod mounts this account.
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        token = k8s.core.v1.Secret(
            f"{self._prefix}-{part}-token",
            # A new name per generation: bumping it replaces the Secret (create the new, then
            # delete the old), and deleting a token Secret revokes its token.
            metadata=_meta(
                f"{sa_name}-token-{generation}",
                account.metadata.namespace,
                annotations={SA_NAME_ANNOTATION: account.metadata.name},
            ),
            type=TOKEN_SECRET_TYPE,
            # The token controller deletes token Secrets of accounts that do not exist yet
            # (kubernetes/kubernetes#111556), so the account must come first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        return account, token

    def _kubeconfig(
        self, token_secret: k8s.core.v1.Secret, sa_name: str, user: str, namespace: str | None
    ) -> pulumi.Output[str]:
        """A kubeconfig for the token in ``token_secret``; a secret Output.

        pulumi-kubernetes waits until the token controller has filled a service-account-token
        Secret's ``data`` (pulumi/pulumi-kubernetes#2048), so ``data.token`` is there.
        """
        secret_name = f"the token Secret of {self._args.deployer.namespace}/{sa_name}"

        def decode(data: Mapping[str, str] | None) -> str:
            if not data or not data.get("token"):
                raise pulumi.RunError(
                    f"{secret_name} has no token: the cluster's token controller did "
                    "not fill it. Check that kube-controller-manager runs with "
                    "--service-account-private-key-file, then `pulumi up` again."
                )
            return base64.b64decode(data["token"]).decode()

        args = self._args
        text = pulumi.Output.all(
            pulumi.Output.from_input(args.cluster_name),
            pulumi.Output.from_input(args.endpoint),
            pulumi.Output.from_input(args.ca_data),
            token_secret.data.apply(decode),
        ).apply(
            lambda v: kubeconfig_yaml(
                cluster_name=v[0],
                endpoint=v[1],
                ca_data=v[2],
                user=user,
                token=v[3],
                namespace=namespace,
            )
        )
        return pulumi.Output.secret(text)

    # ---- the deployer's RBAC -------------------------------------------------------------

    def _deployer_base_name(self) -> str:
        deployer = self._args.deployer
        return f"binder:{deployer.namespace}:{deployer.name}"

    def _deployer_cluster_role(self) -> k8s.rbac.v1.ClusterRole:
        return k8s.rbac.v1.ClusterRole(
            f"{self._prefix}-deployer-cluster-role",
            metadata=_meta(self._deployer_base_name()),
            rules=_policy_rules(
                deployer_cluster_rules(self._deployer_namespaces, self._args.chart_objects)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _deployer_rbac(self, cluster_role: k8s.rbac.v1.ClusterRole | None) -> None:
        account = self.deployer_service_account
        subject = k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.name, namespace=account.metadata.namespace
        )
        base_name = self._deployer_base_name()
        opts = pulumi.ResourceOptions(parent=self)
        if cluster_role is None:
            # Opt-in only (binder:deployer.clusterAdmin): the agent can do anything.
            k8s.rbac.v1.ClusterRoleBinding(
                f"{self._prefix}-deployer-cluster-admin",
                metadata=_meta(f"{base_name}:cluster-admin"),
                role_ref=_cluster_role_ref("cluster-admin"),
                subjects=[subject],
                opts=opts,
            )
            return

        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._prefix}-deployer-cluster-binding",
            metadata=_meta(base_name),
            role_ref=_cluster_role_ref(cluster_role.metadata.name),
            subjects=[subject],
            opts=opts,
        )
        # A ClusterRole holding the namespaced rules once, bound per managed namespace by a
        # RoleBinding: the rules apply in those namespaces only -- not in the deployer's own
        # namespace, whose Secrets are the deployer's and the ServiceAccount users' tokens.
        namespaced_role = k8s.rbac.v1.ClusterRole(
            f"{self._prefix}-deployer-namespace-role",
            metadata=_meta(f"{base_name}:namespaced"),
            rules=_policy_rules(DEPLOYER_NAMESPACE_RULES),
            opts=opts,
        )
        for ns in self._deployer_namespaces:
            namespace = self.namespaces[ns]
            k8s.rbac.v1.RoleBinding(
                f"{self._prefix}-deployer-binding-{ns}",
                metadata=_meta(base_name, namespace.metadata.name),
                role_ref=_cluster_role_ref(namespaced_role.metadata.name),
                subjects=[subject],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
            )

    # ---- users ---------------------------------------------------------------------------

    def _legacy_binding_name(self, user: UserAccount, ns: str) -> str:
        """The ambiguous name RoleBindings had before (``a`` in ``b-c`` = ``a-b`` in ``c``)."""
        return f"{self._prefix}-user-{object_slug(user.name)}-{ns}"

    def _user(self, user: UserAccount, legacy_names: Counter[str]) -> None:
        slug = object_slug(user.name)
        part = f"user-{slug}"
        if user.kind == "ServiceAccount":
            account, token = self._service_account(part, user.name, user.token_generation or 1)
            subject = k8s.rbac.v1.SubjectArgs(
                kind="ServiceAccount",
                name=account.metadata.name,
                namespace=account.metadata.namespace,
            )
            namespaces = user.namespaces or []
            self.user_kubeconfigs[user.name] = self._kubeconfig(
                token, user.name, user.name, namespaces[0] if namespaces else None
            )
        else:
            subject = k8s.rbac.v1.SubjectArgs(kind=user.kind, name=user.name, api_group=RBAC_GROUP)

        # admin/edit/view are Kubernetes' user-facing ClusterRoles of the same name; any other
        # role is a ClusterRole declared in binder:customRoles (checked by load_config).
        role_ref = _cluster_role_ref(user.role)
        object_name = f"binder:{user.kind.lower()}:{slug}"
        if user.namespaces is None:
            k8s.rbac.v1.ClusterRoleBinding(
                f"{self._prefix}-{part}",
                metadata=_meta(object_name),
                role_ref=role_ref,
                subjects=[subject],
                opts=pulumi.ResourceOptions(parent=self),
            )
            return
        for ns in user.namespaces:
            namespace = self.namespaces[ns]
            # `:` appears neither in a slug nor in a namespace name, so (user, namespace) maps
            # to exactly one name; slugs themselves are unique (load_config checks).
            legacy = self._legacy_binding_name(user, ns)
            k8s.rbac.v1.RoleBinding(
                f"{self._prefix}-{part}:{ns}",
                metadata=_meta(object_name, namespace.metadata.name),
                role_ref=role_ref,
                subjects=[subject],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[namespace],
                    # Stacks created with the old names keep their bindings (no delete and
                    # re-create); an old name two bindings shared never reached a state.
                    aliases=[pulumi.Alias(name=legacy)] if legacy_names[legacy] == 1 else None,
                ),
            )


__all__ = [
    "BUILTIN_ROLES",
    "CHART_CLUSTER_OBJECTS",
    "DEPLOYER_NAMESPACE_RULES",
    "ChartClusterObjects",
    "ClusterBootstrap",
    "ClusterBootstrapArgs",
    "chart_cluster_objects",
    "deployer_cluster_rules",
    "enabled_releases",
    "kubeconfig_yaml",
    "object_slug",
]
