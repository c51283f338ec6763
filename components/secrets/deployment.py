"""The secrets the releases consume: typed secret Outputs, completed with generated tokens.

:class:`DeploymentSecrets` is the interface other components code against. The
:class:`Secrets` component builds it from the loaded material
(:func:`components.secrets.material.load_secret_material`), generating the tokens that were not
given.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.secrets.material import SecretMaterial

# --------------------------------------------------------------------------------------
# The interface other components code against
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    """A registry account: the one BinderHub pushes built images with, or the Docker Hub
    account the cluster pulls Docker Hub images with."""

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
class RepoProviderCredentials:
    """BinderHub's credentials at the repository providers' APIs; any of them may be None."""

    github_access_token: pulumi.Output[str] | None = None
    github_client_id: pulumi.Output[str] | None = None
    github_client_secret: pulumi.Output[str] | None = None
    gitlab_token: pulumi.Output[str] | None = None


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
    dockerhub: RegistryCredentials | None = None
    """The ``dockerHub:`` account, if given (not the registry account, which may be Docker
    Hub's too: the plan says which one pulls Docker Hub images)."""
    tls: TlsCertificate | None = None
    oauth: OAuthClient | None = None
    logging_password: pulumi.Output[str] | None = None
    logging_ca_certificate: pulumi.Output[str] | None = None
    """CA certificate (PEM) the log store's certificate is verified against, if given."""
    alertmanager_credential: pulumi.Output[str] | None = None
    """SMTP password or webhook bearer token of Alertmanager's receiver, if it needs one."""
    repo_providers: RepoProviderCredentials = RepoProviderCredentials()
    """GitHub/GitLab API credentials of BinderHub's repository providers, those given."""
    build_token_secret: pulumi.Output[str] | None = None
    """Key every BinderHub pod signs and checks launch pages' build tokens with
    (``BinderHub.build_token_secret``), 64 hex digits; always generated and kept stable."""


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

        def generate(part: str, length: int, *, hex_digits: bool = False) -> pulumi.Output[str]:
            generated.append(part)
            # Hex: digits and a-f only -- no letters, and the "special" characters replaced
            # by a-f (override_special, used while special is on).
            # https://registry.terraform.io/providers/hashicorp/random/latest/docs/resources/password
            password_args = (
                random.RandomPasswordArgs(
                    length=length, upper=False, lower=False, special=True,
                    override_special="abcdef",
                )
                if hex_digits
                else random.RandomPasswordArgs(length=length, special=False)
            )
            password = random.RandomPassword(
                f"{name}-{part}", password_args, opts=pulumi.ResourceOptions(parent=self)
            )
            # `result` is a secret output of the provider; say so here as well, so no code
            # path (nor a mock engine) ever sees it as plain.
            return pulumi.Output.secret(password.result)

        registry = None
        if material.registry_username is not None and material.registry_password is not None:
            registry = RegistryCredentials(material.registry_username, material.registry_password)
        dockerhub = None
        if material.dockerhub_username is not None and material.dockerhub_password is not None:
            dockerhub = RegistryCredentials(
                material.dockerhub_username, material.dockerhub_password
            )
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
            dockerhub=dockerhub,
            tls=tls,
            oauth=oauth,
            logging_password=material.logging_password,
            logging_ca_certificate=material.logging_ca_certificate,
            alertmanager_credential=material.alertmanager_credential,
            repo_providers=RepoProviderCredentials(
                github_access_token=material.github_access_token,
                github_client_id=material.github_client_id,
                github_client_secret=material.github_client_secret,
                gitlab_token=material.gitlab_token,
            ),
            # Only ever generated: BinderHub's pods share it, nobody else needs it.
            # Hex, as BinderHub reads a string key (a2b_hex): 64 digits, 256 bits.
            build_token_secret=generate("build-token-secret", 64, hex_digits=True),
        )
        # Names only: the values stay in the resources that hold them.
        self.register_outputs({"generated": generated, "given": sorted(material.sources)})
