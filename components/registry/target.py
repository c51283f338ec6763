"""Where built images go (``binder:registry``): the target BinderHub pushes to, checked
against the cluster and the secrets before any resource.

* ``type: url``: any registry by URL (Harbor, Quay, GitLab, Docker Hub with a paid account)
  with the account from the secrets. User pods pull with an ``imagePullSecret`` made from the
  same account, so a private registry works and Docker Hub counts the pulls against the
  account, not against the nodes' shared NAT address.
* ``type: artifactRegistry`` (GKE): a repository the program creates
  (:mod:`components.registry.artifact_registry`); BinderHub pushes with a short-lived token of
  its own Kubernetes service account (Workload Identity), nodes pull with their service
  account; no password exists anywhere.

:func:`plan_registry` checks the combination before any resource (a ConfigError otherwise);
:mod:`components.releases.registry` builds the releases' Helm values from its
:class:`RegistryTarget`. A capability of its own, below the cluster and the releases, which
both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from components.config.base import ConfigError
from components.config.cluster import ClusterBase, GkeCluster
from components.config.harbor import HarborConfig
from components.config.registry import RegistryConfig

#: Hosts that mean Docker Hub; there, images are named ``<account>/<name>`` without a host.
DOCKERHUB_HOSTS = frozenset(
    {"registry.hub.docker.com", "index.docker.io", "docker.io", "registry-1.docker.io"}
)

#: Docker Hub's pull limits for clients without an account, per source address. Every node
#: of a cluster leaves through one NAT address, so a handful of launches exhausts them.
#: https://docs.docker.com/docker-hub/usage/pulls/
DOCKERHUB_LIMIT_DOC = "https://docs.docker.com/docker-hub/usage/pulls/"

#: Artifact Registry's user name for an OAuth access token (docker login).
#: https://cloud.google.com/artifact-registry/docs/docker/authentication#token
ACCESS_TOKEN_USER = "oauth2accesstoken"  # noqa: S105 (a fixed user name, not a secret)

#: The Kubernetes service account the BinderHub pod runs as: the binderhub chart names it
#: ``binderhub`` (templates/rbac.yaml and deployment.yaml of the pinned chart).
BINDERHUB_KSA = "binderhub"


@dataclass(frozen=True)
class ArtifactRepository:
    """An Artifact Registry Docker repository the program creates (``type: artifactRegistry``)."""

    project: str
    location: str
    """A region, e.g. ``europe-west1``."""
    repository: str
    delete_after_days: int
    keep_recent: int

    @property
    def host(self) -> str:
        # https://cloud.google.com/artifact-registry/docs/docker/names
        return f"{self.location}-docker.pkg.dev"

    @property
    def path(self) -> str:
        """``<host>/<project>/<repository>``: every image of the repository starts with it."""
        return f"{self.host}/{self.project}/{self.repository}"


@dataclass(frozen=True)
class RegistryTarget:
    """Where BinderHub pushes and user pods pull, checked by :func:`plan_registry`."""

    url: str
    """The registry's URL (``https://<host>``; Docker Hub's for Docker Hub)."""
    image_prefix: str
    """``BinderHub.image_prefix``: the full name prefix of every built image."""
    dockerhub: bool
    """Docker Hub: images are ``<account>/<name>``, the chart's default registry URL is right."""
    artifact: ArtifactRepository | None = None
    """The Artifact Registry repository to create, for ``type: artifactRegistry``."""
    pull_secret: bool = False
    """User pods pull with an ``imagePullSecret`` made from the registry account."""

    @property
    def host(self) -> str:
        return urlparse(self.url).netloc


def _region(location: str) -> str:
    # A zonal cluster's zone (europe-west1-b) -> its region; Artifact Registry is regional.
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) == 3 and len(parts[2]) == 1 else location


