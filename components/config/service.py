"""Settings of a public Binder service: ``binder:binderhub.builder`` (the image builder) and
``binder:binderhub.limits`` (abuse limits).

Defaults follow what a public service needs, compared with mybinder.org's configuration in
https://github.com/jupyterhub/mybinder.org-deploy (``mybinder/values.yaml`` and
``config/*.yaml``); docs/operations.md "Running a public Binder" has the table of each
setting against mybinder.org's. The components that use them are
:mod:`components.releases.builder` and :mod:`components.releases.limits`.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

from pydantic import Field, field_validator, model_validator

from components.config.base import QUANTITY, Model, Quantity, quantity_problem
from components.config.public import (
    IdleCulling,
    QuotaRaise,
    banned_by_provider_or_error,
    banned_networks_or_error,
)

#: Binary suffixes of JupyterHub's ByteSpecification (``singleuser.memory``): ``1G`` is 2**30.
#: https://github.com/jupyterhub/jupyterhub/blob/main/jupyterhub/traitlets.py (ByteSpecification)
_BYTE_SPEC = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
#: Kubernetes quantity suffixes (decimal and binary).
#: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
_QUANTITY_SUFFIX = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_value(text: str | float) -> float:
    """The number a Kubernetes quantity stands for: ``500m`` -> 0.5, ``4Gi`` -> 4 * 2**30."""
    value = str(text).strip()
    match = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([kKMGTPE]i?|m)?", value)
    if not match or not QUANTITY.match(value):
        raise ValueError(quantity_problem(value))
    number, suffix = match.groups()
    return float(number) * _QUANTITY_SUFFIX[suffix or ""]


def byte_spec_value(text: str | float) -> float:
    """Bytes of a JupyterHub ByteSpecification (``1G``, ``512M``, a plain number)."""
    value = str(text).strip()
    if value and value[-1] in _BYTE_SPEC:
        return float(value[:-1]) * _BYTE_SPEC[value[-1]]
    return float(value)


class Bounds(Model):
    """Request and limit of one resource, as Kubernetes quantities."""

    request: Quantity
    limit: Quantity

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if quantity_value(self.request) > quantity_value(self.limit):
            raise ValueError(
                f"request ({self.request}) is greater than limit ({self.limit}); "
                "set request <= limit"
            )
        return self

    def values(self) -> tuple[float, float]:
        return quantity_value(self.request), quantity_value(self.limit)


class PodResources(Model):
    """CPU and memory requests and limits of one container."""

    cpu: Bounds
    memory: Bounds

    def kubernetes(self, **extra_limits: str) -> dict[str, dict[str, str]]:
        """The container's ``resources`` in Kubernetes terms."""
        return {
            "requests": {"cpu": self.cpu.request, "memory": self.memory.request},
            "limits": {"cpu": self.cpu.limit, "memory": self.memory.limit, **extra_limits},
        }


#: Address ranges no build may reach: private (RFC 1918), carrier-grade NAT (RFC 6598, used
#: by some clouds for nodes and services) and link-local (RFC 3927), which holds every
#: cloud's metadata endpoint (169.254.169.254; GKE's metadata server also 169.254.169.252).
DEFAULT_INTERNAL_NETWORKS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
)
#: The cloud metadata endpoint; denied to builds whatever ``internalNetworks`` says.
#: https://cloud.google.com/compute/docs/metadata/overview and
#: https://docs.openstack.org/nova/latest/user/metadata.html
METADATA_ENDPOINT = "169.254.169.254/32"


#: Directories of the node's operating system and of its kubelet and container runtime:
#: dind's data directory may be neither these nor inside them.
NODE_SYSTEM_DIRS = (
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr", "/var/lib/containerd", "/var/lib/kubelet",
    "/var/log", "/var/run",
)


