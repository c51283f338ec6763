"""Release settings: ``binder:binderhub``, ``binder:registry``, ``binder:ingress``, ``binder:tls``,
``binder:certManager``, ``binder:monitoring`` and ``binder:logging``.

The components that turn them into Helm releases live in :mod:`components.releases`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.config import events as launch_events
from components.config.alerts import AlertsConfig
from components.config.base import DnsLabel, Model, host_name_problem
from components.config.federation import FederationMembership
from components.config.public import EgressConfig
from components.config.service import BuilderConfig, LaunchLimits
from components.config.site import SiteConfig


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
    builder: BuilderConfig = Field(default_factory=BuilderConfig)
    """dind and build pod resources, BuildKit cache pruning, build egress limits."""
    limits: LaunchLimits = Field(default_factory=LaunchLimits)
    """Launch quotas, banned repositories and the user node size the user pods must fit."""
    federation: FederationMembership | None = None
    """Member of a federation (docs/federation.md); needs limits.totalPods (its quota)."""
    egress: EgressConfig = Field(default_factory=EgressConfig)
    """Where user pods (and, for banned networks, builds) may connect; bandwidth cap."""
    site: SiteConfig = Field(default_factory=SiteConfig)
    """The service's face: its name, the about page and abuse contact, logo and stylesheet."""
    replicas: int | None = Field(default=None, ge=1, le=5)
    """BinderHub pods: 2 by default for an anonymous Binder, 1 with logins (more is refused
    there); docs/public.md says why."""

    @field_validator("host", "hub_host")
    @classmethod
    def _hostname(cls, value: str) -> str:
        problem = host_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BinderHubConfig:
        if self.host == self.hub_host:
            raise ValueError("host and hubHost must differ: each gets its own Ingress")
        return self


class IngressConfig(Model):
    """The ingress controller."""

    controller: Literal["traefik", "none"] = "traefik"
    """``none`` for clusters that bring their own controller."""
    class_name: DnsLabel = "traefik"
    """IngressClass of every Ingress (and of the ACME HTTP-01 solver)."""
    load_balancer_ip: str | None = None
    """An address reserved outside this stack for the controller's LoadBalancer Service.
    Without it, on GKE and Magnum the program reserves one (``staticAddress``)."""
    static_address: bool | None = None
    """Reserve the public address in this stack (a regional static IP on GKE, a floating IP
    on OpenStack) and give it to the load balancer, so it survives the Service's re-creation
    and DNS stays valid. Default: true on GKE and Magnum; not possible on an existing cluster."""
    proxy_protocol: bool | None = None
    """OpenStack only: Octavia sends the PROXY protocol header and Traefik reads the client's
    address from it. Default: true, unless the ``octavia_provider`` label is ``ovn`` (which
    cannot)."""
    trusted_ips: list[str] | None = None
    """Sources Traefik accepts the PROXY header from. Default: the nodes' subnet (the
    ``fixed_subnet_cidr`` label, or the driver's default)."""


class DnsConfig(Model):
    """``binder:dns``: A records for the public hosts, in the cloud's DNS service."""

    zone: str
    """Cloud DNS managed zone name (gcp), or Designate zone ID (openstack)."""
    domain: str
    """The zone's domain, e.g. ``binder.example.org``; every public host must be in it."""
    ttl: int = Field(default=300, ge=30)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.rstrip(".")
        label = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
        if not re.fullmatch(rf"{label}(\.{label})+", value):
            raise ValueError(f"must be a DNS domain such as 'binder.example.org', not '{value}'")
        return value


class TlsConfig(Model):
    """Where TLS certificates come from."""

    source: Literal["letsencrypt", "institution", "none"] = "letsencrypt"
    """``letsencrypt`` (cert-manager), ``institution`` (a certificate given as the secrets
    ``tlsCertificate``/``tlsKey``) or ``none`` (plain HTTP)."""
    issuer: Literal["production", "staging"] = "staging"
    """Let's Encrypt environment. New stacks start on ``staging``: failed HTTP-01 validations
    (DNS not yet pointing at the ingress) count against production's rate limits
    (https://letsencrypt.org/docs/rate-limits/). Switch with ``make tls-production STACK=...``
    once the names resolve (docs/operations.md)."""
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
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    """Alertmanager's receiver."""

    @field_validator("grafana_host")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        problem = host_name_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


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
    version: int | None = None
    """Major version of the log store: Elasticsearch 7 or 8 (default 8), OpenSearch 1 or 2
    (default 2). Fluentd checks it against the server when it starts."""
    buffer_limit_mb: int = Field(default=1024, ge=64, le=65536)
    """Most megabytes of logs each node buffers on disk while the log store is slow or down;
    beyond it the oldest chunks are dropped, so a slow store never fills the node's disk."""

    # host and user are written into fluentd's configuration as double-quoted strings, where
    # a quote or newline would break out of the value and `#{...}` is evaluated as Ruby
    # (https://docs.fluentd.org/configuration/config-file#embedded-ruby-code): only plain
    # names are accepted.
    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str | None) -> str | None:
        # A DNS name or an IP address: nothing else can break out of fluentd's quoted string.
        problem = (
            host_name_problem(value, allow_ip=True, port_in="`port` (and the scheme in `scheme`)")
            if value is not None
            else None
        )
        if problem:
            raise ValueError(problem)
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
        supported = _STORE_VERSIONS.get(self.type, ())
        if self.version is not None and self.version not in supported:
            raise ValueError(
                f"version {self.version} is not supported for output type '{self.type}'"
                + (f"; use one of {', '.join(map(str, supported))}" if supported else "")
            )
        return self

    @property
    def store_version(self) -> int | None:
        """The log store's major version (the default for its type if not given)."""
        if self.type == "stdout":
            return None
        return self.version if self.version is not None else _STORE_VERSIONS[self.type][-1]


#: Major versions of each log store that our Fluentd image and configuration support; the
#: last is the default. https://github.com/uken/fluent-plugin-elasticsearch#elasticsearch-8
#: and https://github.com/fluent/fluent-plugin-opensearch
_STORE_VERSIONS: dict[str, tuple[int, ...]] = {"elasticsearch": (7, 8), "opensearch": (1, 2)}


class LoggingConfig(Model):
    """Fluentd on every node."""

    enabled: bool = True
    output: LoggingOutput = Field(default_factory=LoggingOutput)
    events: launch_events.LaunchEventsConfig = Field(
        default_factory=launch_events.LaunchEventsConfig
    )
