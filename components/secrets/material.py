"""Secrets: Pulumi config secrets and SOPS-encrypted files, carried as Pulumi secrets.

Two sources, usable together (docs/secrets.md):

1. SOPS-encrypted YAML files listed in ``binder:secretsFiles`` (like Helmsman's
   ``secretsFiles:``), decrypted in memory by the real sops (:mod:`components.secrets.sops`). Later
   files
   override earlier ones, key by key.
2. Pulumi config secrets (``pulumi config set --secret binder:registryPassword``), read only
   through ``Config.get_secret``. They override the files. A key set *without* ``--secret``
   sits in plaintext in ``Pulumi.<stack>.yaml`` (and git): it is refused, not read.

:func:`load_secret_material` reads and checks both **before any resource is registered** and
turns every value into a secret ``Output`` at once, so everything derived from it is secret in
state and in outputs (https://www.pulumi.com/docs/iac/concepts/secrets/). The
:class:`Secrets` component then generates the tokens that were not given (``pulumi_random``,
stable across runs because they are resources) and exposes :class:`DeploymentSecrets`, the typed
interface the releases consume. The monitoring secrets (Grafana's admin password and the token
Prometheus reads the hub's metrics with) exist only when ``binder:monitoring.enabled`` is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pulumi
import pulumi_random as random
from pydantic import Field, StrictStr, ValidationError, field_validator

from components.config.base import Model
from components.config.stack import StackConfig
from components.secrets.sops import SecretsError, decrypt_file

__all__ = [
    "DeploymentSecrets",
    "OAuthClient",
    "RegistryCredentials",
    "SecretMaterial",
    "Secrets",
    "SecretsArgs",
    "SecretsDocument",
    "SecretsError",
    "TlsCertificate",
    "check_config_secrets",
    "load_secret_material",
]


# --------------------------------------------------------------------------------------
# The interface other components code against
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    """Account BinderHub pushes built images with."""

    username: pulumi.Output[str]
    password: pulumi.Output[str]


@dataclass(frozen=True)
class TlsCertificate:
    """An institution-provided certificate (PEM), the alternative to Let's Encrypt."""

    certificate: pulumi.Output[str]
    key: pulumi.Output[str]


@dataclass(frozen=True)
class OAuthClient:
    """OAuth client of an authenticated hub."""

    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]


@dataclass(frozen=True)
class DeploymentSecrets:
    """Every secret the releases consume. Each field is a secret ``Output``."""

    proxy_secret_token: pulumi.Output[str]
    """JupyterHub ``proxy.secretToken``; generated and kept stable when not given."""
    hub_api_token: pulumi.Output[str]
    """BinderHub -> JupyterHub API token; generated and kept stable when not given."""
    grafana_admin_password: pulumi.Output[str] | None = None
    """Grafana ``admin`` password; generated and kept stable when not given. None without
    monitoring (``binder:monitoring.enabled: false``)."""
    prometheus_metrics_token: pulumi.Output[str] | None = None
    """API token of the hub service Prometheus scrapes ``/hub/metrics`` with (a role grants it
    only the ``read:metrics`` scope); always generated and kept stable. None without
    monitoring: nothing scrapes the hub then, and its metrics stay behind authentication."""
    registry: RegistryCredentials | None = None
    tls: TlsCertificate | None = None
    oauth: OAuthClient | None = None
    logging_password: pulumi.Output[str] | None = None


# --------------------------------------------------------------------------------------
# The decrypted SOPS document
# --------------------------------------------------------------------------------------

#: A secret value: a non-empty string. Numbers and booleans are refused rather than converted,
#: because YAML would already have changed them (``0123`` reads as 83, ``yes`` as true).
SecretValue = Annotated[StrictStr, Field(min_length=1)]


class RegistrySecrets(Model):
    """``registry:`` -- the account BinderHub pushes images with (DockerHub by default)."""

    username: SecretValue | None = None
    password: SecretValue | None = None
    """Password or access token."""


class JupyterHubSecrets(Model):
    """``jupyterhub:`` -- tokens shared by the hub, its proxy and BinderHub."""

    proxy_secret_token: SecretValue | None = None
    """z2jh ``proxy.secretToken``; e.g. ``openssl rand -hex 32``. Generated when absent."""
    hub_api_token: SecretValue | None = None
    """BinderHub's API token at the hub. Generated when absent."""


class GrafanaSecrets(Model):
    """``grafana:``"""

    admin_password: SecretValue | None = None
    """Password of Grafana's ``admin`` user. Generated when absent."""


