"""A tiny RBAC evaluator over the objects a program registers, for least-privilege tests.

It answers ``can(subject, verb, resource, group, namespace, name)`` from the recorded
ClusterRoles, Roles, ClusterRoleBindings and RoleBindings, with Kubernetes' semantics
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/):

* a ClusterRoleBinding grants its role's rules in every namespace and at cluster scope;
* a RoleBinding grants them only for requests in its own namespace;
* a rule matches when verb, API group and resource match (``*`` matches all) and, if it has
  ``resourceNames``, the request names one of them (so ``create``/``list`` never match those);
* privilege-escalation prevention
  (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping,
  kubernetes/kubernetes ``pkg/registry/rbac/escalation_check.go``): writing a role needs
  ``escalate`` on it (checked with the name in the URL: none on create) or every permission
  it grants; creating or changing a binding needs ``bind`` on the *referenced* role (checked
  with that role's name, also on create) or every permission the role grants
  (:meth:`RbacModel.can_write_role`, :meth:`RbacModel.can_write_binding`);
* tokens: a subject that can read a ServiceAccount's token Secret, create a Secret or a Pod in
  its namespace, or impersonate it, can act as that ServiceAccount
  (:meth:`RbacModel.tokens_reachable`, :meth:`RbacModel.reaches`). Only ServiceAccounts the
  program registers are known; the charts' own ServiceAccounts are not modelled;
* nodes: Pod Security Admission reads each namespace's ``pod-security.kubernetes.io/enforce``
  label, and a namespace without one admits privileged pods (the built-in default,
  https://kubernetes.io/docs/concepts/security/pod-security-admission/). A subject that may
  create pods where privileged pods are admitted can take over a node
  (:meth:`RbacModel.node_reach`);
* admission: RBAC decides only verb and name. What the deploy agent's requests may *contain*
  is judged by the recorded ValidatingAdmissionPolicy (tests/admission.py), which
  :func:`tests.admission.AdmissionPolicy.decide` evaluates with real CEL; the deploy agent's
  reach before and after that guard is measured in
  tests/components/access/test_deployer_reach.py.

Kubernetes' built-in ClusterRoles are not objects the program registers, and the aggregated
rules of ``admin``/``edit``/``view`` cannot be evaluated offline. ``cluster-admin`` allows
everything; for the other three, :data:`BUILTIN_MODEL` models what the Kubernetes docs state
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles). A question
the model does not cover raises :class:`NotModelledError`, so a test can never pass by
guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.mockrun import Recording

RBAC = "rbac.authorization.k8s.io"
_RBAC_RESOURCES = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
_WRITE = ("create", "update", "patch", "delete", "deletecollection")
_READ = ("get", "list", "watch")


class NotModelledError(AssertionError):
    """The question depends on a built-in role's rules that are not modelled."""


