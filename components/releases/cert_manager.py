"""cert-manager and the Let's Encrypt ClusterIssuers the public Ingresses use.

The chart installs its own CRDs (``crds.enabled``, kept on uninstall by ``crds.keep``), so
the CRDs always match the controller version (https://cert-manager.io/docs/installation/helm/).
Two ClusterIssuers are created, ``letsencrypt-production`` and ``letsencrypt-staging``; both
solve ACME HTTP-01 challenges through the stack's IngressClass
(https://cert-manager.io/docs/configuration/acme/http01/). ``binder:tls.issuer`` picks which
one the Ingresses use: staging has generous rate limits, for trying out a new stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.catalog import charts
from components.catalog.charts import cluster_issuer_name
from components.releases import helm

#: ACME directories of Let's Encrypt (https://letsencrypt.org/docs/staging-environment/).
Environment = Literal["production", "staging"]
ENVIRONMENTS: tuple[Environment, ...] = ("production", "staging")
ACME_SERVERS: dict[Environment, str] = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True, kw_only=True)
class CertManagerArgs(helm.ReleasePlacement):
    """Inputs of :class:`CertManager`; where the release goes is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    ingress_class: str
    """IngressClass that serves the HTTP-01 challenges (``binder:ingress.className``)."""
    email: str | None = None
    """ACME account email (``binder:tls.email``), optional for ACME itself. Let's Encrypt no
    longer sends certificate-expiry emails (they ended on 4 June 2025,
    https://letsencrypt.org/2025/01/22/ending-expiration-emails/): renewal is cert-manager's
    job, and a certificate that fails to renew shows in cert-manager's
    ``certmanager_certificate_expiration_timestamp_seconds`` metric (scraped by our
    Prometheus) and in ``tools/smoke.py``."""
    namespace: str = "cert-manager"
    """Namespace of the release."""


class CertManager(pulumi.ComponentResource):
    """The cert-manager release and its two ClusterIssuers."""

    release: pulumi.CustomResource
    issuers: dict[Environment, CustomResource]
    """ClusterIssuers by environment: ``production`` and ``staging``."""

    def __init__(
        self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:cert_manager:CertManager", name, None, opts)
        self.release = args.helm_release(
            f"{name}-release",
            charts.CERT_MANAGER,
            parent=self,
            computed=cert_manager_values(),
            # Pulling three images and the startupapicheck Job (it waits for the webhook)
            # take a few minutes on a fresh node.
            timeout=600,
            # A half-installed cert-manager leaves a webhook that rejects every cert-manager
            # object: roll back / remove rather than keep it.
            atomic=True,
            cleanup_on_fail=True,
            # The ClusterIssuers below need the webhook to be serving; waiting for the release
            # is what orders them after it.
            skip_await=False,
            holds_secrets=False,
        )
        self.issuers = {
            env: CustomResource(
                f"{name}-{env}",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata={"name": cluster_issuer_name(env)},
                spec=cluster_issuer_spec(env, args.ingress_class, args.email),
                # The CRD and the validating webhook come with the release.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
            )
            for env in ENVIRONMENTS
        }
        self.register_outputs({"issuers": [cluster_issuer_name(env) for env in self.issuers]})


def cert_manager_values() -> dict[str, Any]:
    """Layer 3 of the cert-manager values: the CRDs come with the chart and stay."""
    # Keeping the CRDs on uninstall keeps every Certificate (and so every TLS Secret) if
    # the release is ever removed and reinstalled.
    return {"crds": {"enabled": True, "keep": True}}


def cluster_issuer_spec(
    env: Literal["production", "staging"], ingress_class: str, email: str | None
) -> dict[str, Any]:
    """``spec`` of a Let's Encrypt ClusterIssuer solving HTTP-01 through ``ingress_class``."""
    acme: dict[str, Any] = {
        "server": ACME_SERVERS[env],
        # The ACME account key; cert-manager creates it in its own namespace.
        "privateKeySecretRef": {"name": f"{cluster_issuer_name(env)}-account-key"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
    }
    if email:
        acme["email"] = email
    return {"acme": acme}
