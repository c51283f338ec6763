"""The decrypted SOPS document's schema, and one table of every secret: where it sits in a
file (``section.key``), its ``binder:`` config key and its attribute of the loaded material.

Nothing here decrypts or holds a value; :mod:`components.secrets.material` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StrictStr, ValidationError, field_validator

from components.config.base import Model
from components.config.messages import describe_error
from components.secrets.sops import SecretsError

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


class DockerHubSecrets(Model):
    """``dockerHub:`` -- the Docker Hub account the cluster pulls Docker Hub images with
    (Traefik, Grafana, Fluentd, dind ...), when the registry BinderHub pushes to is not
    Docker Hub (there, ``registry:`` is that account already)."""

    username: SecretValue | None = None
    password: SecretValue | None = None
    """Password or (read-only) access token."""


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
    ca_certificate: SecretValue | None = None
    """PEM certificate of the CA that signed the log store's certificate, if it is not a
    public one; Fluentd verifies the store's certificate against it."""

    @field_validator("ca_certificate")
    @classmethod
    def _pem_ca(cls, value: str) -> str:
        if "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line)")
        return value


class AlertmanagerSecrets(Model):
    """``alertmanager:`` -- the credential of Alertmanager's receiver
    (``binder:monitoring.alerts``): the SMTP password for ``email``, the bearer token for
    ``webhook``."""

    credential: SecretValue | None = None


class RepoProviderSecrets(Model):
    """``repoProviders:`` -- BinderHub's credentials at the repository providers' APIs.

    Without them BinderHub resolves refs anonymously: GitHub allows 60 requests an hour per
    address (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api),
    which a public Binder spends in minutes (mybinder.org-deploy #58, #3872). They become
    ``GitHubRepoProvider.access_token``/``client_id``/``client_secret`` and
    ``GitLabRepoProvider.private_token`` (binderhub ``repoproviders.py``)."""

    github_access_token: SecretValue | None = None
    """A GitHub token (fine-grained or classic, no scopes needed for public repositories)."""
    github_client_id: SecretValue | None = None
    """A GitHub OAuth app's client ID (with its secret, instead of or beside a token)."""
    github_client_secret: SecretValue | None = None
    gitlab_token: SecretValue | None = None
    """A GitLab personal, group or project access token (``read_api``)."""


class SecretsDocument(Model):
    """A decrypted secrets file. Every section and key is optional; unknown keys are errors."""

    registry: RegistrySecrets | None = None
    docker_hub: DockerHubSecrets | None = None
    jupyterhub: JupyterHubSecrets | None = None
    grafana: GrafanaSecrets | None = None
    tls: TlsSecrets | None = None
    oauth: OAuthSecrets | None = None
    logging: LoggingSecrets | None = None
    alertmanager: AlertmanagerSecrets | None = None
    repo_providers: RepoProviderSecrets | None = None


# --------------------------------------------------------------------------------------
# One table for every secret: its place in a file, its config key, its attribute
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    attr: str
    """Attribute of :class:`SecretMaterial`."""
    section: str
    key: str
    """``section.key`` in a secrets file (camelCase)."""
    config_key: str
    """``binder:<config_key>`` Pulumi config secret."""
    material: bool = True
    """Whether the value is secret material (a password, token or private key). An account
    name, an OAuth client id or a certificate is kept with its secret but is no secret
    itself: it may appear in plaintext elsewhere (an image prefix, a URL) without a leak."""
    pem: str = ""
    """The PEM block label the value must hold (``CERTIFICATE``, ``PRIVATE KEY``), if any."""


SLOTS: tuple[Slot, ...] = (
    Slot("registry_username", "registry", "username", "registryUsername", material=False),
    Slot("registry_password", "registry", "password", "registryPassword"),
    Slot("dockerhub_username", "dockerHub", "username", "dockerHubUsername"),
    Slot("dockerhub_password", "dockerHub", "password", "dockerHubPassword"),
    Slot("proxy_secret_token", "jupyterhub", "proxySecretToken", "proxySecretToken"),
    Slot("hub_api_token", "jupyterhub", "hubApiToken", "hubApiToken"),
    Slot("grafana_admin_password", "grafana", "adminPassword", "grafanaAdminPassword"),
    Slot("tls_certificate", "tls", "certificate", "tlsCertificate", material=False,
         pem="CERTIFICATE"),
    Slot("tls_key", "tls", "key", "tlsKey", pem="PRIVATE KEY"),
    Slot("oauth_client_id", "oauth", "clientId", "oauthClientId", material=False),
    Slot("oauth_client_secret", "oauth", "clientSecret", "oauthClientSecret"),
    Slot("logging_password", "logging", "password", "loggingPassword"),
    Slot("logging_ca_certificate", "logging", "caCertificate", "loggingCaCertificate",
         material=False, pem="CERTIFICATE"),
    Slot("alertmanager_credential", "alertmanager", "credential", "alertmanagerCredential"),
    Slot("github_access_token", "repoProviders", "githubAccessToken", "githubAccessToken"),
    Slot("github_client_id", "repoProviders", "githubClientId", "githubClientId"),
    Slot("github_client_secret", "repoProviders", "githubClientSecret", "githubClientSecret"),
    Slot("gitlab_token", "repoProviders", "gitlabToken", "gitlabToken"),
)

#: Config secrets this module reads (``binder:kubeconfig`` belongs to the cluster).
CONFIG_SECRET_KEYS: frozenset[str] = frozenset(s.config_key for s in SLOTS)


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
    # Inputs are read only for their kind (a number, a list), never quoted.
    for err in error.errors(include_url=False):
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
            msg = _MESSAGES.get(err["type"]) or describe_error(err)
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
    for slot in SLOTS:
        section = getattr(document, _snake(slot.section))
        value = getattr(section, _snake(slot.key)) if section is not None else None
        if value is not None:
            values[(slot.section, slot.key)] = value
    return values
