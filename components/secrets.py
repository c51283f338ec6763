"""Secrets: Pulumi config secrets and SOPS-encrypted files, carried as Pulumi secrets.

INTERFACE SKELETON -- the secrets work (issue 4) fills in the loading and generation.
Other components depend only on the typed, secret ``Output`` fields below.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


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
    grafana_admin_password: pulumi.Output[str]
    """Grafana ``admin`` password; generated and kept stable when not given."""
    registry: RegistryCredentials | None = None
    tls: TlsCertificate | None = None
    oauth: OAuthClient | None = None
    logging_password: pulumi.Output[str] | None = None
