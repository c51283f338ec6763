"""The control plane's certificates: one throwaway CA, the API server's serving certificate,
client certificates for each component and the admin, and the service-account signing key.

Everything is made fresh for each control plane, in its own directory, and lives as long as
it does. ECDSA P-256 throughout: the API server accepts it for serving, client and
service-account keys (ES256 tokens), and it takes a fraction of an RSA key's time to make.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: How long the certificates are valid: a kept cluster (make cluster-up) lasts a working week.
VALIDITY = datetime.timedelta(days=7)

#: Names the API server answers to: loopback, and the in-cluster names of the `kubernetes`
#: Service (whose ClusterIP is the first address of the service range).
SERVING_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate's subject: the user name and its groups, as the API server reads
    them (CN = user, O = groups)."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


#: The components and the admin. The controller manager and scheduler authenticate as the
#: users their default ClusterRoleBindings name (system:kube-controller-manager,
#: system:kube-scheduler); kwok simulates every node and pod, so it is an admin.
CLIENTS = (
    ClientIdentity("admin", "binder-e2e-admin", ("system:masters",)),
    ClientIdentity("kube-controller-manager", "system:kube-controller-manager"),
    ClientIdentity("kube-scheduler", "system:kube-scheduler"),
    ClientIdentity("kwok", "kwok-controller", ("system:masters",)),
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _name(common_name: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             now: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


@dataclass(frozen=True)
class Certificates:
    """Paths of everything :func:`make_certificates` wrote."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def client_cert(self, stem: str) -> Path:
        return self.directory / f"{stem}.crt"

    def client_key(self, stem: str) -> Path:
        return self.directory / f"{stem}.key"


def make_certificates(directory: Path, service_ip: str) -> Certificates:
    """Write the CA, the serving certificate (loopback and the `kubernetes` Service's names
    and ``service_ip``), a client certificate per :data:`CLIENTS` and the service-account
    key pair into ``directory`` (keys readable by the owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = Certificates(directory)
    now = datetime.datetime.now(datetime.UTC)

    ca_key = _key()
    ca_name = _name("binder-e2e-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(out.ca, ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(subject: x509.Name, usage: x509.ObjectIdentifier,
             sans: list[x509.GeneralName] | None = None) -> tuple[bytes, bytes]:
        key = _key()
        builder = (
            _builder(subject, ca_name, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            # Required by strict verifiers (urllib3 2 asks OpenSSL for RFC 5280 checks).
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVING_DNS]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", service_ip)]
    cert, key = leaf(_name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans)
    _write(out.serving_cert, cert)
    _write(out.serving_key, key, private=True)

    for client in CLIENTS:
        cert, key = leaf(_name(client.user, client.groups), ExtendedKeyUsageOID.CLIENT_AUTH)
        _write(out.client_cert(client.file_stem), cert)
        _write(out.client_key(client.file_stem), key, private=True)

    sa_key = _key()
    _write(out.service_account_key, _pem_key(sa_key), private=True)
    _write(
        out.service_account_pub,
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return out