def _build_model() -> dict[str, dict[tuple[str, str, str], bool]]:
    """``role -> (verb, group, resource) -> allowed``, only for namespaced requests.

    Each entry paraphrases the documentation of the user-facing roles:

    * view: "read-only access to see most objects in a namespace. It does not allow viewing
      roles or role bindings. This role does not allow viewing Secrets".
    * edit: "read/write access to most objects in a namespace. This role does not allow
      viewing or modifying roles or role bindings. However, this role allows accessing
      Secrets".
    * admin: "read/write access to most resources in a namespace, including the ability to
      create roles and role bindings within the namespace. This role does not allow write
      access to resource quota or to the namespace itself", nor to Endpoints/EndpointSlices
      on clusters created with 1.22+.
    """
    view: dict[tuple[str, str, str], bool] = {}
    edit: dict[tuple[str, str, str], bool] = {}
    admin: dict[tuple[str, str, str], bool] = {}
    for verb in _READ:
        view[(verb, "", "pods")] = True
        view[(verb, "apps", "deployments")] = True
        view[(verb, "", "secrets")] = False
        edit[(verb, "", "secrets")] = True
        admin[(verb, "", "secrets")] = True
        for resource in ("roles", "rolebindings"):
            view[(verb, RBAC, resource)] = False
            edit[(verb, RBAC, resource)] = False
            admin[(verb, RBAC, resource)] = True
    for verb in _WRITE:
        view[(verb, "", "pods")] = False
        view[(verb, "apps", "deployments")] = False
        view[(verb, "", "secrets")] = False
        edit[(verb, "", "pods")] = True
        edit[(verb, "apps", "deployments")] = True
        edit[(verb, "", "secrets")] = True
        # "allows accessing Secrets and running Pods as any ServiceAccount in the namespace"
        # (edit; admin has everything edit has).
        admin[(verb, "", "pods")] = True
        admin[(verb, "", "secrets")] = True
        # Workloads: read/write for edit and admin ("most objects"), never for view.
        for group, resource in (("apps", "daemonsets"), ("apps", "statefulsets"),
                                ("batch", "jobs")):
            view[(verb, group, resource)] = False
            edit[(verb, group, resource)] = True
            admin[(verb, group, resource)] = True
        admin[(verb, "", "resourcequotas")] = False
        admin[(verb, "", "namespaces")] = False
        admin[(verb, "discovery.k8s.io", "endpointslices")] = False
        for resource in ("roles", "rolebindings"):
            view[(verb, RBAC, resource)] = False
            edit[(verb, RBAC, resource)] = False
            admin[(verb, RBAC, resource)] = True
    view[("impersonate", "", "serviceaccounts")] = False
    edit[("impersonate", "", "serviceaccounts")] = True
    admin[("impersonate", "", "serviceaccounts")] = True
    for model in (view, edit):
        # Neither touches RBAC at all, and both are namespace-scoped roles: nothing about
        # cluster-wide RBAC objects either, even when bound with a ClusterRoleBinding.
        for verb in (*_READ, *_WRITE, "bind", "escalate"):
            for resource in _RBAC_RESOURCES:
                model[(verb, RBAC, resource)] = False
    return {"view": view, "edit": edit, "admin": admin}


#: What the docs say about the built-in user-facing roles (namespaced requests only).
BUILTIN_MODEL = _build_model()

