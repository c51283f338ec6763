"""Typed stack configuration.

The stack configuration is read **once**, before any resource is registered, into frozen
pydantic models that forbid unknown keys. A typo (``binder:clustr``, ``minNode``) is an error
that names the key, says what is wrong and how to fix it; it is raised as
:class:`ConfigError`, a :class:`pulumi.RunError`, so the CLI prints it without a traceback.

Layout of the configuration (``Pulumi.<stack>.yaml``):

* project settings live under the ``binder:`` namespace, one structured key per concern
  (``binder:cluster``, ``binder:namespaces``, ``binder:binderhub`` ...);
* provider credentials and regions use the providers' own keys (``openstack:*``, ``gcp:*``)
  and are read by the providers themselves;
* secrets are never part of these models: they are read through secret accessors in
  :mod:`components.secrets.material` (``binder:kubeconfig`` for an existing cluster is read here,
  but
  only through ``require_secret``-style access and kept as a secret ``Output``).

Docs: https://www.pulumi.com/docs/iac/concepts/config/ (structured configuration).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROJECT = "binder"

#: Config keys under ``binder:`` that hold secrets. They are never parsed into the models
#: below; :mod:`components.secrets.material` reads them with ``require_secret``/``get_secret``.
SECRET_KEYS: frozenset[str] = frozenset(
    {
        "kubeconfig",
        "registryUsername",
        "registryPassword",
        "proxySecretToken",
        "hubApiToken",
        "grafanaAdminPassword",
        "oauthClientId",
        "oauthClientSecret",
        "tlsCertificate",
        "tlsKey",
        "loggingPassword",
    }
)


class ConfigError(pulumi.RunError):
    """A configuration problem, reported to the user without a Python traceback."""


class Model(BaseModel):
    """Base for every config model: frozen, camelCase keys, unknown keys are errors."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        # Never echo input values in messages: a mistyped secret must not reach a log.
        hide_input_in_errors=True,
    )


# --------------------------------------------------------------------------------------
# Kubernetes-flavoured primitives
# --------------------------------------------------------------------------------------

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_K8S_VERSION = re.compile(r"^1\.(\d+)$")

#: Label that z2jh uses to place hub/proxy ("core") and user pods ("user").
#: https://z2jh.jupyter.org/en/stable/administrator/optimization.html#using-a-dedicated-node-pool-for-users
NODE_PURPOSE_LABEL = "hub.jupyter.org/node-purpose"
#: Taint key that z2jh's user pods tolerate by default (``scheduling.userPods.tolerations``).
USER_TAINT_KEY = "hub.jupyter.org/dedicated"
USER_TAINT_VALUE = "user"

DnsLabel = Annotated[str, Field(pattern=_DNS_LABEL, max_length=63)]


class Taint(Model):
    """A node taint, in Kubernetes terms."""

    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class Autoscaling(Model):
    """Autoscaler bounds of a node pool. The autoscaler owns the node count in between."""

    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"minNodes ({self.min_nodes}) is greater than maxNodes ({self.max_nodes}); "
                "set minNodes <= maxNodes"
            )
        return self


# --------------------------------------------------------------------------------------
# binder:cluster — a discriminated union on ``provider``
# --------------------------------------------------------------------------------------


class ClusterBase(Model):
    """Settings shared by every cluster provider."""

    name: DnsLabel
    """Cluster name, also the prefix of its node groups/pools."""

    kubernetes_version: str = "1.33"
    """Kubernetes minor version the stack targets (``1.33``). Raw objects are validated
    against this version's schemas, and GKE/Magnum are asked for it."""

    protect: bool = True
    """Protect the cluster and its node pools from ``pulumi destroy``. Turn off only for
    throwaway stacks."""

    @field_validator("kubernetes_version")
    @classmethod
    def _minor_version(cls, value: str) -> str:
        if not _K8S_VERSION.match(value):
            raise ValueError(f"must be a Kubernetes minor version such as '1.33', not '{value}'")
        return value

    @property
    def has_user_pool(self) -> bool:
        """Whether user pods get nodes of their own."""
        return bool(self.user_node_selector)

    @property
    def user_node_selector(self) -> dict[str, str]:
        """Node labels that identify the user pool; empty when there is none."""
        return {}

    @property
    def user_nodes_tainted(self) -> bool:
        """Whether the user pool carries the z2jh taint ``hub.jupyter.org/dedicated=user``."""
        return False


# ---- OpenStack Magnum ----------------------------------------------------------------


