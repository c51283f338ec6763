"""``binder:registry``: where BinderHub pushes the images it builds, and where the cluster's
own images come from.

The registry target is worked out by :mod:`components.registry.target`; the releases' values
by :mod:`components.releases.registry`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.config.base import DnsLabel, Model

#: An image name as the distribution reference grammar defines it: an optional registry
#: host, then path components of lowercase alphanumerics joined by ``.``, ``_``, ``__`` or
#: dashes. The first part is a host only if it holds a ``.`` or a ``:port`` or is
#: ``localhost`` (``splitDockerDomain``; an upper-case first part would be read as a host):
#: https://github.com/distribution/reference/blob/main/reference.go and normalize.go
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_IMAGE_NAME = re.compile(
    rf"(?:(?:{_LABEL}(?:\.{_LABEL})+(?::[0-9]+)?|{_LABEL}:[0-9]+|localhost"
    r"|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


class RegistryConfig(Model):
    """Where BinderHub pushes the images it builds, and where system images come from.

    ``type: url`` (default): any registry by URL -- Harbor, Quay, GitLab, Docker Hub with a
    paid account -- with the account from the secrets ``registryUsername``/``registryPassword``.
    ``type: artifactRegistry`` (GKE only): an Artifact Registry repository the program creates
    in the cluster's region; BinderHub pushes through Workload Identity, nodes pull with their
    own service account, and no password exists."""

    type: Literal["url", "artifactRegistry"] = "url"
    url: str = "https://registry.hub.docker.com"
    """``type: url``: registry URL; Docker Hub by default (which needs an account, see
    docs/operations.md)."""
    prefix: str | None = None
    """Image name prefix, e.g. ``bioexcel/binder-`` on Docker Hub. On another registry the
    registry host is put in front unless the prefix already starts with it. With
    ``artifactRegistry``: the image name prefix inside the repository (default ``binder-``)."""
    repository: DnsLabel = "binder"
    """``artifactRegistry``: the repository's ID."""
    location: str | None = None
    """``artifactRegistry``: the repository's region; defaults to the cluster's region."""
    delete_after_days: int = Field(default=30, ge=1)
    """``artifactRegistry``: images not pushed for this many days are deleted by the
    repository's cleanup policy (a rebuild costs one build; the storage is billed)."""
    keep_recent: int = Field(default=0, ge=0)
    """``artifactRegistry``: per image, this many most recent versions survive the cleanup."""
    system_images_mirror: str | None = None
    """A registry that serves the cluster's own Docker Hub images (dind, Traefik, Grafana,
    Fluentd, busybox ...) as a pull-through cache, e.g. a Harbor proxy-cache project
    ``harbor.example.org/dockerhub``: ``docker.io/<name>`` is pulled as ``<mirror>/<name>``.
    Not ``mirror.gcr.io``, a cache daemons fall back from (refused)."""
    allow_anonymous_docker_hub: bool = False
    """Pull the cluster's Docker Hub images without an account and without a mirror. Docker Hub
    limits anonymous pulls per source address (https://docs.docker.com/docker-hub/usage/pulls/),
    so only for a single-user cluster of your own (``provider: existing``); refused on Magnum
    and GKE, whose nodes share one NAT address. Otherwise give a Docker Hub account (the
    ``dockerHub`` secrets, or the registry account when the registry is Docker Hub) or a
    ``systemImagesMirror``."""

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
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and ("://" in value or not value or value.startswith("/")):
            raise ValueError(f"must be an image name prefix such as 'myorg/binder-', not '{value}'")
        if value is not None and not _IMAGE_NAME.fullmatch(f"{value}x"):
            # BinderHub appends the repository's name: the image name is refused only at
            # push time, after a whole build (issue 20).
            odd = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "._-/:"))})
            upper = any(c.isupper() for c in value if c.isascii())
            why = (f"holds {', '.join(repr(c) for c in odd)}, which image names may not"
                   if odd else "has upper case letters outside a registry host" if upper
                   else "puts separators (. _ -) at the start of a part or twice in a row")
            raise ValueError(
                f"'{value}' {why}: image names are lowercase letters and digits, with . _ - "
                "between them and / between parts (the registry host may hold upper case and "
                "a :port), e.g. 'myorg/binder-'"
            )
        return value

    @field_validator("system_images_mirror")
    @classmethod
    def _mirror(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*", value
        ):
            raise ValueError(
                "must be a registry host with an optional path, without scheme or trailing "
                f"'/', such as 'harbor.example.org/dockerhub', not '{value}'"
            )
        return value

    @field_validator("system_images_mirror")
    @classmethod
    def _not_google_mirror(cls, value: str | None) -> str | None:
        # Google's mirror is a cache the Docker daemon (or GKE's containerd) asks first and
        # falls back from, not a registry to name images by: a tag it has not cached fails
        # with "manifest unknown".
        # https://cloud.google.com/artifact-registry/docs/pull-cached-dockerhub-images
        if value is not None and value.split("/")[0] == "mirror.gcr.io":
            raise ValueError(
                "mirror.gcr.io caches frequently pulled Docker Hub images for daemons that fall "
                "back to Docker Hub; pulled from directly, an uncached tag fails with 'manifest "
                "unknown'. Remove systemImagesMirror: GKE's nodes already ask mirror.gcr.io "
                "first, dind does too (binder:binderhub.builder.registryMirrors), and the "
                "Docker Hub account (dockerHub secrets) covers the rest"
            )
        return value

    @model_validator(mode="after")
    def _by_type(self) -> RegistryConfig:
        given = self.model_fields_set
        if self.type == "url":
            if self.prefix is None:
                raise ValueError(
                    "prefix is required (e.g. `myorg/binder-` on Docker Hub); or set "
                    "type: artifactRegistry on GKE"
                )
            wrong = sorted(
                to_camel(n)
                for n in ("repository", "location", "delete_after_days", "keep_recent")
                if n in given
            )
            if wrong:
                raise ValueError(
                    f"{', '.join(wrong)} only apply to type 'artifactRegistry'; remove them"
                )
        elif "url" in given:
            raise ValueError(
                "url is set by the program for type 'artifactRegistry' "
                "(https://<location>-docker.pkg.dev); remove it"
            )
        return self

    @property
    def image_prefix(self) -> str:
        """The prefix inside the registry (``binder-`` for Artifact Registry by default)."""
        return self.prefix if self.prefix is not None else "binder-"
