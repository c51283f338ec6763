"""``binder:cluster``: the cluster of a stack, a discriminated union on ``provider``.

OpenStack Magnum, Google Kubernetes Engine, or an existing cluster given by kubeconfig. The
components that build them live in :mod:`components.cluster`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.config import cost
from components.config.base import ConfigError, DnsLabel, Model
from components.config.gke_maintenance import GkeMaintenanceWindow, GkeUpgrade
from components.config.kubernetes_versions import version_problem
from components.config.magnum_drivers import DRIVERS, DriverFacts, MagnumDriver, driver_problems

_K8S_VERSION = re.compile(r"^1\.(\d+)$")

#: Label that z2jh uses to place hub/proxy ("core") and user pods ("user").
#: https://z2jh.jupyter.org/en/stable/administrator/optimization.html#using-a-dedicated-node-pool-for-users
NODE_PURPOSE_LABEL = "hub.jupyter.org/node-purpose"
#: Taint key that z2jh's user pods tolerate by default (``scheduling.userPods.tolerations``).
USER_TAINT_KEY = "hub.jupyter.org/dedicated"
USER_TAINT_VALUE = "user"


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

    kubernetes_version: str = "1.36"
    """Kubernetes minor version the stack targets (``1.36``). Raw objects are validated
    against this version's schemas, and GKE/Magnum are asked for it. It must be a minor of
    :mod:`components.config.kubernetes_versions` that every pinned chart accepts; the plan
    warns once it is past its end of life."""

    protect: bool = True
    """Protect the cluster and its node pools from ``pulumi destroy``. Turn off only for
    throwaway stacks."""

    @field_validator("kubernetes_version")
    @classmethod
    def _minor_version(cls, value: str) -> str:
        if not _K8S_VERSION.match(value):
            raise ValueError(f"must be a Kubernetes minor version such as '1.36', not '{value}'")
        problem = version_problem(value)
        if problem:
            raise ValueError(problem)
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
    """Glance image of the nodes. Cluster API drivers: an image with Kubernetes baked in, e.g.
    ``ubuntu-jammy-kube-v1.31.4``; heat: ``fedora-coreos-40``."""
    os_distro: str | None = None
    """The image's ``os_distro`` property, as the cloud's operators set it (Magnum picks the
    driver from it). Checked against the driver when given."""
    master_flavor: str
    flavor: str
    external_network: str
    """External network name or ID, for floating IPs and the API load balancer."""
    keypair: str
    """Nova keypair injected into the nodes."""
    docker_volume_size: int | None = Field(default=None, ge=1)
    """heat only: the Docker volume of each node (the Cluster API drivers ignore it)."""
    network_driver: Literal["calico", "flannel", "cilium"] = "calico"
    volume_driver: str | None = None
    """heat only: ``cinder``."""
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
    driver: MagnumDriver = "capi-helm"
    """The Magnum driver the cloud runs for the image: ``capi-helm`` (StackHPC/Azimuth
    magnum-capi-helm), ``cluster-api`` (Vexxhost magnum-cluster-api) or ``heat`` (removed
    upstream in 2026). Ask the cloud's operators. See :mod:`components.config.magnum_drivers`."""
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
        tpl = self.template
        problems = driver_problems(
            self.facts,
            kubernetes_version=self.kubernetes_version,
            image=tpl.image,
            os_distro=tpl.os_distro,
            labels=tpl.labels,
            # Only fields given a value other than their default: a default (masterLbEnabled
            # true, floatingIpEnabled false) agrees with every driver, even written out.
            template_fields_set={
                to_camel(f)
                for f in tpl.model_fields_set
                if getattr(tpl, f) != MagnumTemplate.model_fields[f].default
            },
            network_driver=tpl.network_driver,
            node_group_labels={g.name: g.labels for g in self.node_groups if g.labels},
        )
        if "dockerVolumeSize" in self.facts.ignored_template_fields:
            problems += [
                f"nodeGroups[{g.name}].dockerVolumeSize is ignored by the {self.driver} driver "
                "(nodes have one boot volume: the boot_volume_size label); remove it"
                for g in self.node_groups
                if g.docker_volume_size is not None
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def facts(self) -> DriverFacts:
        """What the configured driver honours."""
        return DRIVERS[self.driver]

    def node_group_selector(self, group: MagnumNodeGroup) -> dict[str, str]:
        """The node label the driver puts on every node of ``group``."""
        key, _, value = self.facts.node_group_label.partition("=")
        name = group.name
        if self.driver == "capi-helm":
            # driver_utils.sanitized_name: lower case, runs of other characters -> "-".
            name = re.sub("[^a-z0-9]+", "-", name.lower()).strip("-")
        role = group.purpose or ("worker" if group.name == "default-worker" else group.name)
        return {key: value.format(name=name, role=role)}

    @property
    def default_worker_selector(self) -> dict[str, str]:
        """The node label of Magnum's default worker group (name ``default-worker``, role
        ``worker``), where core pods go (helm_configs/ebi/*.yaml select it)."""
        return self.node_group_selector(MagnumNodeGroup(name="default-worker", purpose=None))

    @property
    def node_cidr(self) -> str | None:
        """The nodes' subnet: ``fixed_subnet_cidr`` or the driver's default for it."""
        return self.template.labels.get("fixed_subnet_cidr") or self.facts.default_node_cidr

    @property
    def user_node_selector(self) -> dict[str, str]:
        # None of Magnum's drivers puts our labels on a node group's nodes; each labels them
        # its own way (see components.config.magnum_drivers), which user pods select on.
        for group in self.node_groups:
            if group.purpose == "user":
                return self.node_group_selector(group)
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
    upgrade: GkeUpgrade = Field(default_factory=GkeUpgrade)
    """Surge settings of node upgrades (GKE upgrades nodes in the maintenance window)."""

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
    dataplane_v2: bool = True
    """GKE Dataplane V2 (``ADVANCED_DATAPATH``, eBPF): enforces NetworkPolicies, which the
    JupyterHub chart relies on to fence user pods on a public service. Chosen only when the
    cluster is created: changing it replaces the cluster.
    https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2"""
    accept_no_network_policies: bool = False
    """``dataplaneV2: false`` is refused unless this says it is meant: GKE Standard then
    enforces no NetworkPolicy (this program turns on no Calico add-on), so z2jh's user-pod
    policies and ours for builds are accepted and do nothing -- user code reaches the hub,
    the metadata server and every pod."""
    accept_node_metadata_exposure: bool = False
    """``workloadIdentity: false`` is refused unless this says it is meant: pods then reach
    the node's metadata server (no ``GKE_METADATA``) and every user pod can take the node
    service account's token, and BinderHub cannot push to Artifact Registry as itself.
    https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity"""
    node_service_account: str | None = None
    """The Google service account the nodes run as, by email, if you manage it yourself.
    Default: the program creates ``<name>-nodes@<project>.iam.gserviceaccount.com`` with
    only ``roles/container.defaultNodeServiceAccount`` (logging, monitoring) and pull access
    to the stack's Artifact Registry repository -- never the Compute Engine default account,
    whose project-wide Editor grant every pod could use through the node.
    https://cloud.google.com/kubernetes-engine/docs/how-to/service-accounts#node-service-accounts"""
    maintenance_window: GkeMaintenanceWindow | None = None
    """When GKE may upgrade (and so drain nodes); None: any time. Set it on a public service."""
    core_pool: GkeNodePool
    user_pool: GkeNodePool
    # Cost (components/config/cost.py, docs/day-two.md "Cost labels and a budget").
    resource_labels: dict[str, str] = Field(default_factory=dict)
    """Google Cloud labels of the cluster and its node pools, besides the program's own
    (``binder-stack``, ``binder-cluster``, ``binder-pool``): e.g. ``cost-centre``."""
    cost_allocation: bool = True
    """GKE cost allocation: namespaces and Kubernetes labels in the billing export."""
    budget: cost.BudgetConfig | None = None
    """An optional monthly billing budget of the project, with alert thresholds."""

    @field_validator("resource_labels")
    @classmethod
    def _gcp_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if problems := cost.gcp_label_problems(value):
            raise ValueError("; ".join(problems))
        return value

    @field_validator("node_service_account")
    @classmethod
    def _service_account_email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com",
            value,
        ):
            raise ValueError(
                f"'{value}' is not a service account email such as "
                "binder-nodes@my-project.iam.gserviceaccount.com (the Compute Engine default "
                "account, <number>-compute@developer.gserviceaccount.com, is refused: its "
                "Editor grant reaches the whole project)"
            )
        return value

    @model_validator(mode="after")
    def _protections_kept(self) -> GkeCluster:
        if not self.dataplane_v2 and not self.accept_no_network_policies:
            raise ValueError(
                "dataplaneV2 is false: GKE would enforce no NetworkPolicy, so user pods could "
                "reach the hub, the metadata server and every pod; keep dataplaneV2: true, or "
                "set acceptNoNetworkPolicies: true to accept that"
            )
        if not self.workload_identity and not self.accept_node_metadata_exposure:
            raise ValueError(
                "workloadIdentity is false: every pod, user servers included, could take the "
                "node service account's token from the metadata server; keep "
                "workloadIdentity: true, or set acceptNodeMetadataExposure: true to accept "
                "that"
            )
        return self

    @property
    def node_account_id(self) -> str:
        """The account ID (6-30 characters) of the node service account the program creates."""
        prefix = self.name[:24].rstrip("-")
        if not prefix[0].isalpha():  # an account ID starts with a letter
            prefix = f"n{prefix}"[:24].rstrip("-")
        return f"{prefix}-nodes"

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


def resolve_kubeconfig_path(cluster: ExistingCluster) -> Path:
    """The kubeconfig file of an existing cluster, as kubectl would find it.

    ``kubeconfigPath`` may name environment variables (``$HOME/.kube/site``,
    ``${BINDER_E2E_KUBECONFIG}``); one that is not set is an error that names it, not a
    search for a file called ``$NAME``."""
    if cluster.kubeconfig_path:
        expanded = os.path.expandvars(cluster.kubeconfig_path)
        unset = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expanded)
        if unset:
            raise ConfigError(
                f"binder:cluster.kubeconfigPath names ${unset[0]}, which is not set in the "
                "environment; set it to the kubeconfig's path (for the e2e stack, `make "
                "cluster-up` prints it and `make up STACK=e2e` sets it)"
            )
        return Path(expanded).expanduser()
    env = os.environ.get("KUBECONFIG")
    if env:
        # kubectl merges a list; we use its first entry, which is where kubectl writes.
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path("~/.kube/config").expanduser()
