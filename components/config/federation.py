"""Federation settings: a member's ``binder:binderhub.federation``, and the federation stack's
``binder:federation`` (one public URL in front of every member; docs/federation.md).

A **member** stack (``ebi``, ``gcp``, a partner's) says which front door it stands behind;
the BinderHub release then points its badges and launch links at the front door and must set
``LaunchQuota.total_quota`` (:mod:`components.releases.federation_member`).

The **federation** stack (``Pulumi.federation.yaml``) has no cluster of its own: it lists the
members -- this project's stacks, read through ``pulumi.StackReference``, or a partner's
BinderHub by URL -- and says where the front door runs: on Cloud Run, or on one member's
cluster. How members are checked and chosen are the redirector's own models
(:mod:`federation.config`), so the stack renders exactly what the service accepts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from components.config.base import ConfigError, DnsLabel, Model, host_name_problem
from components.config.messages import describe_errors
from federation.config import Checks, StickyCookie, member_list_problems

#: An image by digest: ``<registry>/<path>@sha256:<64 hex>``. A tag can move under a running
#: service; a digest is the exact image our workflow built.
IMAGE_BY_DIGEST = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$")


def _front_door_url(value: str) -> str:
    parts = urlsplit(value)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "must be the front door's URL such as 'https://binder.example.org'"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "must be the front door's URL without a path, such as 'https://binder.example.org'"
    else:
        problem = host_name_problem(parts.hostname)
    if problem:
        raise ValueError(problem)
    return value.rstrip("/")


class FederationMembership(Model):
    """``binder:binderhub.federation``: this BinderHub is a member of a federation."""

    front_door: str
    """The federation's public URL, e.g. ``https://binder.example.org``: badges, launch links
    (``BinderHub.badge_base_url``, from which BinderHub takes its launch host) and the events'
    origin (``normalized_origin``) name it, and it may call this member's build API
    (``cors_allow_origin``)."""

    monitor: bool = False
    """This member's Prometheus scrapes the front door's ``/metrics`` (job ``federation``):
    the federation's dashboard and alerts then work there. Set it on one member, the prime,
    so that one Alertmanager, not every member's, reports the federation."""

    @field_validator("front_door")
    @classmethod
    def _url(cls, value: str) -> str:
        return _front_door_url(value)

    @property
    def host(self) -> str:
        return urlsplit(self.front_door).hostname or ""


