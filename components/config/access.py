"""``binder:namespaces``, ``binder:deployer``, ``binder:users``: who may do what in the cluster.

The checks that span these sections (which grant can reach the deploy agent's token) are
in :mod:`components.access.reach`; the resources are built by :mod:`components.access`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.config.base import (
    DNS_LABEL,
    QUANTITY,
    DnsLabel,
    Model,
    config_errors,
    label_problems,
    quantity_problem,
    quantity_text,
)


class ResourceQuotaConfig(Model):
    """``spec.hard`` of a ResourceQuota, e.g. ``{requests.cpu: "40", pods: "200"}``."""

    hard: dict[str, str]

    @field_validator("hard", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return value


class LimitRangeItem(Model):
    """One ``spec.limits[]`` item of a LimitRange (Helmsman's ``limits``)."""

    type: Literal["Container", "Pod", "PersistentVolumeClaim"] = "Container"
    default: dict[str, str] | None = None
    default_request: dict[str, str] | None = None
    max: dict[str, str] | None = None
    min: dict[str, str] | None = None


#: this program would hand it to `pulumi destroy`.
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
#: The user-facing roles Kubernetes ships as ClusterRoles.
#: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
BUILTIN_ROLES: tuple[str, ...] = ("admin", "edit", "view")
#: Pod Security Standards, least privileged first.
#: https://kubernetes.io/docs/concepts/security/pod-security-standards/
POD_SECURITY_LEVELS: tuple[str, ...] = ("restricted", "baseline", "privileged")
#: Pod Security Admission's namespace labels (written by the bootstrap from ``podSecurity``).
#: https://kubernetes.io/docs/concepts/security/pod-security-admission/
POD_SECURITY_LABEL_PREFIX = "pod-security.kubernetes.io/"


class NamespaceConfig(Model):
    """A namespace and its guard rails."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the Namespace (not Pod Security Admission's: see ``pod_security``)."""
    pod_security: Literal["restricted", "baseline", "privileged"] | None = None
    """The Pod Security Standard enforced in the namespace (``podSecurity``). Unset:
    ``restricted``, or what the namespace's chart needs (components/access/pod_security.py);
    a level below that need is refused."""
    annotations: dict[str, str] = Field(default_factory=dict)
    quota: ResourceQuotaConfig | None = None
    """A ResourceQuota named ``quota`` in the namespace."""
    limits: list[LimitRangeItem] = Field(default_factory=list)
    """Items of a LimitRange named ``limits`` (Helmsman's ``limits``): default requests and
    limits for containers that set none, which a CPU/memory quota needs."""
    protect: bool = False
    """Protect the Namespace -- and so everything in it -- from ``pulumi destroy``."""

    @model_validator(mode="before")
    @classmethod
    def _stringify_quantities(cls, value: Any) -> Any:
        # YAML gives `cpu: 2` as an int; Kubernetes quantities are strings ("2").
        if isinstance(value, Mapping) and isinstance(value.get("limits"), list):
            value = dict(value)
            value["limits"] = [
                {
                    k: (
                        {str(q): quantity_text(n) for q, n in v.items()}
                        if isinstance(v, Mapping)
                        else v
                    )
                    for k, v in item.items()
                }
                if isinstance(item, Mapping)
                else item
                for item in value["limits"]
            ]
        return value

    @model_validator(mode="after")
    def _check(self) -> NamespaceConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for key, text in self.labels.items():
            problems += [(("labels", key), p) for p in label_problems(key, text, True)]
            if key.startswith(POD_SECURITY_LABEL_PREFIX):
                problems.append(
                    (
                        ("labels", key),
                        "Pod Security labels are written by the program; remove this label "
                        "and set `podSecurity: restricted|baseline|privileged` on the "
                        "namespace instead",
                    )
                )
        for key in self.annotations:
            problems += [(("annotations", key), p) for p in label_problems(key, "", False)]
        for key, amount in (self.quota.hard if self.quota else {}).items():
            if not QUANTITY.match(amount):
                problems.append((("quota", "hard", key), quantity_problem(amount)))
        for index, item in enumerate(self.limits):
            for field in ("default", "default_request", "max", "min"):
                for resource, amount in (getattr(item, field) or {}).items():
                    if not QUANTITY.match(amount):
                        where = ("limits", index, to_camel(field), resource)
                        problems.append((where, quantity_problem(amount)))
        if problems:
            raise config_errors("NamespaceConfig", problems)
        return self


#: Namespaces every stack gets unless ``binder:namespaces`` overrides an entry.
DEFAULT_NAMESPACES: tuple[str, ...] = (
    "binder",
    "ingress",
    "cert-manager",
    "monitoring",
    "logging",
    "harbor",
    "deployer",
)


class DeployerConfig(Model):
    """The deploy agent's identity inside the cluster (see docs/access.md)."""

    name: DnsLabel = "deployer"
    """Name of its ServiceAccount."""
    namespace: DnsLabel = "deployer"
    """Namespace of its ServiceAccount and token; always created. ServiceAccount users live
    here too."""
    cluster_admin: bool = False
    """Bind ``cluster-admin`` instead of the least-privilege role. Off by default."""
    token_generation: int = Field(default=1, ge=1)
    """Bump to rotate the deployer's token: the token Secret gets a new name, so ``pulumi up``
    creates a new one and deletes the old one, which invalidates the old token."""


class UserAccount(Model):
    """A person, group or robot given access to the cluster."""

    name: str = Field(min_length=1)
    """Google identity (email) on GKE; Keystone/OIDC user or group on Magnum; a DNS label
    for a ServiceAccount."""
    kind: Literal["User", "Group", "ServiceAccount"] = "User"
    role: str
    """``admin``, ``edit``, ``view`` (Kubernetes' built-in ClusterRoles) or the name of a
    ClusterRole declared in ``binder:customRoles``."""
    namespaces: list[DnsLabel] | None = None
    """Namespaces the role applies in (declared ones only). Omitted: cluster-wide."""
    token_generation: int | None = Field(default=None, ge=1)
    """ServiceAccounts only: bump to rotate the account's token (default 1)."""
    may_read_deployer_token: bool = False
    """Accept that this grant can obtain the deploy agent's token: ``admin``/``edit``
    cluster-wide, in the deployer's namespace, or in a namespace whose chart ServiceAccounts
    read Secrets everywhere (see :data:`SECRET_READER_NAMESPACES`). Such an identity is as
    trusted as the deploy agent; without this flag ``load_config`` refuses the grant."""
    may_read_credentials: bool = False
    """Accept that this grant reads the pods of BinderHub's namespace, whose specs carry
    credentials: every user server's ``JUPYTERHUB_API_TOKEN``, a build pod's
    ``GIT_CREDENTIAL_ENV`` and, with Artifact Registry, its short-lived push token
    (``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``). ``view`` there (or cluster-wide) needs it;
    ``mayReadDeployerToken`` implies it."""

    @model_validator(mode="after")
    def _check(self) -> UserAccount:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.name != self.name.strip() or any(c.isspace() for c in self.name):
            problems.append((("name",), "must not contain spaces"))
        if self.kind == "ServiceAccount" and not (
            len(self.name) <= 63 and re.match(DNS_LABEL, self.name)
        ):
            problems.append(
                (
                    ("name",),
                    f"'{self.name}' is not a valid ServiceAccount name: use at most 63 "
                    "lower-case letters, digits and '-', starting and ending with a letter or "
                    "digit (e.g. 'ci-robot')",
                )
            )
        if self.kind != "ServiceAccount" and self.token_generation is not None:
            problems.append(
                (
                    ("tokenGeneration",),
                    f"only a ServiceAccount has a token; remove it from this {self.kind}",
                )
            )
        if not self.role.strip():
            problems.append((("role",), "must not be empty; use admin, edit or view"))
        if self.namespaces is not None:
            if not self.namespaces:
                problems.append(
                    (
                        ("namespaces",),
                        "is empty; list at least one namespace, or omit the key for a "
                        "cluster-wide binding",
                    )
                )
            seen: set[str] = set()
            for index, namespace in enumerate(self.namespaces):
                if namespace in seen:
                    problems.append(
                        (("namespaces", index), f"'{namespace}' is listed twice; remove one")
                    )
                seen.add(namespace)
        if problems:
            raise config_errors("UserAccount", problems)
        return self


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: ClusterRole names are path segments: no '/' or '%'. Allow what clusters use in practice.
ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$")

#: The namespaces the releases install into; the deploy agent's token must not live in one,
#: where the release's users (and its ServiceAccounts) could read it.
RELEASE_NAMESPACES: tuple[str, ...] = (
    "binder", "ingress", "cert-manager", "monitoring", "logging", "harbor"
)


def identity_slug(name: str) -> str:
    """A DNS-label-safe form of an identity (``alice@example.org`` -> ``alice-example-org-<hash>``).

    The bootstrap names a user's objects after it. An identity that is already a DNS label
    (at most 40 characters) is kept as it is; any other gets a short hash of the full identity,
    so that identities differing only in punctuation (``a.b@x`` / ``a-b@x``) stay distinct.
    ``access_problems`` checks that no two users get the same slug.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "x"
    if slug != name:
        slug += "-" + hashlib.sha256(name.encode()).hexdigest()[:6]
    return slug