#: cluster-admin's rules, as every cluster has them.
CLUSTER_ADMIN_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
#: (API group, resource) of the objects whose creation starts pods.
POD_CREATORS = (
    ("", "pods"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
)


@dataclass(frozen=True)
class Subject:
    kind: str
    name: str
    namespace: str | None = None

    def matches(self, subject: dict[str, Any], binding_namespace: str | None) -> bool:
        if subject.get("kind") != self.kind or subject.get("name") != self.name:
            return False
        if self.kind == "ServiceAccount":
            # A RoleBinding's ServiceAccount subject without namespace means the binding's.
            return (subject.get("namespace") or binding_namespace) == self.namespace
        return True


@dataclass(frozen=True)
class Binding:
    name: str
    namespace: str | None
    """None for a ClusterRoleBinding."""
    role_kind: str
    role_name: str
    subjects: tuple[dict[str, Any], ...]


def has(values: list[str], wanted: str) -> bool:
    return "*" in values or wanted in values


def _matches(rule: dict[str, Any], verb: str, group: str, resource: str, name: str | None) -> bool:
    if not (
        has(rule.get("verbs", []), verb)
        and has(rule.get("apiGroups", []), group)
        and has(rule.get("resources", []), resource)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def _covered(rules: list[dict[str, Any]], wanted: dict[str, Any]) -> bool:
    """Whether ``rules`` grant everything ``wanted`` grants (Kubernetes' ``Covers``): each
    (verb, group, resource, name) -- or (verb, URL) -- of ``wanted``, with its wildcards taken
    literally, is allowed by one of ``rules``."""
    verbs = wanted.get("verbs", [])
    urls = wanted.get("nonResourceURLs") or []
    if urls:
        return all(
            any(
                has(r.get("verbs", []), verb)
                and any(
                    u == "*" or u == url or (u.endswith("*") and url.startswith(u[:-1]))
                    for u in r.get("nonResourceURLs") or []
                )
                for r in rules
            )
            for verb in verbs
            for url in urls
        )
    names = wanted.get("resourceNames") or [None]
    return all(
        any(
            not r.get("nonResourceURLs")
            and _matches(r, verb, group, resource, name)
            and (name is not None or not r.get("resourceNames"))
            for r in rules
        )
        for verb in verbs
        for group in wanted.get("apiGroups", [])
        for resource in wanted.get("resources", [])
        for name in names
    )


class RbacModel:
    """The RBAC objects of one recording."""

    def __init__(self, recording: Recording) -> None:
        self.cluster_roles: dict[str, list[dict[str, Any]]] = {}
        self.roles: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.bindings: list[Binding] = []
        self.service_accounts: set[Subject] = set()
        #: Token Secrets by the ServiceAccount they belong to: ``(namespace, secret name)``.
        self.token_secrets: dict[Subject, list[tuple[str, str]]] = {}
        #: Pod Security level enforced in each recorded namespace.
        self.pod_security: dict[str, str] = {}
        for r in recording.resources:
            meta = r.inputs.get("metadata", {})
            if r.type == "kubernetes:core/v1:Namespace":
                labels = meta.get("labels") or {}
                self.pod_security[meta["name"]] = labels.get(
                    "pod-security.kubernetes.io/enforce", "privileged"
                )
            if r.type == "kubernetes:core/v1:ServiceAccount":
                self.service_accounts.add(
                    Subject("ServiceAccount", meta["name"], meta.get("namespace"))
                )
            elif r.type == "kubernetes:core/v1:Secret" and r.inputs.get("type") == (
                TOKEN_SECRET_TYPE
            ):
                owner = (meta.get("annotations") or {})["kubernetes.io/service-account.name"]
                self.token_secrets.setdefault(
                    Subject("ServiceAccount", owner, meta["namespace"]), []
                ).append((meta["namespace"], meta["name"]))
            kind = r.type.rpartition(":")[2] if r.type.startswith(f"kubernetes:{RBAC}/") else ""
            if kind == "ClusterRole":
                if r.inputs.get("aggregationRule"):
                    raise NotModelledError(f"aggregated ClusterRole {meta['name']}")
                self.cluster_roles[meta["name"]] = r.inputs.get("rules", [])
            elif kind == "Role":
                self.roles[(meta["namespace"], meta["name"])] = r.inputs.get("rules", [])
            elif kind in ("ClusterRoleBinding", "RoleBinding"):
                ref = r.inputs["roleRef"]
                self.bindings.append(
                    Binding(
                        name=meta["name"],
                        namespace=meta.get("namespace") if kind == "RoleBinding" else None,
                        role_kind=ref["kind"],
                        role_name=ref["name"],
                        subjects=tuple(r.inputs.get("subjects", [])),
                    )
                )

    def bindings_of(self, subject: Subject) -> list[Binding]:
        return [
            b for b in self.bindings if any(subject.matches(s, b.namespace) for s in b.subjects)
        ]

    def _role_allows(
        self, binding: Binding, verb: str, group: str, resource: str, name: str | None
    ) -> bool:
        if binding.role_kind == "Role":
            assert binding.namespace is not None
            rules = self.roles[(binding.namespace, binding.role_name)]
        elif binding.role_name in self.cluster_roles:
            rules = self.cluster_roles[binding.role_name]
        elif binding.role_name == "cluster-admin":
            return True
        elif binding.role_name in BUILTIN_MODEL:
            key = (verb, group, resource)
            model = BUILTIN_MODEL[binding.role_name]
            if key not in model:
                raise NotModelledError(
                    f"built-in role '{binding.role_name}' is not modelled for {key}"
                )
            return model[key]
        else:
            raise NotModelledError(
                f"binding {binding.name} refers to ClusterRole '{binding.role_name}', which "
                "the program does not define and the model does not know"
            )
        return any(_matches(rule, verb, group, resource, name) for rule in rules)

    def can(
        self,
        subject: Subject,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Whether ``subject`` may ``verb`` the ``resource`` (in ``namespace``, if namespaced)."""
        for binding in self.bindings_of(subject):
            if binding.namespace is not None and binding.namespace != namespace:
                continue  # a RoleBinding grants nothing outside its namespace
            if self._role_allows(binding, verb, group, resource, name):
                return True
        return False

    # ---- privilege-escalation prevention -----------------------------------------------

    def role_rules(
        self, kind: str, name: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """The rules of a role as the program defines it (or cluster-admin's)."""
        if kind == "Role":
            assert namespace is not None
            return self.roles[(namespace, name)]
        if name in self.cluster_roles:
            return self.cluster_roles[name]
        if name == "cluster-admin":
            return CLUSTER_ADMIN_RULES
        raise NotModelledError(f"the rules of ClusterRole '{name}' are not known")

    def rules_of(self, subject: Subject, namespace: str | None) -> list[dict[str, Any]]:
        """Every rule ``subject`` holds for requests in ``namespace`` (None: cluster scope)."""
        rules: list[dict[str, Any]] = []
        for binding in self.bindings_of(subject):
            if binding.namespace is not None and binding.namespace != namespace:
                continue
            rules += self.role_rules(binding.role_kind, binding.role_name, binding.namespace)
        return rules

    def holds_all(
        self, subject: Subject, rules: list[dict[str, Any]], namespace: str | None
    ) -> bool:
        """Whether ``subject`` already has every permission of ``rules`` in ``namespace``."""
        own = self.rules_of(subject, namespace)
        return all(_covered(own, rule) for rule in rules)

    def can_write_role(
        self,
        subject: Subject,
        verb: str,
        name: str,
        rules: list[dict[str, Any]],
        namespace: str | None = None,
    ) -> bool:
        """Whether ``subject`` may ``create``/``update``/``patch`` a ClusterRole (Role, with
        ``namespace``) named ``name`` to hold ``rules``: the verb, and ``escalate`` -- checked
        with the URL's name, which a create has not -- or holding all of ``rules``."""
        resource = "roles" if namespace else "clusterroles"
        if not self.can(subject, verb, resource, RBAC, namespace, name=name):
            return False
        url_name = None if verb == "create" else name
        if self.can(subject, "escalate", resource, RBAC, namespace, name=url_name):
            return True
        return self.holds_all(subject, rules, namespace)

    def may_bind(
        self, subject: Subject, role_kind: str, role_name: str, namespace: str | None = None
    ) -> bool:
        """Whether a binding (in ``namespace``; None for a ClusterRoleBinding) made by
        ``subject`` may refer to this role: ``bind`` on the role's name, or all its rules."""
        resource = "roles" if role_kind == "Role" else "clusterroles"
        if self.can(subject, "bind", resource, RBAC, namespace, name=role_name):
            return True
        return self.holds_all(subject, self.role_rules(role_kind, role_name, namespace), namespace)

    def can_write_binding(
        self,
        subject: Subject,
        verb: str,
        role_kind: str,
        role_name: str,
        namespace: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Whether ``subject`` may ``create``/``update`` a ClusterRoleBinding (RoleBinding,
        with ``namespace``) called ``name`` that refers to ``role_kind``/``role_name``."""
        resource = "rolebindings" if namespace else "clusterrolebindings"
        return self.can(subject, verb, resource, RBAC, namespace, name=name) and self.may_bind(
            subject, role_kind, role_name, namespace
        )

    # ---- tokens --------------------------------------------------------------------------

    def tokens_reachable(self, subject: Subject) -> set[Subject]:
        """The ServiceAccounts (known to the program) ``subject`` can act as, in one step."""
        found = set()
        for account in self.service_accounts | set(self.token_secrets):
            if account == subject:
                continue
            ns = account.namespace
            if (
                any(
                    self.can(subject, "get", "secrets", "", secret_ns, name=secret)
                    for secret_ns, secret in self.token_secrets.get(account, [])
                )
                or self.can(subject, "create", "secrets", "", ns)
                or self.can(subject, "create", "pods", "", ns)
                or self.can(subject, "impersonate", "serviceaccounts", "", ns, name=account.name)
            ):
                found.add(account)
        return found

    def can_run_pods(self, subject: Subject, namespace: str) -> bool:
        """Whether ``subject`` may create pods in ``namespace``, directly or through a
        workload object (its pods run with whatever ServiceAccount and security context the
        template says)."""
        return any(
            self.can(subject, "create", resource, group, namespace)
            for group, resource in POD_CREATORS
        )

    def node_reach(self, subject: Subject) -> set[str]:
        """The (recorded) namespaces where ``subject`` may run pods and privileged pods are
        admitted: from there a pod can take over its node."""
        return {
            ns
            for ns, level in self.pod_security.items()
            if level == "privileged" and self.can_run_pods(subject, ns)
        }

    def reaches(self, subject: Subject) -> set[Subject]:
        """Every ServiceAccount ``subject`` can act as, following tokens step by step."""
        seen: set[Subject] = set()
        todo = [subject]
        while todo:
            for account in self.tokens_reachable(todo.pop()) - seen - {subject}:
                seen.add(account)
                todo.append(account)
        return seen
