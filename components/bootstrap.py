"""Cluster bootstrap: namespaces, the deploy agent's access and user accounts.

Once a cluster exists it is initialised before anything is deployed on it. Everything here is
created on the Kubernetes provider inherited from the component's ``opts`` (the cluster's
admin credentials); afterwards a deploy agent with a dedicated ServiceAccount and the
``deployer_kubeconfig`` stack output can do all further operations. See docs/access.md.

RBAC background this module relies on:

* user-facing ClusterRoles ``admin`` / ``edit`` / ``view``:
  https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
* privilege-escalation prevention (why the deployer holds ``escalate`` and ``bind``):
  https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping
* long-lived ServiceAccount token Secrets:
  https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#manually-create-an-api-token-for-a-serviceaccount
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config import BUILTIN_ROLES, DeployerConfig, NamespaceConfig, UserAccount

if TYPE_CHECKING:
    from components.config import StackConfig

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


def deployer_cluster_rules(managed_namespaces: Sequence[str]) -> list[Rule]:
    """Cluster-scoped permissions of the deployer, bound with a ClusterRoleBinding."""
    names = sorted(managed_namespaces)
    return [
        _rule([""], ["namespaces"], READ),
        # `create` cannot be limited by name (the name is not known when the request is
        # authorized), so a new namespace in binder:namespaces can be created by the agent;
        # changing or deleting is limited to the managed ones.
        # https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources
        _rule([""], ["namespaces"], ["create"]),
        {**_rule([""], ["namespaces"], ["update", "patch", "delete"]), "resourceNames": names},
        # cert-manager (crds.enabled) and traefik install CRDs. No `delete`: deleting a CRD
        # deletes every object of that kind in the cluster; Helm keeps CRDs on uninstall.
        _rule(
            ["apiextensions.k8s.io"],
            ["customresourcedefinitions"],
            ("get", "list", "watch", "create", "update", "patch"),
        ),
        # Every chart here ships ClusterRoles and ClusterRoleBindings (traefik, cert-manager,
        # prometheus/kube-state-metrics, grafana sidecar, fluentd, z2jh user-scheduler).
        _rule([RBAC_GROUP], ["clusterroles", "clusterrolebindings"], MANAGE),
        # RBAC escalation prevention: a subject may only create a (Cluster)Role holding
        # permissions it has itself, and only bind a role whose permissions it has -- unless
        # it holds `escalate` / `bind`. The charts' roles grant things the deployer does not
        # hold (cluster-wide Secret reads for kube-state-metrics and grafana's sidecar,
        # nodes/proxy and /metrics for prometheus, ...). The alternatives are to hold all of
        # that directly (wider reach for every day use) or to be cluster-admin. Trade-off,
        # also in docs/access.md: a holder of this token CAN grant itself more, so the token
        # is as sensitive as an admin credential; what this role buys is that routine
        # operations cannot touch what they should not (kube-system, other namespaces, CRD
        # deletion) by mistake.
        _rule([RBAC_GROUP], ["clusterroles", "roles"], ["bind", "escalate"]),
        # cert-manager's webhook and cainjector.
        _rule(
            ["admissionregistration.k8s.io"],
            ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            MANAGE,
        ),
        # traefik's IngressClass; z2jh's PriorityClasses (scheduling.podPriority).
        _rule(["networking.k8s.io"], ["ingressclasses"], MANAGE),
        _rule(["scheduling.k8s.io"], ["priorityclasses"], MANAGE),
        # The Let's Encrypt ClusterIssuers of the TLS setup.
        _rule(["cert-manager.io"], ["clusterissuers"], MANAGE),
    ]


def object_slug(name: str) -> str:
    """A DNS-label-safe form of an identity (``alice@example.org`` -> ``alice-example-org``).

    When the mapping loses information, a short hash keeps distinct identities distinct.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "x"
    if slug != name:
        slug += "-" + hashlib.sha256(name.encode()).hexdigest()[:6]
    return slug


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

        self.namespaces = {
            ns: self._namespace(ns, ns_cfg) for ns, ns_cfg in sorted(args.namespaces.items())
        }
        deployer = args.deployer
        if deployer.namespace not in self.namespaces:
            raise ValueError(
                f"deployer namespace '{deployer.namespace}' is not among the namespaces; "
                "pass StackConfig.all_namespaces"
            )

        self.deployer_service_account, self.deployer_token = self._service_account(
            "deployer", deployer.name, deployer.token_generation
        )
        self._deployer_rbac()
        self.deployer_kubeconfig = self._kubeconfig(
            self.deployer_token, deployer.name, deployer.name, deployer.namespace
        )

        self.user_kubeconfigs = {}
        for user in args.users:
            self._user(user)

        if args.cluster_provider == "gke" and any(u.kind == "Group" for u in args.users):
            # Group subjects only match on GKE when Google Groups for RBAC is configured.
            pulumi.log.info(
                "binder:users has Google Groups: they match only if the GKE cluster has "
                "Google Groups for RBAC (authenticatorGroupsConfig) set up; see "
                "https://cloud.google.com/kubernetes-engine/docs/how-to/google-groups-rbac",
                resource=self,
            )

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

    def _namespace(self, ns: str, cfg: NamespaceConfig) -> k8s.core.v1.Namespace:
        namespace = k8s.core.v1.Namespace(
            f"{self._prefix}-ns-{ns}",
            # An explicit name, not auto-naming: releases and users refer to it.
            metadata=_meta(ns, labels=cfg.labels, annotations=cfg.annotations),
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
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

    def _deployer_rbac(self) -> None:
        deployer = self._args.deployer
        account = self.deployer_service_account
        subject = k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.name, namespace=account.metadata.namespace
        )
        base_name = f"binder:{deployer.namespace}:{deployer.name}"
        opts = pulumi.ResourceOptions(parent=self)
        if deployer.cluster_admin:
            # Opt-in only (binder:deployer.clusterAdmin): the agent can do anything.
            k8s.rbac.v1.ClusterRoleBinding(
                f"{self._prefix}-deployer-cluster-admin",
                metadata=_meta(f"{base_name}:cluster-admin"),
                role_ref=_cluster_role_ref("cluster-admin"),
                subjects=[subject],
                opts=opts,
            )
            return

        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{self._prefix}-deployer-cluster-role",
            metadata=_meta(base_name),
            rules=_policy_rules(deployer_cluster_rules(list(self.namespaces))),
            opts=opts,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._prefix}-deployer-cluster-binding",
            metadata=_meta(base_name),
            role_ref=_cluster_role_ref(cluster_role.metadata.name),
            subjects=[subject],
            opts=opts,
        )
        # A ClusterRole holding the namespaced rules once, bound per managed namespace by a
        # RoleBinding: the rules apply in those namespaces only.
        namespaced_role = k8s.rbac.v1.ClusterRole(
            f"{self._prefix}-deployer-namespace-role",
            metadata=_meta(f"{base_name}:namespaced"),
            rules=_policy_rules(DEPLOYER_NAMESPACE_RULES),
            opts=opts,
        )
        for ns, namespace in self.namespaces.items():
            k8s.rbac.v1.RoleBinding(
                f"{self._prefix}-deployer-binding-{ns}",
                metadata=_meta(base_name, namespace.metadata.name),
                role_ref=_cluster_role_ref(namespaced_role.metadata.name),
                subjects=[subject],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
            )

    # ---- users ---------------------------------------------------------------------------

    def _user(self, user: UserAccount) -> None:
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
            k8s.rbac.v1.RoleBinding(
                f"{self._prefix}-{part}-{ns}",
                metadata=_meta(object_name, namespace.metadata.name),
                role_ref=role_ref,
                subjects=[subject],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
            )


__all__ = [
    "BUILTIN_ROLES",
    "DEPLOYER_NAMESPACE_RULES",
    "ClusterBootstrap",
    "ClusterBootstrapArgs",
    "deployer_cluster_rules",
    "kubeconfig_yaml",
    "object_slug",
]
