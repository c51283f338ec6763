"""e2e/controlplane/certs.py: a control plane's certificates chain to its own CA, name
loopback and the `kubernetes` Service, and keep their keys private."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e.controlplane.certs import CLIENTS, make_certificates


def test_every_certificate_chains_to_the_ca_with_its_usage(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, "10.96.0.1")
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    serving = x509.load_pem_x509_certificate(certs.serving_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("10.96.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    for client in CLIENTS:
        cert = x509.load_pem_x509_certificate(certs.client_cert(client.file_stem).read_bytes())
        cert.verify_directly_issued_by(ca)
        subject = cert.subject
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == client.user
        groups = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        assert groups == list(client.groups)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, "10.96.0.1")
    keys = [certs.serving_key, certs.service_account_key,
            *(certs.client_key(c.file_stem) for c in CLIENTS)]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name
    assert stat.S_IMODE(certs.ca.stat().st_mode) & 0o004  # certificates are public


def test_only_the_admin_and_kwok_are_cluster_admins() -> None:
    admins = {c.file_stem for c in CLIENTS if "system:masters" in c.groups}
    assert admins == {"admin", "kwok"}
