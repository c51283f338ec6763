"""Where built images go and where the cluster's own images come from (``binder:registry``).

* ``type: url``: any registry by URL (Harbor, Quay, GitLab, Docker Hub with a paid account)
  with the account from the secrets. User pods pull with an ``imagePullSecret`` made from the
  same account, so a private registry works and Docker Hub counts the pulls against the
  account, not against the nodes' shared NAT address.
* ``type: artifactRegistry`` (GKE): a repository the program creates
  (:mod:`components.cluster.artifact_registry`); BinderHub pushes with a short-lived token of
  its own Kubernetes service account (Workload Identity), nodes pull with their service
  account; no password exists anywhere.
* ``systemImagesMirror``: the charts' Docker Hub images are pulled through a mirror.

:func:`plan_registry` checks the combination before any resource (a ConfigError otherwise);
the rest builds Helm values from its :class:`RegistryTarget`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from components.config.base import ConfigError
from components.config.cluster import ClusterBase, GkeCluster
from components.config.releases import RegistryConfig

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


def registry_chart_values(target: RegistryTarget) -> dict[str, Any]:
    """The binderhub chart's ``registry:`` (the key of the push account in the build pods'
    docker config.json) and ``config:`` for the target; the account itself is a secret layer.

    For Artifact Registry, BinderHub uses its ``GoogleArtifactRegistry`` class (it asks the
    metadata server for a token to look up images) extended to hand the same short-lived
    token to each build as push credentials (``KubernetesBuildExecutor.registry_credentials``,
    which takes precedence over the static docker config). With Workload Identity the metadata
    server answers for BinderHub's Kubernetes service account, which the program allows to
    write to the repository. Sources: binderhub/registry.py (``GoogleArtifactRegistry``,
    ``get_credentials``) and binderhub/builder.py (``registry.get_credentials`` ->
    ``build.registry_credentials``) at the pinned chart's commit,
    https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/registry.py
    """
    if target.dockerhub:
        return {}
    chart: dict[str, Any] = {"registry": {"url": target.url}}
    if target.artifact is not None:
        chart["config"] = {"DockerRegistry": {"url": target.url}}
        chart["extraConfig"] = {"10-artifact-registry-push": ARTIFACT_REGISTRY_CONFIG}
    return chart


#: BinderHub configuration (Python, run by binderhub_config.py of the chart) for Artifact
#: Registry through Workload Identity. The token is the metadata server's for the pod's
#: Kubernetes service account, valid for at most an hour; it reaches each build pod as the
#: environment variable CONTAINER_ENGINE_REGISTRY_CREDENTIALS (BinderHub's documented way for
#: temporary push tokens), never a stored password.
ARTIFACT_REGISTRY_CONFIG = f'''\
from urllib.parse import urlparse

from binderhub.registry import GoogleArtifactRegistry
from tornado.httpclient import AsyncHTTPClient


class WorkloadIdentityArtifactRegistry(GoogleArtifactRegistry):
    """Push with a short-lived token of BinderHub's own identity (Workload Identity)."""

    async def get_credentials(self, image, tag):
        token = await self._get_token(AsyncHTTPClient(), self.token_url, None, None)
        return {{
            "registry": urlparse(self.url).netloc,
            "username": "{ACCESS_TOKEN_USER}",
            "password": token,
        }}


c.BinderHub.registry_class = WorkloadIdentityArtifactRegistry
'''


def pull_secret_values(target: RegistryTarget, username: Any, password: Any) -> dict[str, Any]:
    """The ``jupyterhub.imagePullSecret`` secret layer: z2jh creates a Secret from the account
    and, with ``automaticReferenceInjection`` (its default, kept), references it from every
    pod it makes, the user pods included (``image_pull_secrets`` in the chart's
    jupyterhub_config.py). https://z2jh.jupyter.org/en/stable/resources/reference.html#imagepullsecret
    """
    if not target.pull_secret:
        return {}
    return {
        "jupyterhub": {
            "imagePullSecret": {
                "create": True,
                "automaticReferenceInjection": True,
                # Docker Hub's credentials are keyed by its v1 index URL in a docker config.
                "registry": "https://index.docker.io/v1/" if target.dockerhub else target.host,
                "username": username,
                "password": password,
            }
        }
    }


# --------------------------------------------------------------------------------------
# System images through a mirror
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MirroredImage:
    """A chart value naming a Docker Hub image, and how to point it at a mirror."""

    path: tuple[str, ...]
    """Keys from the top of the release's values to the value."""
    default: str | None
    """The chart's default at that path (pinned by a test against the chart)."""
    kind: str
    """``registry``: the value is the registry host (``docker.io``); ``name`` or
    ``repository``: a full image name, with or without ``docker.io/``; ``path``: the name
    inside the registry, next to a ``registry`` value."""
    docker_name: str
    """The image's name on Docker Hub, e.g. ``library/docker``."""


#: Every Docker Hub image of the charts we install that runs in our configuration, by release.
#: ``tests/components/releases/test_registry.py`` checks each default against the pinned chart
#: and that no other ``docker.io`` image is left in the charts' defaults.
MIRRORED_IMAGES: Mapping[str, tuple[MirroredImage, ...]] = {
    "binderhub": (
        MirroredImage(
            ("dind", "daemonset", "image", "name"),
            "docker.io/library/docker",
            "name",
            "library/docker",
        ),
    ),
    # Traefik's chart leaves image.registry empty and defaults it to docker.io.
    "traefik": (
        MirroredImage(("image", "registry"), None, "registry", "library/traefik"),
        # The official image is `library/traefik`; Docker Hub alone accepts it as `traefik`.
        MirroredImage(("image", "repository"), None, "path", "library/traefik"),
    ),
    "grafana": (
        MirroredImage(("image", "registry"), "docker.io", "registry", "grafana/grafana"),
        MirroredImage(
            ("downloadDashboardsImage", "registry"), "docker.io", "registry", "curlimages/curl"
        ),
        MirroredImage(
            ("initChownData", "image", "registry"), "docker.io", "registry", "library/busybox"
        ),
        MirroredImage(
            ("imageRenderer", "image", "registry"),
            "docker.io",
            "registry",
            "grafana/grafana-image-renderer",
        ),
        MirroredImage(("testFramework", "image", "registry"), "docker.io", "registry", "bats/bats"),
    ),
    "fluentd": (
        MirroredImage(
            ("image", "repository"),
            "fluent/fluentd-kubernetes-daemonset",
            "repository",
            "fluent/fluentd-kubernetes-daemonset",
        ),
    ),
}


def mirror_image(mirror: str, docker_name: str) -> str:
    """``docker.io/<name>`` as pulled through ``mirror``."""
    return f"{mirror}/{docker_name}"


def mirror_layer(release: str, mirror: str | None) -> dict[str, Any]:
    """Values pointing ``release``'s Docker Hub images at ``mirror``; empty without one.

    A registry-type value becomes the mirror (with any path, the chart joins
    ``<registry>/<repository>``); a name or repository becomes the full mirrored name."""
    layer: dict[str, Any] = {}
    if mirror is None:
        return layer
    for image in MIRRORED_IMAGES.get(release, ()):
        if image.kind == "registry":
            value = mirror
        elif image.kind == "path":
            value = image.docker_name
        else:
            value = mirror_image(mirror, image.docker_name)
        node = layer
        for key in image.path[:-1]:
            node = node.setdefault(key, {})
        node[image.path[-1]] = value
    return layer