class TlsSecrets(Model):
    """``tls:`` -- an institution-provided certificate, used with ``binder:tls.source:
    institution``."""

    certificate: SecretValue | None = None
    """PEM certificate chain (leaf first)."""
    key: SecretValue | None = None
    """PEM private key of the certificate."""

    @field_validator("certificate")
    @classmethod
    def _pem_certificate(cls, value: str) -> str:
        if "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line)")
        return value

    @field_validator("key")
    @classmethod
    def _pem_key(cls, value: str) -> str:
        if "-----BEGIN" not in value or "PRIVATE KEY-----" not in value:
            raise ValueError("is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line)")
        return value


class OAuthSecrets(Model):
    """``oauth:`` -- the OAuth client of an authenticated hub."""

    client_id: SecretValue | None = None
    client_secret: SecretValue | None = None


class LoggingSecrets(Model):
    """``logging:`` -- credentials of the log store (Elasticsearch/OpenSearch)."""

    password: SecretValue | None = None


class SecretsDocument(Model):
    """A decrypted secrets file. Every section and key is optional; unknown keys are errors."""

    registry: RegistrySecrets | None = None
    jupyterhub: JupyterHubSecrets | None = None
    grafana: GrafanaSecrets | None = None
    tls: TlsSecrets | None = None
    oauth: OAuthSecrets | None = None
    logging: LoggingSecrets | None = None


# --------------------------------------------------------------------------------------
# One table for every secret: its place in a file, its config key, its attribute
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    attr: str
    """Attribute of :class:`SecretMaterial`."""
    section: str
    key: str
    """``section.key`` in a secrets file (camelCase)."""
    config_key: str
    """``binder:<config_key>`` Pulumi config secret."""


_SLOTS: tuple[_Slot, ...] = (
    _Slot("registry_username", "registry", "username", "registryUsername"),
    _Slot("registry_password", "registry", "password", "registryPassword"),
    _Slot("proxy_secret_token", "jupyterhub", "proxySecretToken", "proxySecretToken"),
    _Slot("hub_api_token", "jupyterhub", "hubApiToken", "hubApiToken"),
    _Slot("grafana_admin_password", "grafana", "adminPassword", "grafanaAdminPassword"),
    _Slot("tls_certificate", "tls", "certificate", "tlsCertificate"),
    _Slot("tls_key", "tls", "key", "tlsKey"),
    _Slot("oauth_client_id", "oauth", "clientId", "oauthClientId"),
    _Slot("oauth_client_secret", "oauth", "clientSecret", "oauthClientSecret"),
    _Slot("logging_password", "logging", "password", "loggingPassword"),
)

#: Config secrets this module reads (``binder:kubeconfig`` belongs to the cluster).
CONFIG_SECRET_KEYS: frozenset[str] = frozenset(s.config_key for s in _SLOTS)


@dataclass(frozen=True)
class SecretMaterial:
    """The secrets given by files and config, each already a secret ``Output``.

    ``None`` means not given. Built by :func:`load_secret_material`, consumed by
    :class:`Secrets`.
    """

    registry_username: pulumi.Output[str] | None = None
    registry_password: pulumi.Output[str] | None = None
    proxy_secret_token: pulumi.Output[str] | None = None
    hub_api_token: pulumi.Output[str] | None = None
    grafana_admin_password: pulumi.Output[str] | None = None
    tls_certificate: pulumi.Output[str] | None = None
    tls_key: pulumi.Output[str] | None = None
    oauth_client_id: pulumi.Output[str] | None = None
    oauth_client_secret: pulumi.Output[str] | None = None
    logging_password: pulumi.Output[str] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each given value came from, by attribute: a file path or ``binder:<key>``.
    Never a value."""
    monitoring_enabled: bool = True
    """``binder:monitoring.enabled``, copied by :func:`load_secret_material`: the
    :class:`Secrets` component makes the monitoring secrets (Grafana's admin password,
    Prometheus' metrics token) only when it is on. Not a secret."""


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------

_MESSAGES = {
    "string_type": "must be a string; quote the value in the file",
    "string_too_short": "is empty; give a value or remove the key",
    "model_type": "must be a mapping of keys",
    "model_attributes_type": "must be a mapping of keys",
}


def _format_document_error(name: str, error: ValidationError) -> str:
    lines = []
    for err in error.errors(include_input=False, include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "<document>"
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            model: type[Model] = SecretsDocument
            for part in parent:
                sub = model.model_fields.get(_snake(str(part)))
                model = _model_of(sub.annotation) if sub else model
            known = ", ".join(sorted(f.alias or n for n, f in model.model_fields.items()))
            msg = f"unknown key (known keys here: {known}); remove it or fix its spelling"
        else:
            msg = _MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))
        lines.append(f"  {name}: {path}: {msg}")
    return "\n".join(lines)


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _model_of(annotation: Any) -> type[Model]:
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, Model):
            return arg
    return SecretsDocument