class MagnumTemplate(Model):
    """The Magnum ClusterTemplate: the image, flavors and network of every node."""

    image: str
    """Glance image of the nodes, e.g. ``fedora-coreos-40``."""
    master_flavor: str
    flavor: str
    external_network: str
    """External network name or ID, for floating IPs and the API load balancer."""
    keypair: str
    """Nova keypair injected into the nodes."""
    docker_volume_size: int = Field(default=50, ge=1)
    network_driver: Literal["calico", "flannel", "cilium"] = "calico"
    volume_driver: str | None = "cinder"
    dns_nameserver: str | None = None
    master_lb_enabled: bool = True
    floating_ip_enabled: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    """Magnum labels (``kube_tag``, ``auto_scaling_enabled``, ``boot_volume_size`` ...).
    https://docs.openstack.org/magnum/latest/user/#labels"""

    @field_validator("labels", mode="before")
    @classmethod
    def _stringify_labels(cls, value: Any) -> Any:
        # Magnum labels are strings; YAML gives ``true``/``50``, which users expect to work.
        if isinstance(value, Mapping):
            return {
                str(k): (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()
            }
        return value


class MagnumNodeGroup(Model):
    """An extra Magnum NodeGroup, e.g. a pool for user pods."""

    name: DnsLabel
    flavor: str | None = None
    """Defaults to the template's flavor."""
    node_count: int = Field(default=1, ge=0)
    autoscaling: Autoscaling | None = None
    docker_volume_size: int | None = Field(default=None, ge=1)
    purpose: Literal["core", "user"] | None = None
    """``user`` labels and taints the group for user pods, as z2jh expects."""
    labels: dict[str, str] = Field(default_factory=dict)


class MagnumCluster(ClusterBase):
    """``provider: magnum`` — a cluster on OpenStack Magnum (EMBL-EBI)."""

    provider: Literal["magnum"]
    template: MagnumTemplate
    master_count: int = Field(default=1, ge=1)
    node_count: int = Field(default=2, ge=1)
    autoscaling: Autoscaling | None = None
    """Bounds of the default worker group; sets Magnum's ``min_node_count``/``max_node_count``
    labels and hands the node count to the autoscaler."""
    floating_ip_enabled: bool | None = None
    create_timeout: int = Field(default=60, ge=10)
    """Minutes Magnum may take to create the cluster."""
    node_groups: list[MagnumNodeGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> MagnumCluster:
        names = [g.name for g in self.node_groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"nodeGroups has duplicate names {dupes}; give each group its own name"
            )
        tag = self.template.labels.get("kube_tag")
        if tag and not tag.lstrip("v").startswith(f"{self.kubernetes_version}."):
            raise ValueError(
                f"template.labels.kube_tag '{tag}' does not match kubernetesVersion "
                f"'{self.kubernetes_version}'; make them agree"
            )
        return self

    @property
    def user_node_selector(self) -> dict[str, str]:
        # Magnum cannot label or taint a node group's nodes with our own labels; its Heat
        # driver labels them `magnum.openstack.org/role=<role>`, and the user group's role
        # is "user". https://docs.openstack.org/magnum/latest/user/#node-groups
        if any(g.purpose == "user" for g in self.node_groups):
            return {"magnum.openstack.org/role": "user"}
        return {}


# ---- Google Kubernetes Engine ----------------------------------------------------------


class GkeNodePool(Model):
    """A GKE node pool (``core`` or ``user``)."""

    machine_type: str
    autoscaling: Autoscaling
    disk_size_gb: int = Field(default=100, ge=10)
    disk_type: Literal["pd-standard", "pd-balanced", "pd-ssd"] = "pd-balanced"
    spot: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra node labels; ``hub.jupyter.org/node-purpose`` is set by the program."""
    taints: list[Taint] = Field(default_factory=list)
    """Extra taints; the user pool always carries the z2jh user taint."""

    @field_validator("labels")
    @classmethod
    def _purpose_is_ours(cls, value: dict[str, str]) -> dict[str, str]:
        if NODE_PURPOSE_LABEL in value:
            raise ValueError(
                f"'{NODE_PURPOSE_LABEL}' is set by the program (core/user) and user pods are "
                "placed by it; remove it from labels"
            )
        return value


class GkeNetwork(Model):
    """VPC settings of the GKE cluster."""

    network: str = "default"
    subnetwork: str | None = None
    pods_secondary_range: str | None = None
    services_secondary_range: str | None = None
    private_nodes: bool = False
    """Nodes without public IPs. They reach registries and repositories through Cloud NAT."""
    cloud_nat: bool | None = None
    """With ``privateNodes``, required: ``true`` creates a Cloud Router and NAT for the
    cluster's region; ``false`` says the VPC already has one (it is managed with the VPC).
    Private nodes without NAT can pull no public image and fetch no repository."""
    master_ipv4_cidr_block: str = "172.16.0.32/28"
    """Control-plane range, used only with ``privateNodes``."""
    master_authorized_networks: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach the API server. Empty: no restriction."""

    @model_validator(mode="after")
    def _egress(self) -> GkeNetwork:
        if self.private_nodes and self.cloud_nat is None:
            raise ValueError(
                "privateNodes needs egress through Cloud NAT: set cloudNat to true to create "
                "one, or to false if the VPC already has one"
            )
        return self


class GkeCluster(ClusterBase):
    """``provider: gke`` — a GKE cluster with a core pool and a user pool."""

    provider: Literal["gke"]
    location: str | None = None
    """Region (regional cluster) or zone (zonal cluster). Defaults to ``gcp:region``."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    workload_identity: bool = True
    deletion_protection: bool | None = None
    """GKE's own deletion protection. Defaults to ``protect``."""
    security_group: str | None = None
    """``gke-security-groups@<your-domain>``: turns on Google Groups for RBAC, so that
    ``kind: Group`` users (Google Groups) match. Required when there are such users.
    https://cloud.google.com/kubernetes-engine/docs/how-to/google-groups-rbac"""
    network: GkeNetwork = Field(default_factory=GkeNetwork)
    core_pool: GkeNodePool
    user_pool: GkeNodePool

    @property
    def user_node_selector(self) -> dict[str, str]:
        return {NODE_PURPOSE_LABEL: "user"}

    @property
    def user_nodes_tainted(self) -> bool:
        return True


# ---- An existing cluster -----------------------------------------------------------


class ExistingCluster(ClusterBase):
    """``provider: existing`` — a cluster someone else runs, given by kubeconfig.

    The kubeconfig comes from the secret ``binder:kubeconfig`` if set, else from
    ``kubeconfigPath``, else from ``$KUBECONFIG`` or ``~/.kube/config`` as kubectl does.
    """

    provider: Literal["existing"]
    protect: bool = False
    kubeconfig_path: str | None = None
    context: str | None = None
    """Context to use; defaults to the kubeconfig's ``current-context``."""
    user_nodes: dict[str, str] = Field(default_factory=dict)
    """Labels of nodes reserved for user pods, if the site has such nodes."""
    user_nodes_taint: bool = False
    """Whether those nodes carry the z2jh taint ``hub.jupyter.org/dedicated=user:NoSchedule``."""

    @property
    def user_node_selector(self) -> dict[str, str]:
        return dict(self.user_nodes)

    @property
    def user_nodes_tainted(self) -> bool:
        return self.user_nodes_taint and bool(self.user_nodes)


ClusterConfig = Annotated[
    MagnumCluster | GkeCluster | ExistingCluster, Field(discriminator="provider")
]


# --------------------------------------------------------------------------------------
# Cluster bootstrap: binder:namespaces, binder:deployer, binder:users
# --------------------------------------------------------------------------------------


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


#: A Kubernetes quantity ("500m", "2", "4Gi", "1e3"), as the API server's openapi spec has it.
#: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
_QUANTITY = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: Label names and values; prefixes are DNS subdomains.
#: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
#: Namespaces that every cluster already has: creating one would fail, and managing it from
#: this program would hand it to `pulumi destroy`.
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
#: The user-facing roles Kubernetes ships as ClusterRoles.
#: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
BUILTIN_ROLES: tuple[str, ...] = ("admin", "edit", "view")


def _quantity_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return str(value) if isinstance(value, int | float) else value


def _quantity_problem(value: str) -> str:
    return (
        f"'{value}' is not a Kubernetes quantity; write it like '500m', '2', '512Mi' or '4Gi'"
    )


def _label_problems(key: str, value: str, check_value: bool) -> list[str]:
    """What is wrong with a label (or annotation) key and value; empty if nothing."""
    problems = []
    prefix, slash, name = key.rpartition("/")
    if (slash and not _DNS_SUBDOMAIN.match(prefix)) or not _LABEL_NAME.match(name):
        problems.append(
            "not a valid key: use an optional DNS-subdomain prefix and '/', then at most 63 "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    if check_value and value and not _LABEL_NAME.match(value):
        problems.append(
            "label value must be at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit"
        )
    return problems


def _config_errors(
    title: str, problems: list[tuple[tuple[str | int, ...], str]]
) -> ValidationError:
    """A ValidationError whose errors point at the exact keys (``users[2].role``).

    A plain ``ValueError`` from a model validator is reported at the model's own location;
    these keep the key path, which :func:`format_validation_error` prints as
    ``binder:users[2].role``.
    """
    from pydantic_core import InitErrorDetails, PydanticCustomError

    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                # The message goes in as context, never as a format template.
                type=PydanticCustomError("binder_config", "{message}", {"message": message}),
                loc=loc,
                input=None,
            )
            for loc, message in problems
        ],
    )