class FederationMember(Model):
    """One entry of ``binder:federation.members``."""

    name: DnsLabel
    """Short name, in metrics, logs and the sticky cookie."""
    stack: str | None = Field(default=None, pattern=r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")
    """A member stack of this project (``ebi``, or ``<org>/binder/ebi``): its URL, versions,
    quota and (for a front door on its cluster) its kubeconfig come from its outputs."""
    url: str | None = None
    """Or: a BinderHub run by someone else, by its public URL."""
    weight: float = Field(default=1.0, ge=0)
    prime: bool = False
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _front_door_url(value)

    @model_validator(mode="after")
    def _one_source(self) -> FederationMember:
        if (self.stack is None) == (self.url is None):
            raise ValueError("give either stack (a member stack of this project) or url (a "
                             "BinderHub run by someone else), not both or neither")
        return self


class FrontDoorDns(Model):
    """An A record for the front door's host."""

    zone: str
    """Cloud DNS managed zone (cloudDns), or Designate zone ID (designate)."""
    service: Literal["cloudDns", "designate"] = "cloudDns"
    ttl: int = Field(default=300, ge=30)


class CloudRunFrontDoor(Model):
    """The front door on Cloud Run, behind Google's global external Application Load
    Balancer (static anycast address, Google-managed certificate): a platform of its own,
    which stays up whichever member is down."""

    platform: Literal["cloudRun"]
    region: str = Field(pattern=r"^[a-z]+-[a-z]+[0-9]+$")
    """Cloud Run region, e.g. ``europe-west1``."""
    min_instances: int = Field(default=1, ge=1, le=100)
    """At least one warm instance: no cold start, and the health loops keep running."""
    max_instances: int = Field(default=4, ge=1, le=100)
    cpu: str = Field(default="1", pattern=r"^[0-9]+(\.[0-9]+)?$|^[0-9]+m$")
    memory: str = Field(default="512Mi", pattern=r"^[0-9]+(Mi|Gi)$")
    dns: FrontDoorDns | None = None

    @model_validator(mode="after")
    def _bounds(self) -> CloudRunFrontDoor:
        if self.min_instances > self.max_instances:
            raise ValueError(f"minInstances ({self.min_instances}) is greater than "
                             f"maxInstances ({self.max_instances})")
        if self.dns is not None and self.dns.service != "cloudDns":
            raise ValueError("dns.service: a Cloud Run front door's record is made in Cloud "
                             "DNS (cloudDns)")
        return self


class MemberClusterFrontDoor(Model):
    """The front door as a Deployment on one member's cluster, behind that member's
    ingress and certificates. Cheaper and simpler; but when that cluster is down, so is the
    front door (docs/federation.md, "Where the front door runs")."""

    platform: Literal["memberCluster"]
    member: DnsLabel
    """The member (one with ``stack``) whose cluster runs it."""
    namespace: DnsLabel = "federation"
    replicas: int = Field(default=2, ge=1, le=10)
    dns: FrontDoorDns | None = None


FrontDoor = Annotated[CloudRunFrontDoor | MemberClusterFrontDoor,
                      Field(discriminator="platform")]


class FederationConfig(Model):
    """``binder:federation``: the federation stack."""

    host: str
    """The front door's public host name, e.g. ``binder.example.org``."""
    members: list[FederationMember]
    image: str
    """The redirector's image by digest, as .github/workflows/federation-image.yml built it."""
    front_door: FrontDoor
    choice: Literal["rendezvous", "random"] = "rendezvous"
    checks: Checks = Field(default_factory=Checks)
    cookie: StickyCookie = Field(default_factory=StickyCookie)
    tls: bool = True
    """Serve https (Cloud Run always does; on a member's cluster, with its certificates)."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        problem = host_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("image")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not IMAGE_BY_DIGEST.match(value):
            raise ValueError(
                "must name the image by digest, such as "
                "'ghcr.io/<org>/binder-federation@sha256:<64 hex digits>' (the digest "
                "federation-image.yml prints); a tag can change under a running service")
        return value

    @field_validator("members", mode="before")
    @classmethod
    def _no_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and any(m is None for m in value):
            empty = ", ".join(str(i) for i, m in enumerate(value) if m is None)
            raise ValueError(f"entry {empty} is empty (null); remove it, or set enabled: false")
        return value

    @model_validator(mode="after")
    def _members(self) -> FederationConfig:
        problems = member_list_problems(self.members, unique=("name", "stack", "url"))
        if isinstance(self.front_door, MemberClusterFrontDoor):
            host = next((m for m in self.members if m.name == self.front_door.member), None)
            if host is None or host.stack is None or not host.enabled:
                problems.append(
                    f"frontDoor.member '{self.front_door.member}' must name an enabled member "
                    "with `stack` (its cluster's kubeconfig comes from that stack's outputs)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.tls or isinstance(self.front_door, CloudRunFrontDoor) else "http"
        return f"{scheme}://{self.host}"


class FederationStackConfig(Model):
    """Everything under ``binder:`` of a federation stack."""

    federation: FederationConfig


def parse_federation_config(raw: dict[str, Any], stack: str | None = None
                            ) -> FederationStackConfig:
    try:
        return FederationStackConfig.model_validate(raw)
    except ValidationError as exc:
        where = f" (Pulumi.{stack}.yaml)" if stack else ""
        lines = describe_errors(exc, project="binder", stack=stack, known_keys=["federation"])
        raise ConfigError(f"Invalid federation stack configuration{where}:\n"
                          + "\n".join(lines)) from None
