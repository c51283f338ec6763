"""The whole stack configuration: every ``binder:`` section, read once and validated.

The stack configuration is read **once**, before any resource is registered, into frozen
pydantic models that forbid unknown keys. A typo (``binder:clustr``, ``minNode``) is an error
that names the key, says what is wrong and how to fix it.

Layout of the configuration (``Pulumi.<stack>.yaml``):

* project settings live under the ``binder:`` namespace, one structured key per concern
  (``binder:cluster``, ``binder:namespaces``, ``binder:binderhub`` ...);
* provider credentials and regions use the providers' own keys (``openstack:*``, ``gcp:*``)
  and are read by the providers themselves;
* secrets are never part of these models: they are read through secret accessors in
  :mod:`components.secrets.material` (``binder:kubeconfig`` for an existing cluster is read by
  :mod:`components.cluster.kubeconfig`, only through ``get_secret`` and kept as a secret
  ``Output``).

Docs: https://www.pulumi.com/docs/iac/concepts/config/ (structured configuration).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import pulumi
from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from components.config.access import (
    DEFAULT_NAMESPACES,
    DeployerConfig,
    NamespaceConfig,
    UserAccount,
)
from components.config.base import PROJECT, ConfigError, DnsLabel, Model, config_errors
from components.config.charts import ChartsConfig
from components.config.cluster import ClusterConfig, GkeCluster, MagnumCluster
from components.config.harbor import HarborConfig
from components.config.messages import describe_errors, stray_namespace_keys
from components.config.public import CryptnonoConfig
from components.config.registry import RegistryConfig
from components.config.releases import (
    BinderHubConfig,
    DnsConfig,
    IngressConfig,
    LoggingConfig,
    MonitoringConfig,
    TlsConfig,
    Toggle,
)
from components.config.storage import StorageConfig

#: Config keys under ``binder:`` that hold secrets. They are never parsed into the models
#: below; :mod:`components.secrets.material` reads them with ``require_secret``/``get_secret``.
SECRET_KEYS: frozenset[str] = frozenset(
    {
        "kubeconfig",
        "registryUsername",
        "registryPassword",
        "dockerHubUsername",
        "dockerHubPassword",
        "proxySecretToken",
        "hubApiToken",
        "grafanaAdminPassword",
        "oauthClientId",
        "oauthClientSecret",
        "tlsCertificate",
        "tlsKey",
        "loggingPassword",
        "loggingCaCertificate",
        "alertmanagerCredential",
        "githubAccessToken",
        "githubClientId",
        "githubClientSecret",
        "gitlabToken",
    }
)


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
    charts: ChartsConfig = Field(default_factory=ChartsConfig)
    """Where the charts come from: their repositories, or a local directory."""
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    cryptnono: CryptnonoConfig = Field(default_factory=CryptnonoConfig)
    """Miner detection on the user nodes (``components/releases/cryptnono.py``)."""
    harbor: HarborConfig = Field(default_factory=HarborConfig)
    """A Harbor registry in the cluster for the built images, with retention
    (``components/releases/harbor.py``); off by default."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    dns: DnsConfig | None = None
    """A records for the public hosts; without it the stack output ``dns_records`` lists the
    records to create by hand."""
    """The StorageClass of the releases' volumes; resolved per provider by
    :func:`components.releases.storage.plan_storage`."""

    @property
    def cryptnono_enabled(self) -> bool:
        """cryptnono is installed: asked for, or by default on a public (anonymous) Binder."""
        public = self.binderhub is not None and not self.binderhub.auth.enabled
        return self.cryptnono.on(public)

    @model_validator(mode="after")
    def _people_can_log_in(self) -> StackConfig:
        """Users and Groups only match if the cluster authenticates such identities."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        cluster = self.cluster
        for i, user in enumerate(self.users):
            if user.kind == "ServiceAccount":
                continue
            if (
                isinstance(cluster, GkeCluster)
                and user.kind == "Group"
                and not (cluster.security_group)
            ):
                problems.append(
                    (
                        ("users", i, "kind"),
                        "a Google Group matches only with Google Groups for RBAC: set "
                        "binder:cluster.securityGroup to gke-security-groups@<your-domain>",
                    )
                )
            if isinstance(cluster, MagnumCluster):
                labels = cluster.template.labels
                if labels.get("keystone_auth_enabled") != "true" and not labels.get(
                    "oidc_issuer_url"
                ):
                    problems.append(
                        (
                            ("users", i, "kind"),
                            f"a {user.kind} matches only if the Magnum cluster authenticates "
                            "Keystone or OIDC identities: set binder:cluster.template.labels."
                            "keystone_auth_enabled to true (or the oidc_* labels), or make the "
                            "account a ServiceAccount "
                            "(https://docs.openstack.org/magnum/latest/user/#keystone-authn-and-authz)",
                        )
                    )
        if problems:
            raise config_errors("StackConfig", problems)
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
            "harbor": self.harbor.enabled,
            "deployer": True,
        }
        merged = {name: NamespaceConfig() for name in DEFAULT_NAMESPACES if enabled[name]}
        merged[self.deployer.namespace] = NamespaceConfig()
        merged.update(self.namespaces)
        return merged


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def format_validation_error(error: ValidationError, stack: str | None = None) -> str:
    """Turn a pydantic error into lines that name the key, the problem and the fix, in our
    words (:mod:`components.config.messages`). Input values are never echoed: they may be
    secrets."""
    known = [f.alias or n for n, f in StackConfig.model_fields.items()]
    return "\n".join(describe_errors(error, project=PROJECT, stack=stack, known_keys=known,
                                     root=StackConfig))


def _raw_project_config() -> dict[str, Any]:
    """All ``binder:*`` keys of the stack, parsed from the engine's JSON strings.

    Secret keys are skipped here; they are only ever read via secret accessors.
    """
    config = dict(pulumi.runtime.get_config_env())
    config.update(pulumi.runtime.config.CONFIG.get())
    stray = stray_namespace_keys(config, PROJECT)
    if stray:
        raise ConfigError(
            f"Invalid stack configuration (Pulumi.{pulumi.get_stack()}.yaml):\n" + "\n".join(stray)
        )
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


def parse_config(raw: Mapping[str, Any], stack: str | None = None) -> StackConfig:
    """Validate a ``binder:`` mapping (camelCase keys) into a :class:`StackConfig`.

    ``stack`` names the stack's file in messages (``add it to Pulumi.ebi.yaml``)."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        where = f" (Pulumi.{stack}.yaml)" if stack else ""
        raise ConfigError(
            f"Invalid stack configuration{where}:\n" + format_validation_error(exc, stack)
        ) from None


def load_config() -> StackConfig:
    """Read and validate the current stack's ``binder:`` configuration."""
    return parse_config(_raw_project_config(), pulumi.get_stack())
