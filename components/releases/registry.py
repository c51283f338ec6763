"""The releases' Helm values for the registry: BinderHub's push target and credentials, the
user pods' pull secret, and how the charts' Docker Hub images are pulled -- through
``systemImagesMirror``, or with a Docker Hub account's pull secret in every namespace that runs
one (:func:`plan_dockerhub_pulls`, which refuses a stack that would pull them anonymously) --
all built from the plan's :class:`~components.registry.target.RegistryTarget`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.catalog import charts
from components.config.base import ConfigError
from components.config.cluster import ClusterBase
from components.config.registry import RegistryConfig
from components.registry.target import (
    ACCESS_TOKEN_USER,
    DOCKERHUB_LIMIT_DOC,
    RegistryTarget,
    cluster_provider,
)


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
    # Harbor (binder:harbor): every component is a docker.io/goharbor image (values.yaml @
    # harbor-helm v1.19.1, `<component>.image.repository`).
    "harbor": tuple(
        MirroredImage((*path, "image", "repository"), f"docker.io/goharbor/{image}",
                      "repository", f"goharbor/{image}")
        for path, image in (
            (("nginx",), "nginx-photon"),
            (("portal",), "harbor-portal"),
            (("core",), "harbor-core"),
            (("jobservice",), "harbor-jobservice"),
            (("registry", "registry"), "registry-photon"),
            (("registry", "controller"), "harbor-registryctl"),
            (("trivy",), "trivy-adapter-photon"),
            (("database", "internal"), "harbor-db"),
            (("redis", "internal"), "redis-photon"),
            (("exporter",), "harbor-exporter"),
        )
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


#: Images of :data:`MIRRORED_IMAGES` that the charts keep but our configuration never runs
#: (Grafana's dashboard downloader, image renderer and test pod: no dashboards from
#: grafana.com, no renderer, no `helm test`). The rendered-objects test checks that every
#: other one runs and that nothing else from Docker Hub does.
NOT_RUN: frozenset[str] = frozenset(
    {"curlimages/curl", "grafana/grafana-image-renderer", "bats/bats",
     # Harbor behind our Ingress (no nginx of its own), no Trivy, no exporter
     # (components/releases/harbor.py, helm_configs/base/harbor.yaml).
     "goharbor/nginx-photon", "goharbor/trivy-adapter-photon", "goharbor/harbor-exporter"}
)

#: The dockerconfigjson Secret with the Docker Hub account, in every namespace that runs a
#: Docker Hub image (:mod:`components.releases.pull_secrets`).
DOCKERHUB_PULL_SECRET = "dockerhub-pull"  # noqa: S105 (a Secret's name, not a secret)

#: Where each chart takes the names of pull Secrets for all of its pods, and in which form
#: (a list of names, or of ``{name: ...}``), from the pinned charts:
#: binderhub -> z2jh's ``jupyterhub.imagePullSecrets`` (its ``jupyterhub.imagePullSecrets``
#: helper puts them on the binder, dind and image-cleaner pods as well as the hub's, proxy's
#: and user pods': charts/jupyterhub/templates/_helpers.tpl, templates/container-builder/
#: daemonset.yaml); traefik ``deployment.imagePullSecrets``; grafana ``image.pullSecrets``
#: (pod-wide, init containers included: templates/_pod.tpl); fluentd ``imagePullSecrets``
#: (templates/_pod.tpl). ``tests/components/releases/test_registry.py`` pins each key.
PULL_SECRET_PATHS: Mapping[str, tuple[tuple[str, ...], bool]] = {
    "binderhub": (("jupyterhub", "imagePullSecrets"), False),
    "traefik": (("deployment", "imagePullSecrets"), True),
    "grafana": (("image", "pullSecrets"), False),
    "fluentd": (("imagePullSecrets",), True),
    # harbor: top-level `imagePullSecrets`, a list of {name: ...} on every pod
    # (templates/*/*-dpl.yaml and -sts.yaml @ v1.19.1, `with .Values.imagePullSecrets`).
    "harbor": (("imagePullSecrets",), True),
}


#: The group (key of ``charts.NAMESPACES``) each release is installed as by
#: :class:`components.releases.releases.Releases`.
RELEASE_GROUPS: Mapping[str, str] = {
    "binderhub": "binderhub",
    "traefik": "ingress",
    "cert-manager": "cert-manager",
    "prometheus": "monitoring",
    "grafana": "monitoring",
    "fluentd": "logging",
    "harbor": "harbor",
}


@dataclass(frozen=True)
class DockerHubPulls:
    """How a stack's pods pull their Docker Hub images, decided by :func:`plan_dockerhub_pulls`."""

    via: Literal["none", "mirror", "account", "anonymous"]
    """``none``: no Docker Hub image runs; ``mirror``: every one is pulled through
    ``systemImagesMirror``; ``account``: with a pull Secret of the Docker Hub account in each
    namespace that runs one; ``anonymous``: acknowledged by ``allowAnonymousDockerHub``."""
    account: Literal["dockerHub", "registry"] | None
    """With ``via: account``: the ``dockerHub`` secrets, or the registry account (Docker Hub)."""
    images: Mapping[str, tuple[str, ...]]
    """The Docker Hub images (``<account>/<name>``) each enabled release runs, by release."""

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces that run a Docker Hub image, in release order."""
        return tuple(
            dict.fromkeys(
                charts.NAMESPACES[RELEASE_GROUPS[r]] for r, i in self.images.items() if i
            )
        )

    def values_layer(self, release: str) -> dict[str, Any]:
        """The values that give ``release``'s pods the pull Secret (empty unless pulling with
        an account and the release runs a Docker Hub image)."""
        if self.via != "account" or not self.images.get(release):
            return {}
        path, as_maps = PULL_SECRET_PATHS[release]
        layer: dict[str, Any] = {}
        node = layer
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = [{"name": DOCKERHUB_PULL_SECRET} if as_maps else DOCKERHUB_PULL_SECRET]
        return layer


def dockerhub_images(
    releases: Iterable[str], image_builder_type: str
) -> dict[str, tuple[str, ...]]:
    """The Docker Hub images each of ``releases`` runs in our configuration; for BinderHub,
    dind (and our BuildKit pruner, the same image) only with ``imageBuilderType: dind``."""
    found: dict[str, tuple[str, ...]] = {}
    for release in releases:
        names = [
            image.docker_name
            for image in MIRRORED_IMAGES.get(release, ())
            if image.docker_name not in NOT_RUN
        ]
        if release == "binderhub" and image_builder_type != "dind":
            names = []
        found[release] = tuple(dict.fromkeys(names))
    return found


def plan_dockerhub_pulls(
    registry: RegistryConfig,
    cluster: ClusterBase,
    target: RegistryTarget,
    images: Mapping[str, tuple[str, ...]],
    *,
    has_dockerhub_account: bool,
    has_registry_account: bool,
) -> DockerHubPulls:
    """How the stack pulls its Docker Hub images, or a ConfigError naming them.

    Docker Hub limits anonymous pulls per source address, and every node of a cloud cluster
    leaves through one NAT address (:data:`DOCKERHUB_LIMIT_DOC`): a DaemonSet on every node
    of a growing pool is enough to exceed it. So every Docker Hub image is pulled through the
    mirror (``systemImagesMirror``), or with an account: the ``dockerHub`` secrets, else the
    registry account when BinderHub pushes to Docker Hub. Pulling anonymously needs
    ``allowAnonymousDockerHub`` and an existing cluster of one's own."""
    if not any(images.values()):
        return DockerHubPulls("none", None, images)
    if registry.system_images_mirror is not None:
        return DockerHubPulls("mirror", None, images)
    if has_dockerhub_account:
        return DockerHubPulls("account", "dockerHub", images)
    if target.dockerhub and has_registry_account:
        return DockerHubPulls("account", "registry", images)
    listed = ", ".join(sorted({f"docker.io/{n}" for names in images.values() for n in names}))
    provider = cluster_provider(cluster)
    if registry.allow_anonymous_docker_hub:
        if provider != "existing":
            raise ConfigError(
                "binder:registry.allowAnonymousDockerHub is true, but binder:cluster.provider "
                f"is '{provider}': its nodes share one NAT address, and Docker Hub limits "
                f"anonymous pulls per address ({DOCKERHUB_LIMIT_DOC}), so {listed} would stop "
                "pulling after a few nodes. Remove it and give a Docker Hub account "
                "(dockerHub.username/dockerHub.password in a SOPS file, or "
                "binder:dockerHubUsername/binder:dockerHubPassword as config secrets) or "
                "binder:registry.systemImagesMirror"
            )
        return DockerHubPulls("anonymous", None, images)
    raise ConfigError(
        f"This stack would pull {listed} from Docker Hub without an account. Docker Hub "
        f"limits anonymous pulls per source address ({DOCKERHUB_LIMIT_DOC}) and the cluster's "
        "nodes share one NAT address, so pods would fail with 'toomanyrequests'. Give a "
        "Docker Hub account (a read-only access token is enough) as "
        "dockerHub.username/dockerHub.password in a SOPS file listed in binder:secretsFiles "
        "or binder:dockerHubUsername/binder:dockerHubPassword (`pulumi config set --secret`); "
        "or pull them through a pull-through cache, binder:registry.systemImagesMirror; or, "
        "for a single-user cluster of your own only, set "
        "binder:registry.allowAnonymousDockerHub: true"
    )