def parse_document(name: str, plaintext: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """Validate a decrypted document; return its values keyed by ``(section, key)``."""
    try:
        document = SecretsDocument.model_validate(dict(plaintext))
    except ValidationError as exc:
        raise SecretsError(
            f"Secrets file '{name}' does not match the expected layout (docs/secrets.md):\n"
            + _format_document_error(name, exc)
            + f"\n  Edit it with `sops {name}`."
        ) from None
    values: dict[tuple[str, str], str] = {}
    for slot in _SLOTS:
        section = getattr(document, slot.section)
        value = getattr(section, _snake(slot.key)) if section is not None else None
        if value is not None:
            values[(slot.section, slot.key)] = value
    return values


def _resolve(path: str) -> Path:
    # Pulumi runs the program in the project directory, so relative paths are from there.
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path.cwd() / candidate


def check_config_secrets(keys: Iterable[str]) -> None:
    """Refuse ``binder:<key>`` config values of ``keys`` that were set without ``--secret``.

    ``pulumi config set binder:registryPassword X`` stores X in plaintext in
    ``Pulumi.<stack>.yaml``, and ``Config.get_secret`` still returns it (as a secret
    ``Output``) without a word. The engine tells us which keys it received as secrets
    (``pulumi.runtime.is_config_secret``); a set key that is not one is an error naming the
    keys and the fix, never the value. Call before any resource is registered.
    """
    plain = []
    for key in sorted(set(keys)):
        full = f"binder:{key}"
        # get_config reads the raw value without Config.get's "use get_secret" warning; only
        # whether it is set is used.
        if pulumi.runtime.get_config(full) is not None and not pulumi.runtime.is_config_secret(
            full
        ):
            plain.append(full)
    if not plain:
        return
    stack_file = f"Pulumi.{pulumi.get_stack()}.yaml"
    names = ", ".join(plain)
    verb = "is" if len(plain) == 1 else "are"
    commands = "\n".join(f"    pulumi config set --secret {full}" for full in plain)
    raise SecretsError(
        f"{names} {verb} set in plaintext in {stack_file} (set without --secret), so anyone "
        "who can read the file or its git history can read the secret. Re-set "
        + ("it" if len(plain) == 1 else "each")
        + " as a secret (the command prompts for the value and stores it encrypted as "
        f"`secure: ...`):\n{commands}\n"
        "and, if the file was ever committed or shared, remove the plaintext from git history "
        "(e.g. `git filter-repo`) and rotate (change) the secret."
    )


def load_secret_material(cfg: StackConfig) -> SecretMaterial:
    """Read the SOPS files of ``cfg.secrets_files`` and the config secrets; check them.

    Call before any resource is registered: every problem is a :class:`SecretsError`.
    Values become secret ``Output``s here, before anything else sees them.
    """
    # Config first: a plaintext config secret is refused before any file is decrypted.
    check_config_secrets(CONFIG_SECRET_KEYS)
    found: dict[str, pulumi.Output[str]] = {}
    sources: dict[str, str] = {}
    by_place = {(s.section, s.key): s for s in _SLOTS}
    for name in cfg.secrets_files:
        plaintext = decrypt_file(_resolve(name), name)
        try:
            values = parse_document(name, plaintext)
        finally:
            # These `del`s only drop our names for the plaintext (so tracebacks that show
            # locals do not show it); Python cannot erase it from memory.
            del plaintext
        for place, value in values.items():
            slot = by_place[place]
            found[slot.attr] = pulumi.Output.secret(value)
            sources[slot.attr] = name
        del values

    config = pulumi.Config("binder")
    for slot in _SLOTS:
        secret = config.get_secret(slot.config_key)
        if secret is not None:
            found[slot.attr] = pulumi.Output.secret(secret)
            sources[slot.attr] = f"binder:{slot.config_key}"

    material = SecretMaterial(
        **found, sources=dict(sources), monitoring_enabled=cfg.monitoring.enabled
    )
    _check_combinations(cfg, material)
    return material


def _where(slot: _Slot) -> str:
    return (
        f"`{slot.section}.{slot.key}` in a secrets file (`sops <file>`) or "
        f"`pulumi config set --secret binder:{slot.config_key}`"
    )


def _check_combinations(cfg: StackConfig, material: SecretMaterial) -> None:
    """Values that only make sense together; reported by name, never by value."""
    slots = {s.attr: s for s in _SLOTS}
    problems = []
    for first, second, what in (
        ("registry_username", "registry_password", "registry account"),
        ("tls_certificate", "tls_key", "TLS certificate"),
        ("oauth_client_id", "oauth_client_secret", "OAuth client"),
    ):
        have_first = getattr(material, first) is not None
        have_second = getattr(material, second) is not None
        if have_first != have_second:
            given, missing = (first, second) if have_first else (second, first)
            problems.append(
                f"  the {what} is incomplete: {slots[given].section}.{slots[given].key} is "
                f"given (from {material.sources[given]}) but "
                f"{slots[missing].section}.{slots[missing].key} is not; add "
                + _where(slots[missing])
            )
    tls_source = cfg.tls.source if cfg.tls else None
    if tls_source == "institution" and material.tls_certificate is None:
        problems.append(
            "  binder:tls.source is 'institution' but no certificate was given; add "
            + _where(slots["tls_certificate"])
            + " and the same for its key (tls.key / binder:tlsKey)"
        )
    if problems:
        raise SecretsError("Invalid secrets:\n" + "\n".join(problems))
    if material.tls_certificate is not None and tls_source != "institution":
        pulumi.log.warn(
            "A TLS certificate is given but binder:tls.source is "
            f"'{tls_source or 'unset'}', so it is not used; set binder:tls.source to "
            "'institution' to use it."
        )
    if material.grafana_admin_password is not None and not cfg.monitoring.enabled:
        pulumi.log.warn(
            "A Grafana admin password is given (from "
            f"{material.sources.get('grafana_admin_password', 'the secrets')}) but "
            "binder:monitoring.enabled is false, so there is no Grafana and it is not used."
        )


# --------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------


@dataclass
class SecretsArgs:
    """Inputs of :class:`Secrets`."""

    material: SecretMaterial
    """What the files and config gave, from :func:`load_secret_material`."""
    token_length: int = 64
    """Length of generated tokens (proxy secret token, hub API token, Prometheus' metrics
    token): 64 characters from [A-Za-z0-9], about 380 bits."""
    password_length: int = 32
    """Length of a generated Grafana admin password."""


class Secrets(pulumi.ComponentResource):
    """Completes the given secrets with generated ones and exposes them typed.

    Tokens that were not given are ``random.RandomPassword`` children: their value is made once
    and kept in state (encrypted), so it is stable across runs; no ``keepers``, so nothing
    regenerates them by accident. ``RandomPassword`` rather than ``RandomId`` on purpose: a
    RandomId's resource ID is its value in base64url and IDs are stored in plaintext in state,
    while RandomPassword's ``result`` is a secret output and its ID is ``none``.
    https://www.pulumi.com/registry/packages/random/api-docs/randompassword/

    The monitoring secrets are made only with monitoring on (``material.monitoring_enabled``):
    a stack without Grafana has no Grafana password, and one without Prometheus no metrics
    token (the hub's ``/hub/metrics`` then simply stays behind authentication).
    """

    deployment: DeploymentSecrets
    """The secrets the releases consume."""

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:secrets:Secrets", name, None, opts)
        material = args.material
        generated: list[str] = []

        def given_or_generated(
            value: pulumi.Output[str] | None, part: str, length: int
        ) -> pulumi.Output[str]:
            if value is not None:
                return value
            return generate(part, length)

        def generate(part: str, length: int) -> pulumi.Output[str]:
            generated.append(part)
            password = random.RandomPassword(
                f"{name}-{part}",
                random.RandomPasswordArgs(length=length, special=False),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # `result` is a secret output of the provider; say so here as well, so no code
            # path (nor a mock engine) ever sees it as plain.
            return pulumi.Output.secret(password.result)

        registry = None
        if material.registry_username is not None and material.registry_password is not None:
            registry = RegistryCredentials(material.registry_username, material.registry_password)
        tls = None
        if material.tls_certificate is not None and material.tls_key is not None:
            tls = TlsCertificate(material.tls_certificate, material.tls_key)
        oauth = None
        if material.oauth_client_id is not None and material.oauth_client_secret is not None:
            oauth = OAuthClient(material.oauth_client_id, material.oauth_client_secret)
        monitoring = material.monitoring_enabled

        self.deployment = DeploymentSecrets(
            proxy_secret_token=given_or_generated(
                material.proxy_secret_token, "proxy-secret-token", args.token_length
            ),
            hub_api_token=given_or_generated(
                material.hub_api_token, "hub-api-token", args.token_length
            ),
            grafana_admin_password=given_or_generated(
                material.grafana_admin_password, "grafana-admin-password", args.password_length
            )
            if monitoring
            else None,
            # Only ever generated: it is shared by two of our own releases (the hub registers
            # it, Prometheus presents it), so nobody needs to know or choose it.
            prometheus_metrics_token=generate("prometheus-metrics-token", args.token_length)
            if monitoring
            else None,
            registry=registry,
            tls=tls,
            oauth=oauth,
            logging_password=material.logging_password,
        )
        # Names only: the values stay in the resources that hold them.
        self.register_outputs({"generated": generated, "given": sorted(material.sources)})