class NamespaceConfig(Model):
    """A namespace and its guard rails."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the Namespace (e.g. Pod Security Admission's
    ``pod-security.kubernetes.io/enforce``)."""
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
                        {str(q): _quantity_text(n) for q, n in v.items()}
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
            problems += [(("labels", key), p) for p in _label_problems(key, text, True)]
        for key in self.annotations:
            problems += [(("annotations", key), p) for p in _label_problems(key, "", False)]
        for key, amount in (self.quota.hard if self.quota else {}).items():
            if not _QUANTITY.match(amount):
                problems.append((("quota", "hard", key), _quantity_problem(amount)))
        for index, item in enumerate(self.limits):
            for field in ("default", "default_request", "max", "min"):
                for resource, amount in (getattr(item, field) or {}).items():
                    if not _QUANTITY.match(amount):
                        where = ("limits", index, to_camel(field), resource)
                        problems.append((where, _quantity_problem(amount)))
        if problems:
            raise _config_errors("NamespaceConfig", problems)
        return self


#: Namespaces every stack gets unless ``binder:namespaces`` overrides an entry.
DEFAULT_NAMESPACES: tuple[str, ...] = (
    "binder",
    "ingress",
    "cert-manager",
    "monitoring",
    "logging",
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

    @model_validator(mode="after")
    def _check(self) -> UserAccount:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.name != self.name.strip() or any(c.isspace() for c in self.name):
            problems.append((("name",), "must not contain spaces"))
        if self.kind == "ServiceAccount" and not (
            len(self.name) <= 63 and re.match(_DNS_LABEL, self.name)
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
            raise _config_errors("UserAccount", problems)
        return self


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: ClusterRole names are path segments: no '/' or '%'. Allow what clusters use in practice.
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$")

#: The namespaces the releases install into; the deploy agent's token must not live in one,
#: where the release's users (and its ServiceAccounts) could read it.
RELEASE_NAMESPACES: tuple[str, ...] = ("binder", "ingress", "cert-manager", "monitoring", "logging")

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


def identity_slug(name: str) -> str:
    """A DNS-label-safe form of an identity (``alice@example.org`` -> ``alice-example-org-<hash>``).

    The bootstrap names a user's objects after it. An identity that is already a DNS label
    (at most 40 characters) is kept as it is; any other gets a short hash of the full identity,
    so that identities differing only in punctuation (``a.b@x`` / ``a-b@x``) stay distinct.
    ``_access_problems`` checks that no two users get the same slug.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "x"
    if slug != name:
        slug += "-" + hashlib.sha256(name.encode()).hexdigest()[:6]
    return slug


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
    for namespace in user.namespaces:
        if namespace in readers:
            reasons.append(
                f"'{user.role}' in '{namespace}' can run pods as its ServiceAccounts, and "
                f"{readers[namespace]}"
            )
    return reasons


def _access_problems(cfg: StackConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks of binder:namespaces / deployer / users / customRoles that span sections."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
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
        if not _ROLE_NAME.match(role):
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
        elif user.may_read_deployer_token and not reach and user.role in BUILTIN_ROLES:
            problems.append(
                (
                    (*at, "mayReadDeployerToken"),
                    f"is set, but '{user.role}' here cannot read the deploy agent's token; "
                    "remove it",
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
        if gke_identity and not _EMAIL.match(user.name):
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


# --------------------------------------------------------------------------------------
# Secrets sources: binder:secretsFiles
# --------------------------------------------------------------------------------------
# Listed like Helmsman's ``secretsFiles:``; see components/secrets/material.py.


# --------------------------------------------------------------------------------------
# Releases: binder:binderhub, binder:registry, binder:ingress, binder:tls, ...
# --------------------------------------------------------------------------------------


class ResourceBounds(Model):
    """Request (``guarantee``) and limit of one resource, in z2jh's terms."""

    guarantee: str | float
    """What the pod is guaranteed (its request), e.g. ``0.5`` CPU or ``1G`` memory."""
    limit: str | float
    """The most it may use, e.g. ``2`` CPUs or ``4G`` memory."""


def _cpus(value: str | float, where: str) -> float:
    # z2jh's singleuser.cpu takes a number of CPUs; accept Kubernetes' "500m" as well.
    text = str(value).strip()
    try:
        cpus = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ValueError(
            f"cpu.{where} must be a number of CPUs such as 0.5 or '500m', not '{text}'"
        ) from None
    if cpus <= 0:
        raise ValueError(f"cpu.{where} must be greater than 0")
    return cpus


class UserResources(Model):
    """Requests (guarantee) and limits of each user pod."""

    cpu: ResourceBounds = ResourceBounds(guarantee=0.5, limit=2)
    """CPUs; numbers, or millicores such as ``500m`` (converted to CPUs)."""
    memory: ResourceBounds = ResourceBounds(guarantee="1G", limit="4G")
    """Bytes with a unit suffix (``1G``, ``512M``), as z2jh's ``singleuser.memory``."""

    @model_validator(mode="after")
    def _cpu_numbers(self) -> UserResources:
        guarantee = _cpus(self.cpu.guarantee, "guarantee")
        limit = _cpus(self.cpu.limit, "limit")
        if guarantee > limit:
            raise ValueError(
                f"cpu.guarantee ({guarantee:g}) is greater than cpu.limit ({limit:g}); "
                "set guarantee <= limit"
            )
        object.__setattr__(self, "cpu", ResourceBounds(guarantee=guarantee, limit=limit))
        return self


#: Settings of ``binder:binderhub.auth`` that only one authenticator type understands.
_GITHUB_ONLY = ("allowed_organizations",)
_GENERIC_ONLY = (
    "authorize_url",
    "token_url",
    "userdata_url",
    "username_claim",
    "allowed_groups",
    "groups_claim",
    "login_service",
)
_GENERIC_URLS = ("authorize_url", "token_url", "userdata_url")


def _is_are(names: Collection[str]) -> str:
    return "is" if len(names) == 1 else "are"


class AuthConfig(Model):
    """Who may use BinderHub: anyone, anonymously (``none``), or users who log in to its
    JupyterHub through an OAuth provider.

    The OAuth client's ID and secret are secrets (``oauthClientId``/``oauthClientSecret``,
    or ``oauth.clientId``/``oauth.clientSecret`` in a SOPS file), never settings here.
    https://binderhub.readthedocs.io/en/latest/authentication.html and
    https://oauthenticator.readthedocs.io/en/latest/
    """

    type: Literal["none", "github", "generic"] = "none"
    """``none``: the public anonymous Binder. ``github``: GitHub accounts
    (GitHubOAuthenticator). ``generic``: any OAuth 2.0 / OpenID Connect provider, such as an
    institution's Keycloak or ELIXIR AAI (GenericOAuthenticator)."""
    allow_all: bool = False
    """Let in every account the provider authenticates."""
    allowed_users: list[str] = Field(default_factory=list)
    """Usernames that may log in."""
    admin_users: list[str] = Field(default_factory=list)
    """Usernames that are JupyterHub admins (and may log in)."""
    allowed_organizations: list[str] = Field(default_factory=list)
    """``github``: members of these organizations, or teams as ``org:team``, may log in."""
    authorize_url: str | None = None
    """``generic``: the provider's authorization endpoint (``authorization_endpoint`` of its
    ``/.well-known/openid-configuration``)."""
    token_url: str | None = None
    """``generic``: the provider's token endpoint (``token_endpoint``)."""
    userdata_url: str | None = None
    """``generic``: the provider's userinfo endpoint (``userinfo_endpoint``)."""
    username_claim: str = "preferred_username"
    """``generic``: the userinfo claim that becomes the JupyterHub username."""
    allowed_groups: list[str] = Field(default_factory=list)
    """``generic``: members of these groups may log in (groups read from ``groupsClaim``)."""
    groups_claim: str = "groups"
    """``generic``: the userinfo claim that lists the user's groups."""
    scopes: list[str] | None = None
    """OAuth scopes to request. Default: ``github``: ``read:org`` when
    ``allowedOrganizations`` is set (to see private memberships), else none; ``generic``:
    ``openid``, ``profile``, ``email``."""
    login_service: str | None = None
    """``generic``: the provider's name on the login button, e.g. ``ELIXIR AAI``."""

    @property
    def enabled(self) -> bool:
        return self.type != "none"

    @model_validator(mode="after")
    def _check(self) -> AuthConfig:
        given = {name for name in self.model_fields_set if name != "type"}
        camel = ", ".join(sorted(to_camel(name) for name in given))
        if self.type == "none":
            if given:
                raise ValueError(
                    f"{camel} {_is_are(given)} only used by an authenticated hub, but type is "
                    "'none'; set type to 'github' or 'generic', or remove "
                    + ("it" if len(given) == 1 else "them")
                )
            return self
        problems = []
        other, wrong = (
            ("generic", _GENERIC_ONLY) if self.type == "github" else ("github", _GITHUB_ONLY)
        )
        misplaced = sorted(to_camel(name) for name in given if name in wrong)
        if misplaced:
            problems.append(
                f"{', '.join(misplaced)} {_is_are(misplaced)} only used by type '{other}', "
                f"not '{self.type}'; remove " + ("it" if len(misplaced) == 1 else "them")
            )
        if self.type == "generic":
            missing = [to_camel(name) for name in _GENERIC_URLS if not getattr(self, name)]
            if missing:
                problems.append(
                    f"type 'generic' needs the provider's {', '.join(missing)} (its "
                    "authorization, token and userinfo endpoints, listed in its "
                    "/.well-known/openid-configuration)"
                )
            for name in _GENERIC_URLS:
                url = getattr(self, name)
                if url and not re.match(r"^https://[^/\s]+", url):
                    problems.append(
                        f"{to_camel(name)} must be an https:// URL (the client secret is sent "
                        f"to the provider), not '{url}'"
                    )
        allowed = [
            self.allowed_users,
            self.admin_users,
            self.allowed_organizations,
            self.allowed_groups,
        ]
        if not self.allow_all and not any(allowed):
            which = "allowedOrganizations" if self.type == "github" else "allowedGroups"
            problems.append(
                "nobody could log in; set allowAll: true, or list who may in allowedUsers, "
                f"adminUsers or {which}"
            )
        if self.allow_all and (
            self.allowed_users or self.allowed_organizations or self.allowed_groups
        ):
            problems.append(
                "allowAll: true lets every account in, so allowedUsers/allowedOrganizations/"
                "allowedGroups would have no effect; remove allowAll or the lists"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class BinderHubConfig(Model):
    """The public BinderHub service."""

    host: str
    """Public hostname of BinderHub, e.g. ``binder.example.org``."""
    hub_host: str
    """Public hostname of its JupyterHub, e.g. ``hub.binder.example.org``."""
    image_builder_type: Literal["dind", "pink", "host"] = "dind"
    """dind suits containerd nodes; ``host`` needs a Docker socket on the node."""
    user_resources: UserResources = Field(default_factory=UserResources)
    """CPU and memory of each user pod."""
    banner_message: str | None = None
    """HTML shown on top of the BinderHub page (``BinderHub.banner_message``)."""
    auth: AuthConfig = Field(default_factory=AuthConfig)
    """Anonymous (``type: none``, the default) or logged in through OAuth."""

    @field_validator("host", "hub_host")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if "://" in value or "/" in value or not value.strip():
            raise ValueError(
                f"must be a bare hostname such as 'binder.example.org', not '{value}'"
            )
        return value

    @model_validator(mode="after")
    def _distinct_hosts(self) -> BinderHubConfig:
        if self.host == self.hub_host:
            raise ValueError("host and hubHost must differ: each gets its own Ingress")
        return self


class RegistryConfig(Model):
    """Where BinderHub pushes the images it builds."""

    url: str = "https://registry.hub.docker.com"
    """Registry URL; DockerHub by default."""
    prefix: str
    """Image name prefix, e.g. ``bioexcel/binder-`` on DockerHub. On another registry the
    registry host is put in front unless the prefix already starts with it."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"must be a URL such as 'https://registry.hub.docker.com', not '{value}'"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if "://" in value or not value or value.startswith("/"):
            raise ValueError(
                f"must be an image name prefix such as 'myorg/binder-', not '{value}'"
            )
        return value


class IngressConfig(Model):
    """The ingress controller."""

    controller: Literal["traefik", "none"] = "traefik"
    """``none`` for clusters that bring their own controller."""
    class_name: DnsLabel = "traefik"
    """IngressClass of every Ingress (and of the ACME HTTP-01 solver)."""
    load_balancer_ip: str | None = None
    """A reserved address for the controller's LoadBalancer Service, if the cloud has one."""


class TlsConfig(Model):
    """Where TLS certificates come from."""

    source: Literal["letsencrypt", "institution", "none"] = "letsencrypt"
    """``letsencrypt`` (cert-manager), ``institution`` (a certificate given as the secrets
    ``tlsCertificate``/``tlsKey``) or ``none`` (plain HTTP)."""
    issuer: Literal["production", "staging"] = "production"
    """Let's Encrypt environment; ``staging`` for trying out a stack."""
    email: str | None = None
    """Optional contact address of the ACME account (cert-manager's ClusterIssuer
    ``acme.email``), as ACME and cert-manager have it. Since 26 June 2025 Let's Encrypt
    neither keeps it with the account nor sends expiry emails, so nothing depends on it:
    watch renewals in cert-manager's metrics and ``tools/smoke.py`` instead.
    https://letsencrypt.org/2025/06/26/expiration-notification-service-has-ended/"""

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("must be an email address such as ops@example.org, or be left out")
        return value


class Toggle(Model):
    """An optional part that can be switched off."""

    enabled: bool = True


class MonitoringConfig(Model):
    """Prometheus + Grafana."""

    enabled: bool = True
    grafana_host: str | None = None
    """Public hostname of Grafana; without it Grafana gets no ingress."""
    retention: str = Field(default="15d", pattern=r"^\d+(ms|s|m|h|d|w|y)$")
    """How long Prometheus keeps samples, e.g. ``15d``."""


class LoggingOutput(Model):
    """Where Fluentd sends the logs."""

    type: Literal["stdout", "elasticsearch", "opensearch"] = "stdout"
    """``stdout`` (read them with ``kubectl logs``) or a search cluster."""
    host: str | None = None
    """Hostname of the Elasticsearch/OpenSearch endpoint."""
    port: int = Field(default=9200, ge=1, le=65535)
    scheme: Literal["http", "https"] = "https"
    user: str | None = None
    """Account name; its password is the secret ``loggingPassword``."""
    index_prefix: str = Field(default="binder", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """Indices are named ``<prefix>-YYYY.MM.DD``."""

    # host and user are written into fluentd's configuration as double-quoted strings, where
    # a quote or newline would break out of the value and `#{...}` is evaluated as Ruby
    # (https://docs.fluentd.org/configuration/config-file#embedded-ruby-code): only plain
    # names are accepted.
    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value
        ):
            raise ValueError(
                "must be a bare hostname or IPv4 address such as 'es.example.org' (letters, "
                "digits, '.' and '-'); give the scheme and port in `scheme` and `port`"
            )
        return value

    @field_validator("user")
    @classmethod
    def _plain_user(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.fullmatch(r"[\x21-\x7e]{1,507}", value) or set(value) & set("\"'`\\#{}")
        ):
            raise ValueError(
                "must be an account name of printable ASCII characters without spaces, "
                "quotes, backslashes, '#' or braces (it is written into fluentd's "
                "configuration)"
            )
        return value

    @model_validator(mode="after")
    def _host(self) -> LoggingOutput:
        if self.type != "stdout" and not self.host:
            raise ValueError(f"host is required for output type '{self.type}'")
        return self


class LoggingConfig(Model):
    """Fluentd on every node."""

    enabled: bool = True
    output: LoggingOutput = Field(default_factory=LoggingOutput)


# --------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------


class StackConfig(Model):
    """Everything under ``binder:`` except secrets."""

    cluster: ClusterConfig
    namespaces: dict[DnsLabel, NamespaceConfig] = Field(default_factory=dict)
    deployer: DeployerConfig = Field(default_factory=DeployerConfig)
    users: list[UserAccount] = Field(default_factory=list)
    custom_roles: list[str] = Field(default_factory=list)
    """Names of ClusterRoles, beyond admin/edit/view, that binder:users may be given. The
    ClusterRoles must exist in the cluster (this program binds them, it does not define
    them); anything else in a ``role`` is a typo and an error."""
    secrets_files: list[str] = Field(default_factory=list)
    binderhub: BinderHubConfig | None = None
    registry: RegistryConfig | None = None
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    tls: TlsConfig | None = None
    cert_manager: Toggle = Field(default_factory=Toggle)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _people_can_log_in(self) -> StackConfig:
        """Users and Groups only match if the cluster authenticates such identities."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        cluster = self.cluster
        for i, user in enumerate(self.users):
            if user.kind == "ServiceAccount":
                continue
            if isinstance(cluster, GkeCluster) and user.kind == "Group" and not (
                cluster.security_group
            ):
                problems.append((
                    ("users", i, "kind"),
                    "a Google Group matches only with Google Groups for RBAC: set "
                    "binder:cluster.securityGroup to gke-security-groups@<your-domain>",
                ))
            if isinstance(cluster, MagnumCluster):
                labels = cluster.template.labels
                if labels.get("keystone_auth_enabled") != "true" and not labels.get(
                    "oidc_issuer_url"
                ):
                    problems.append((
                        ("users", i, "kind"),
                        f"a {user.kind} matches only if the Magnum cluster authenticates "
                        "Keystone or OIDC identities: set binder:cluster.template.labels."
                        "keystone_auth_enabled to true (or the oidc_* labels), or make the "
                        "account a ServiceAccount "
                        "(https://docs.openstack.org/magnum/latest/user/#keystone-authn-and-authz)",
                    ))
        if problems:
            raise _config_errors("StackConfig", problems)
        return self

    @model_validator(mode="after")
    def _check_access(self) -> StackConfig:
        problems = _access_problems(self)
        if problems:
            raise _config_errors("StackConfig", problems)
        return self

    @property
    def all_namespaces(self) -> dict[str, NamespaceConfig]:
        """The default namespaces of the enabled parts, overridden and extended by
        ``binder:namespaces``. A part that is switched off gets no namespace of its own."""
        enabled = {
            "binder": True,
            "ingress": self.ingress.controller != "none",
            "cert-manager": self.cert_manager.enabled,
            "monitoring": self.monitoring.enabled,
            "logging": self.logging.enabled,
            "deployer": True,
        }
        merged = {name: NamespaceConfig() for name in DEFAULT_NAMESPACES if enabled[name]}
        merged[self.deployer.namespace] = NamespaceConfig()
        merged.update(self.namespaces)
        return merged


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = f"{PROJECT}:"
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif index == 1 and loc[0] == "cluster" and part in _PROVIDERS:
            continue  # the union branch pydantic picked, not a key the user wrote
        else:
            path += part if index == 0 else f".{part}"
    return path


_PROVIDERS = ("magnum", "gke", "existing")

_HINTS = {
    "missing": "add it to Pulumi.<stack>.yaml",
    "extra_forbidden": "remove it or fix its spelling",
    "union_tag_invalid": "use one of the listed providers",
    "union_tag_not_found": "add `provider: magnum`, `gke` or `existing`",
}


def format_validation_error(error: ValidationError) -> str:
    """Turn a pydantic error into lines that name the key, the problem and the fix.

    Input values are never echoed: they may be secrets.
    """
    lines = []
    for err in error.errors(include_input=False, include_url=False):
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            if len(loc) == 1:
                known = sorted(f.alias or n for n, f in StackConfig.model_fields.items())
                msg += f"; known keys are {', '.join(known)}"
        hint = _HINTS.get(err["type"])
        lines.append(f"  {_format_loc(loc)}: {msg}" + (f" ({hint})" if hint else ""))
    return "\n".join(lines)


def _raw_project_config() -> dict[str, Any]:
    """All ``binder:*`` keys of the stack, parsed from the engine's JSON strings.

    Secret keys are skipped here; they are only ever read via secret accessors.
    """
    config = dict(pulumi.runtime.get_config_env())
    config.update(pulumi.runtime.config.CONFIG.get())
    raw: dict[str, Any] = {}
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT or key in SECRET_KEYS:
            continue
        if pulumi.runtime.is_config_secret(full_key):
            raise ConfigError(
                f"{full_key} is a secret, but it is not a key that may hold one. "
                f"Secret keys are: {', '.join(sorted(SECRET_KEYS))}."
            )
        if isinstance(value, str):
            # Structured values arrive as JSON text; anything else is a plain string.
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        raw[key] = value
    return raw


def parse_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate a ``binder:`` mapping (camelCase keys) into a :class:`StackConfig`."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(
            "Invalid stack configuration:\n" + format_validation_error(exc)
        ) from None


def load_config() -> StackConfig:
    """Read and validate the current stack's ``binder:`` configuration."""
    return parse_config(_raw_project_config())


def resolve_kubeconfig_path(cluster: ExistingCluster) -> Path:
    """The kubeconfig file of an existing cluster, as kubectl would find it."""
    if cluster.kubeconfig_path:
        return Path(os.path.expandvars(cluster.kubeconfig_path)).expanduser()
    env = os.environ.get("KUBECONFIG")
    if env:
        # kubectl merges a list; we use its first entry, which is where kubectl writes.
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path("~/.kube/config").expanduser()
