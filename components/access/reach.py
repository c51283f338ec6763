"""Who can obtain what: the RBAC reach analysis of ``binder:users`` and ``binder:deployer``.

Checks that span the access sections and the enabled releases: reserved or undeclared
namespaces, duplicate users, unknown roles, and -- the core of it -- which ``admin``/``edit``
grants can reach the deploy agent's token (directly, or by running pods as a chart's
ServiceAccount that reads Secrets everywhere). Pure functions of the parsed configuration;
:class:`components.config.stack.StackConfig` runs them while it validates.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from components.access.pod_security import pod_security_problems, privileged_namespaces
from components.catalog.charts import NAMESPACES
from components.config.access import (
    BUILTIN_ROLES,
    EMAIL,
    RELEASE_NAMESPACES,
    RESERVED_NAMESPACES,
    ROLE_NAME,
    UserAccount,
    identity_slug,
)
from components.config.base import ConfigError, config_errors
from components.config.stack import format_validation_error

if TYPE_CHECKING:
    from components.config.stack import StackConfig

#: The admission guard on the deploy agent (components/access/admission_guard.py) is a
#: ValidatingAdmissionPolicy of admissionregistration.k8s.io/v1, served from Kubernetes 1.30.
#: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
GUARD_MIN_KUBERNETES = (1, 30)

#: Namespaces whose chart ServiceAccounts may read (or write) Secrets in EVERY namespace. The
#: built-in ``edit``/``admin`` roles can run pods as any ServiceAccount of their namespace
#: (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles), so such a
#: grant there reaches every Secret -- the deploy agent's token included. Checked from the
#: pinned charts' ClusterRoles (see docs/access.md); only while the part is enabled.
SECRET_READER_NAMESPACES: dict[str, str] = {
    "ingress": "Traefik's ServiceAccount reads Secrets (TLS certificates) in every namespace",
    "cert-manager": "cert-manager's ServiceAccount writes Secrets in every namespace",
    "monitoring": "kube-state-metrics' ServiceAccount lists Secrets in every namespace",
}

#: ``kind.lower()`` of user subjects; user bindings are named ``binder:<kind>:<slug>``.
_SUBJECT_KINDS = ("user", "group", "serviceaccount")

#: Built-in roles that can read Secrets and run pods as any ServiceAccount of a namespace.
SECRET_READING_ROLES: tuple[str, ...] = ("admin", "edit")


def _secret_reader_namespaces(cfg: StackConfig) -> dict[str, str]:
    enabled = {
        "ingress": cfg.ingress.controller == "traefik",
        "cert-manager": cfg.cert_manager.enabled,
        "monitoring": cfg.monitoring.enabled,
    }
    return {ns: why for ns, why in SECRET_READER_NAMESPACES.items() if enabled[ns]}


def _token_reach(cfg: StackConfig, user: UserAccount) -> list[str]:
    """Why ``user``'s grant can obtain the deploy agent's token; empty if it cannot.

    Only the built-in ``admin``/``edit`` roles are judged: a custom ClusterRole's rules are not
    known here (declaring it in binder:customRoles is the operator's decision).
    """
    if user.role not in SECRET_READING_ROLES:
        return []
    if user.namespaces is None:
        return [f"a cluster-wide '{user.role}' reads Secrets in every namespace"]
    reasons = []
    deployer_ns = cfg.deployer.namespace
    if deployer_ns in user.namespaces:
        reasons.append(
            f"'{user.role}' in '{deployer_ns}' reads the token Secrets kept there "
            "(binder:deployer.namespace)"
        )
    readers = _secret_reader_namespaces(cfg)
    privileged = privileged_namespaces(cfg)
    for namespace in user.namespaces:
        if namespace in readers:
            reasons.append(
                f"'{user.role}' in '{namespace}' can run pods as its ServiceAccounts, and "
                f"{readers[namespace]}"
            )
        if namespace in privileged:
            # https://kubernetes.io/docs/concepts/security/pod-security-standards/#privileged
            reasons.append(
                f"'{user.role}' in '{namespace}' can run privileged pods there "
                f"({privileged[namespace]}), which take over their node: its kubelet "
                "credentials and the token of every pod on it"
            )
    return reasons


#: Built-in roles that read pods (``get``/``list``/``watch``) but no Secrets.
POD_READING_ROLES: tuple[str, ...] = ("view",)


def _credential_reach(user: UserAccount) -> str | None:
    """Why ``user``'s grant reads credentials in pod specs; None if it does not.

    In BinderHub's namespace, pod specs carry credentials in plain environment variables:
    KubeSpawner gives every user server its ``JUPYTERHUB_API_TOKEN``, and BinderHub gives a
    build pod ``GIT_CREDENTIAL_ENV`` (the repository provider's token) and, with dynamic
    push tokens (our Artifact Registry class), ``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``
    ("passed to the build pod as a plain text environment variable", binderhub/build.py at
    our pin: https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/build.py#L269-L283).
    Static push credentials (Docker Hub, Harbor) are not there: the build pod mounts the
    chart's Secret ``binder-build-docker-config`` (``push_secret``, build.py#L480-L492).
    ``view`` reads pods, not Secrets: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
    """
    if user.role not in POD_READING_ROLES:
        return None
    binder = NAMESPACES["binderhub"]
    if user.namespaces is None:
        where = f"a cluster-wide '{user.role}'"
    elif binder in user.namespaces:
        where = f"'{user.role}' in '{binder}'"
    else:
        return None
    return (
        f"{where} reads the pods of '{binder}', whose specs carry credentials: every user "
        "server's JUPYTERHUB_API_TOKEN and the build pods' repository and registry push "
        "tokens"
    )


def access_problems(cfg: StackConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks of binder:namespaces / deployer / users / customRoles that span sections."""
    problems: list[tuple[tuple[str | int, ...], str]] = pod_security_problems(cfg)
    version = tuple(int(part) for part in cfg.cluster.kubernetes_version.split("."))
    if not cfg.deployer.cluster_admin and version < GUARD_MIN_KUBERNETES:
        problems.append(
            (
                ("cluster", "kubernetesVersion"),
                f"'{cfg.cluster.kubernetes_version}' has no admissionregistration.k8s.io/v1 "
                "ValidatingAdmissionPolicy, which guards the deploy agent "
                "(docs/access.md); use 1.30 or later",
            )
        )
    for namespace in cfg.namespaces:
        if namespace in RESERVED_NAMESPACES:
            problems.append(
                (
                    ("namespaces", namespace),
                    "is a namespace every cluster already has; this program only manages "
                    "namespaces it creates, so remove it",
                )
            )
    if cfg.deployer.namespace in RESERVED_NAMESPACES:
        problems.append(
            (
                ("deployer", "namespace"),
                f"'{cfg.deployer.namespace}' is a system namespace; use a namespace of its "
                "own such as 'deployer'",
            )
        )
    elif cfg.deployer.namespace in RELEASE_NAMESPACES:
        problems.append(
            (
                ("deployer", "namespace"),
                f"'{cfg.deployer.namespace}' is where a Helm release runs: its users and "
                "ServiceAccounts could read the deploy agent's token there; use a namespace "
                "of its own such as 'deployer'",
            )
        )
    elif cfg.deployer.namespace in _SUBJECT_KINDS:
        # The agent's ClusterRoleBinding is named binder:<namespace>:<name>, users' ones
        # binder:<kind>:<identity>: these would collide.
        problems.append(
            (
                ("deployer", "namespace"),
                f"'{cfg.deployer.namespace}' would give the deploy agent's RBAC objects the "
                "names of user bindings; use a namespace such as 'deployer'",
            )
        )
    for index, role in enumerate(cfg.custom_roles):
        if not ROLE_NAME.match(role):
            problems.append(
                (
                    ("customRoles", index),
                    f"'{role}' is not a valid ClusterRole name (letters, digits, '-', '.', "
                    "':', '_'; no '/')",
                )
            )
        elif role in BUILTIN_ROLES:
            problems.append(
                (("customRoles", index), f"'{role}' is built in; remove it from customRoles")
            )
    declared = sorted(n for n in cfg.all_namespaces if n not in RESERVED_NAMESPACES)
    known_roles = [*BUILTIN_ROLES, *cfg.custom_roles]
    first_seen: dict[str, int] = {}
    slugs: dict[str, int] = {}
    for index, user in enumerate(cfg.users):
        at = ("users", index)
        if user.name in first_seen:
            problems.append(
                (
                    (*at, "name"),
                    f"'{user.name}' is already binder:users[{first_seen[user.name]}]; give each "
                    "identity one entry (for a second role, use a Group or a custom ClusterRole "
                    "in binder:customRoles)",
                )
            )
        else:
            first_seen[user.name] = index
            slug = identity_slug(user.name)
            if slug in slugs:
                # Practically only a name crafted to look like another's slug and hash.
                other = cfg.users[slugs[slug]].name
                problems.append(
                    (
                        (*at, "name"),
                        f"'{user.name}' and binder:users[{slugs[slug]}] ('{other}') would get "
                        f"the same object name '{slug}'; check both names for a typo",
                    )
                )
            slugs.setdefault(slug, index)
        reach = _token_reach(cfg, user)
        if reach and not user.may_read_deployer_token:
            problems.append(
                (
                    at,
                    f"{'; '.join(reach)}, so this {user.kind} could obtain the deploy agent's "
                    "token and act as it. Limit `namespaces` to where it needs to work, or set "
                    "`mayReadDeployerToken: true` to accept that it is as trusted as the "
                    "deploy agent",
                )
            )
        credentials = _credential_reach(user)
        if credentials and not (user.may_read_credentials or user.may_read_deployer_token):
            problems.append(
                (
                    at,
                    f"{credentials}, so this {user.kind} could act as those users or push "
                    f"images. Leave '{NAMESPACES['binderhub']}' out of `namespaces`, or set "
                    "`mayReadCredentials: true` to accept it",
                )
            )
        elif user.may_read_credentials and not credentials and user.role in BUILTIN_ROLES:
            problems.append(
                (
                    (*at, "mayReadCredentials"),
                    f"is set, but '{user.role}' here reads no pod of "
                    f"'{NAMESPACES['binderhub']}' (admin and edit need mayReadDeployerToken "
                    "there); remove it",
                )
            )
        if user.may_read_deployer_token and not reach and user.role in BUILTIN_ROLES:
            problems.append(
                (
                    (*at, "mayReadDeployerToken"),
                    f"is set, but '{user.role}' here cannot read the deploy agent's token; "
                    + ("it reads the credentials in pod specs only: use "
                       "`mayReadCredentials: true` instead" if credentials else "remove it"),
                )
            )
        if user.kind == "ServiceAccount" and user.name == cfg.deployer.name:
            problems.append(
                (
                    (*at, "name"),
                    f"'{user.name}' is the deployer's ServiceAccount (binder:deployer.name); "
                    "choose another name",
                )
            )
        if user.role not in known_roles and user.role.strip():
            close = difflib.get_close_matches(user.role, known_roles, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(
                (
                    (*at, "role"),
                    f"unknown role '{user.role}'; {hint}use admin, edit or view, or declare "
                    "the custom ClusterRole's name in binder:customRoles",
                )
            )
        for ns_index, namespace in enumerate(user.namespaces or []):
            if namespace not in declared:
                problems.append(
                    (
                        (*at, "namespaces", ns_index),
                        f"namespace '{namespace}' is not declared; add it to "
                        f"binder:namespaces or use one of {', '.join(declared)}",
                    )
                )
        gke_identity = cfg.cluster.provider == "gke" and user.kind in ("User", "Group")
        if gke_identity and not EMAIL.match(user.name):
            what, example = (
                ("Google account", "alice@example.org")
                if user.kind == "User"
                else ("Google Group", "binder-admins@example.org")
            )
            problems.append(
                (
                    (*at, "name"),
                    f"on GKE a {user.kind} is a {what}, named by its email address "
                    f"(e.g. '{example}'); use the email",
                )
            )
    return problems


def check_access(cfg: StackConfig, stack: str | None = None) -> None:
    """:func:`access_problems` as the configuration's other errors are reported: one
    ConfigError naming each key (``binder:users[2].role``), in the same words. Called by the
    plan: the configuration layer never reaches up into the access rules."""
    problems = access_problems(cfg)
    if problems:
        where = f" (Pulumi.{stack}.yaml)" if stack else ""
        raise ConfigError(
            f"Invalid stack configuration{where}:\n"
            + format_validation_error(config_errors("StackConfig", problems), stack)
        )