def plan_registry(
    registry: RegistryConfig,
    cluster: ClusterBase,
    *,
    gcp_project: str | None,
    gcp_location: str | None,
    has_credentials: bool,
) -> RegistryTarget:
    """The registry target of ``binder:registry``, or a ConfigError naming the setting.

    Refuses Docker Hub without an account (anonymous pulls are rate-limited per address) and
    ``artifactRegistry`` outside GKE or without Workload Identity. Pure: registers nothing,
    reads no secret value (only whether the account is given)."""
    if registry.type == "artifactRegistry":
        if not isinstance(cluster, GkeCluster):
            raise ConfigError(
                "binder:registry.type is 'artifactRegistry', which the program creates in the "
                "GKE cluster's project, but binder:cluster.provider is "
                f"'{cluster_provider(cluster)}'; "
                "use type 'url' with the registry's URL and an account in the secrets"
            )
        if not cluster.workload_identity:
            raise ConfigError(
                "binder:registry.type is 'artifactRegistry': BinderHub pushes through Workload "
                "Identity, but binder:cluster.workloadIdentity is false; set it to true"
            )
        if not (gcp_project and gcp_location):
            raise ConfigError(
                "binder:registry.type is 'artifactRegistry' but the GCP project or location "
                "is unknown; set gcp:project and gcp:region"
            )
        artifact = ArtifactRepository(
            project=gcp_project,
            location=registry.location or _region(gcp_location),
            repository=registry.repository,
            delete_after_days=registry.delete_after_days,
            keep_recent=registry.keep_recent,
        )
        return RegistryTarget(
            url=f"https://{artifact.host}",
            image_prefix=f"{artifact.path}/{registry.image_prefix}",
            dockerhub=False,
            artifact=artifact,
        )
    target = url_registry_target(registry)
    if target.dockerhub and not has_credentials:
        raise ConfigError(
            f"binder:registry is Docker Hub ({registry.url}) but no registry account was "
            "given. Docker Hub limits pulls without an account per source address, and "
            "every node of the cluster shares one NAT address: user pods would fail to "
            f"start with 'toomanyrequests' after a handful of launches ({DOCKERHUB_LIMIT_DOC})."
            " Give the account (a paid one for a public service) as the secrets "
            "registry.username/registry.password in a SOPS file or binder:registryUsername/"
            "binder:registryPassword (`pulumi config set --secret`), or use another "
            "registry (binder:registry.url, or type: artifactRegistry on GKE)"
        )
    return target


def harbor_registry_target(
    harbor: HarborConfig, registry: RegistryConfig, has_credentials: bool
) -> RegistryTarget:
    """The target when the program runs Harbor (``binder:harbor.enabled``): its project at
    ``https://<hostname>``, images ``<hostname>/<project>/<prefix><repo>``; BinderHub pushes
    and user pods pull with Harbor's robot accounts, so ``binder:registry`` keeps only its
    ``prefix`` and the registry account must not be given (a ConfigError naming both)."""
    clash = []
    if registry.type != "url":
        clash.append(f"binder:registry.type is '{registry.type}'")
    if "url" in registry.model_fields_set:
        clash.append(f"binder:registry.url is '{registry.url}'")
    if has_credentials:
        clash.append("a registry account (registryUsername/registryPassword) is given")
    if registry.prefix is not None and "/" in registry.prefix:
        clash.append(f"binder:registry.prefix '{registry.prefix}' names a path")
    if clash:
        raise ConfigError(
            "binder:harbor.enabled is true, so BinderHub pushes to the Harbor project "
            f"'{harbor.project}' with its own robot account, but {'; '.join(clash)}. Remove "
            "them (keep only a plain prefix such as 'binder-'), or set binder:harbor.enabled "
            "to false to push to that registry"
        )
    host = harbor.hostname or ""
    return RegistryTarget(
        url=f"https://{host}",
        image_prefix=f"{host}/{harbor.project}/{registry.image_prefix}",
        dockerhub=False,
        pull_secret=True,
    )


def url_registry_target(registry: RegistryConfig) -> RegistryTarget:
    """The target of a ``type: url`` registry, unchecked. On Docker Hub images are
    ``<account>/<name>`` and the chart's default registry URL is right; elsewhere the prefix
    starts with the registry host
    (https://binderhub.readthedocs.io/en/latest/zero-to-binderhub/setup-registry.html).
    User pods pull with the account whenever one is given (:func:`pull_secret_values`)."""
    host = urlparse(registry.url).netloc
    prefix = registry.image_prefix
    dockerhub = host in DOCKERHUB_HOSTS
    if not dockerhub and not prefix.startswith(f"{host}/"):
        prefix = f"{host}/{prefix}"
    return RegistryTarget(
        url=registry.url, image_prefix=prefix, dockerhub=dockerhub, pull_secret=True
    )


def cluster_provider(cluster: ClusterBase) -> str:
    return str(getattr(cluster, "provider", type(cluster).__name__))
