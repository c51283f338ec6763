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

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.config.access import (
    DeployerConfig,
    NamespaceConfig,
    UserAccount,
)

if TYPE_CHECKING:
    from components.config.stack import StackConfig

from components.access.accounts import service_account_with_token, token_kubeconfig
from components.access.admission_guard import (
    DeployerAdmissionGuard,
    DeployerAdmissionGuardArgs,
)
from components.access.chart_objects import (
    ChartClusterObjects,
    chart_cluster_objects,
    enabled_releases,
    program_objects,
)
from components.access.deployer_rules import DEPLOYER_NAMESPACE_RULES, deployer_cluster_rules
from components.access.namespaces import managed_namespace
from components.access.objects import (
    RBAC_GROUP,
    cluster_role_ref,
    meta,
    object_slug,
    policy_rules,
)
from components.access.pod_security import namespace_levels


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
    pod_security: Mapping[str, str]
    """The Pod Security level of each namespace (:func:`namespace_levels`, checked by the
    plan), written as its Pod Security Admission labels."""
    kubernetes_version: str
    """The cluster's minor version (``1.33``): the Pod Security Standards version pinned."""
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
            chart_objects=chart_cluster_objects(enabled_releases(cfg), program_objects(cfg)),
            pod_security=namespace_levels(cfg),
            kubernetes_version=cfg.cluster.kubernetes_version,
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
    admission_guard: DeployerAdmissionGuard | None
    """The ValidatingAdmissionPolicy on the deploy agent's requests (not with clusterAdmin)."""

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

        cluster_role = None if deployer.cluster_admin else self._deployer_cluster_role()
        self.namespaces = {
            ns: self._namespace(ns, ns_cfg) for ns, ns_cfg in sorted(args.namespaces.items())
        }

        self.deployer_service_account, self.deployer_token = self._service_account(
            "deployer", deployer.name, deployer.token_generation
        )
        self._deployer_rbac(cluster_role)
        #: What RBAC cannot say (binding subjects, webhook names, aggregation labels, token
        #: Secrets' accounts), judged per request. None when the agent is cluster-admin,
        #: which could delete the policy anyway.
        self.admission_guard = (
            None
            if deployer.cluster_admin
            else DeployerAdmissionGuard(
                f"{self._prefix}-admission-guard",
                DeployerAdmissionGuardArgs(
                    deployer_namespace=deployer.namespace,
                    deployer_name=deployer.name,
                    chart_objects=args.chart_objects,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        )
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

    # ---- namespaces, service accounts and tokens ------------------------------------------

    def _namespace(self, ns: str, cfg: NamespaceConfig) -> k8s.core.v1.Namespace:
        namespace, self._guards[ns] = managed_namespace(
            self,
            self._prefix,
            ns,
            cfg,
            pod_security=self._args.pod_security[ns],
            kubernetes_version=self._args.kubernetes_version,
        )
        return namespace

    def _service_account(
        self, part: str, sa_name: str, generation: int
    ) -> tuple[k8s.core.v1.ServiceAccount, k8s.core.v1.Secret]:
        """A ServiceAccount in the deployer namespace and a long-lived token Secret for it."""
        namespace = self.namespaces[self._args.deployer.namespace]
        return service_account_with_token(self, self._prefix, part, sa_name, generation, namespace)

    def _kubeconfig(
        self, token_secret: k8s.core.v1.Secret, sa_name: str, user: str, namespace: str | None
    ) -> pulumi.Output[str]:
        args = self._args
        return token_kubeconfig(
            token_secret,
            secret_name=f"the token Secret of {args.deployer.namespace}/{sa_name}",
            user=user,
            namespace=namespace,
            cluster_name=args.cluster_name,
            endpoint=args.endpoint,
            ca_data=args.ca_data,
        )

    # ---- the deployer's RBAC -------------------------------------------------------------

    def _deployer_base_name(self) -> str:
        deployer = self._args.deployer
        return f"binder:{deployer.namespace}:{deployer.name}"

    def _deployer_cluster_role(self) -> k8s.rbac.v1.ClusterRole:
        return k8s.rbac.v1.ClusterRole(
            f"{self._prefix}-deployer-cluster-role",
            metadata=meta(self._deployer_base_name()),
            rules=policy_rules(
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
                metadata=meta(f"{base_name}:cluster-admin"),
                role_ref=cluster_role_ref("cluster-admin"),
                subjects=[subject],
                opts=opts,
            )
            return

        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._prefix}-deployer-cluster-binding",
            metadata=meta(base_name),
            role_ref=cluster_role_ref(cluster_role.metadata.name),
            subjects=[subject],
            opts=opts,
        )
        # A ClusterRole holding the namespaced rules once, bound per managed namespace by a
        # RoleBinding: the rules apply in those namespaces only -- not in the deployer's own
        # namespace, whose Secrets are the deployer's and the ServiceAccount users' tokens.
        namespaced_role = k8s.rbac.v1.ClusterRole(
            f"{self._prefix}-deployer-namespace-role",
            metadata=meta(f"{base_name}:namespaced"),
            rules=policy_rules(DEPLOYER_NAMESPACE_RULES),
            opts=opts,
        )
        for ns in self._deployer_namespaces:
            namespace = self.namespaces[ns]
            k8s.rbac.v1.RoleBinding(
                f"{self._prefix}-deployer-binding-{ns}",
                metadata=meta(base_name, namespace.metadata.name),
                role_ref=cluster_role_ref(namespaced_role.metadata.name),
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
        role_ref = cluster_role_ref(user.role)
        object_name = f"binder:{user.kind.lower()}:{slug}"
        if user.namespaces is None:
            k8s.rbac.v1.ClusterRoleBinding(
                f"{self._prefix}-{part}",
                metadata=meta(object_name),
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
                metadata=meta(object_name, namespace.metadata.name),
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