class BuilderConfig(Model):
    """The image builder: Docker-in-Docker on every build node, and the build pods
    (repo2docker) that drive it.

    repo2docker builds with BuildKit inside the node's dind daemon, so every build on a node
    shares dind's CPU and memory; the build pod itself only clones the repository and streams
    the build context (mybinder.org sizes both the same way)."""

    dind: PodResources = PodResources(
        cpu=Bounds(request="1", limit="4"), memory=Bounds(request="4Gi", limit="8Gi")
    )
    """dind's resources: every build on the node shares them. mybinder.org's federation
    members give it 4-8 CPUs and 12-16 Gi on dedicated build nodes; ours share user nodes."""
    build_pod: PodResources = PodResources(
        cpu=Bounds(request="100m", limit="1"), memory=Bounds(request="1Gi", limit="2Gi")
    )
    """Each build pod (``KubernetesBuildExecutor.resources``)."""
    build_pod_disk: Quantity = "2Gi"
    """Ephemeral-storage limit of a build pod: bounds the size of a repository's clone."""
    data_dir: str | None = None
    """dind's data directory on the node. Default: on the node's large volume where the
    cluster has one (Magnum's docker volume, mounted at ``/var/lib/docker``), else the chart's
    ``/var/lib/dind`` on the boot disk (GKE's boot disk is the pool's ``diskSizeGb``)."""
    cache_size: str = Field(default="50GB", pattern=r"^\d+(\.\d+)?(B|KB|MB|GB|TB)$")
    """BuildKit cache kept per node (``docker builder prune --max-used-space``)."""
    prune_every_minutes: int = Field(default=10, ge=1, le=1440)
    """How often each node's pruner runs."""
    prune_images_older_than_hours: int = Field(default=2, ge=1)
    """Built images not used for this long are removed from dind (they are in the registry)."""
    mtu: int | None = Field(default=None, ge=1280, le=8896)
    """dind's MTU (``dockerd --mtu``), for the networks of builds and their containers: no
    larger than the pod network's, or packets of builds that leave the node are dropped
    (TLS handshakes stall). Docker's default is 1500, above every overlay's: required on
    Magnum (and checked there); on GKE the VPC default, 1460, unless set. Set it in the stack
    file with where it comes from."""
    registry_mirrors: list[str] | None = None
    """Pull-through mirrors dind asks first for Docker Hub images (repositories' base images),
    ``dockerd --registry-mirror``; Docker Hub itself when they lack one. Default:
    ``https://mirror.gcr.io`` on GKE (Google's cache of frequently pulled Docker Hub images,
    meant to be used this way: https://cloud.google.com/artifact-registry/docs/pull-cached-dockerhub-images),
    none elsewhere."""
    internal_networks: list[str] = Field(default_factory=lambda: list(DEFAULT_INTERNAL_NETWORKS))
    """Ranges build pods and dind may not reach (the cluster's nodes, pods, services and the
    cloud's internal networks). The metadata endpoint is denied in any case."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.fullmatch(r"/[A-Za-z0-9._/-]+", value):
            raise ValueError(
                f"must be an absolute path on the node such as /mnt/dind, not '{value}'"
            )
        # dind runs privileged and owns this directory: `/../../etc` would be the node's /etc.
        if posixpath.normpath(value) != value or value.startswith("//"):
            raise ValueError(
                f"'{value}' must be written plainly, without '.', '..', '//' or a trailing "
                f"'/' (it means {posixpath.normpath(value)}); give that path if you mean it"
            )
        system = next((d for d in NODE_SYSTEM_DIRS
                       if value == d or value.startswith(d + "/")), None)
        if system is not None:
            raise ValueError(
                f"'{value}' is in the node's own {system}: privileged dind would write its "
                "images and containers there; use a directory of its own such as /mnt/dind "
                "or /var/lib/dind"
            )
        return value

    @field_validator("registry_mirrors")
    @classmethod
    def _mirrors(cls, value: list[str] | None) -> list[str] | None:
        for url in value or []:
            if not re.fullmatch(r"https?://[a-z0-9.-]+(:\d+)?/?", url):
                raise ValueError(
                    f"'{url}' is not a registry mirror URL such as https://mirror.gcr.io "
                    "(scheme and host, no path)"
                )
        return value

    @field_validator("internal_networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise ValueError(
                    f"'{cidr}' is not a network in CIDR notation such as 10.0.0.0/8"
                ) from None
        return value


class NodeCapacity(Model):
    """What one user node has (its capacity, before the system's reservations)."""

    cpu: float = Field(gt=0)
    """CPUs of the node."""
    memory: Quantity
    """Memory of the node, a Kubernetes quantity such as ``32Gi``."""


class LaunchLimits(Model):
    """Abuse limits of a public Binder (BinderHub's launch quotas and banned repositories).

    https://binderhub.readthedocs.io/en/latest/reference/app.html and
    https://binderhub.readthedocs.io/en/latest/reference/repoproviders.html"""

    total_pods: int | None = Field(default=None, ge=0)
    """Most user servers running at once (``LaunchQuota.total_quota``); ``0`` stops
    launches (maintenance). Default: no global quota -- set it from the user pool's size."""
    per_repo: int = Field(default=100, ge=0)
    """Most servers running from one repository (``BinderHub.per_repo_quota``); 0: none."""
    per_repo_higher: int = Field(default=200, ge=0)
    """The same, for repositories matching ``highQuotaSpecs``."""
    high_quota_specs: list[str] = Field(default_factory=list)
    """Regular expressions of specs (``owner/repo/ref`` on GitHub) with the higher quota."""
    banned_specs: list[str] = Field(default_factory=list)
    """Regular expressions of specs that may not be built or launched (``banned_specs`` of
    every repository provider)."""
    user_node: NodeCapacity | None = None
    """A user node's CPUs and memory, for the check that a user pod fits one. Not needed on
    GKE (read from ``userPool.machineType``); give it for Magnum or an existing cluster."""
    user_node_count: int | None = Field(default=None, ge=1)
    """Most user nodes the cluster has, for the derived global quota on an existing cluster
    (GKE and Magnum: read from the user pool's or group's ``maxNodes``/``nodeCount``)."""
    quota_raises: list[QuotaRaise] = Field(default_factory=list)
    """Temporary per-repository quotas with an expiry date (``RepoProvider.spec_config``)."""
    max_build_age_seconds: int = Field(default=3600, ge=300)
    """Build pods older than this are deleted (``KubernetesCleaner.max_age``; BinderHub's
    default is 4 hours, mybinder.org's 1 hour)."""
    idle_culling: IdleCulling = Field(default_factory=IdleCulling)
    """Idle kernels and servers stopped inside each user server."""
    banned_specs_by_provider: dict[str, list[str]] = Field(default_factory=dict)
    """More banned specs for one provider, by BinderHub's class name (``GitLabRepoProvider``:
    ...), in that provider's spec format: GitLab and Git specs are URL-escaped
    (``group%2Fproject/ref``); the plan checks each pattern against it."""
    banned_networks: dict[str, str] = Field(default_factory=dict)
    """Client networks refused by BinderHub (``BinderHub.ban_networks``): CIDR -> label,
    e.g. ``203.0.113.0/24: a network that abused the service``."""

    @field_validator("banned_specs_by_provider")
    @classmethod
    def _by_provider(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return banned_by_provider_or_error(value)

    @field_validator("banned_networks")
    @classmethod
    def _networks(cls, value: dict[str, str]) -> dict[str, str]:
        return banned_networks_or_error(value)

    @field_validator("high_quota_specs", "banned_specs")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _quota_order(self) -> LaunchLimits:
        if self.per_repo and self.per_repo_higher and self.per_repo_higher < self.per_repo:
            raise ValueError(
                f"perRepoHigher ({self.per_repo_higher}) is below perRepo ({self.per_repo}); "
                "the higher quota must be at least the ordinary one"
            )
        return self
