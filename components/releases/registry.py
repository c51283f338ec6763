"""The releases' Helm values for the registry: BinderHub's push target and credentials, the
user pods' pull secret, and ``systemImagesMirror`` (the charts' Docker Hub images pulled
through a mirror), all built from the plan's :class:`~components.registry.target.RegistryTarget`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.registry.target import (
    ACCESS_TOKEN_USER,
    RegistryTarget,
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
