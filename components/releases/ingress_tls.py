"""How the public ingresses get their TLS certificate (plain module, no component).

Three sources (``binder:tls.source``):

* ``letsencrypt`` -- the Ingress carries ``cert-manager.io/cluster-issuer: letsencrypt-<issuer>``
  and names a Secret that cert-manager's ingress-shim creates and renews
  (https://cert-manager.io/docs/usage/ingress/);
* ``institution`` -- a certificate the institution issued (covering every public host) is
  stored as a ``kubernetes.io/tls`` Secret in the release's namespace
  (https://kubernetes.io/docs/concepts/configuration/secret/#tls-secrets);
* ``none`` -- plain HTTP, e.g. a local cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
from pulumi_kubernetes.core.v1 import Secret, SecretInitArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.secrets.deployment import TlsCertificate

#: Annotation read by cert-manager's ingress-shim.
CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
#: Name of the Secret holding an institution certificate, in each namespace that needs it.
INSTITUTION_SECRET = "institution-tls"  # noqa: S105 (a Secret's name, not a secret)


@dataclass(frozen=True)
class IngressTls:
    """The TLS settings shared by every public Ingress of the stack."""

    source: Literal["letsencrypt", "institution", "none"]
    """Where certificates come from."""
    cluster_issuer: str | None = None
    """ClusterIssuer for ``letsencrypt``."""

    @property
    def enabled(self) -> bool:
        return self.source != "none"

    @property
    def scheme(self) -> str:
        return "https" if self.enabled else "http"

    def url(self, host: str) -> str:
        return f"{self.scheme}://{host}"

    def annotations(self) -> dict[str, str]:
        """Ingress annotations: the ClusterIssuer for Let's Encrypt, else none."""
        if self.source == "letsencrypt" and self.cluster_issuer:
            return {CLUSTER_ISSUER_ANNOTATION: self.cluster_issuer}
        return {}

    def tls(self, secret_name: str, hosts: Sequence[str]) -> list[dict[str, Any]]:
        """The Ingress ``tls`` list. With Let's Encrypt each Ingress gets its own Secret
        (``secret_name``), which cert-manager fills; with an institution certificate all
        share the one ``institution-tls`` Secret."""
        if self.source == "none":
            return []
        name = INSTITUTION_SECRET if self.source == "institution" else secret_name
        return [{"secretName": name, "hosts": list(hosts)}]


def institution_tls_secret(
    name: str, namespace: str, certificate: TlsCertificate, opts: pulumi.ResourceOptions
) -> Secret:
    """The institution certificate as a ``kubernetes.io/tls`` Secret in ``namespace``.

    ``string_data`` holds secret Outputs, so the key never appears in plaintext in the
    inputs or the state.
    """
    return Secret(
        name,
        SecretInitArgs(
            metadata=ObjectMetaArgs(name=INSTITUTION_SECRET, namespace=namespace),
            type="kubernetes.io/tls",
            string_data={
                "tls.crt": pulumi.Output.secret(certificate.certificate),
                "tls.key": pulumi.Output.secret(certificate.key),
            },
        ),
        opts=opts,
    )
