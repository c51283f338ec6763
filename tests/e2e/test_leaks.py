"""e2e/leaks.py: which secret values the real-engine tests look for, and where they find
them."""

from __future__ import annotations

import base64
import json

from e2e.leaks import json_leaks, plain, redacted, secret_values, text_leaks
from tools.mockrun import SECRET_SIG, SIG_KEY

TOKEN = "deployer-token-0123456789abcdef"
KEY_PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
)
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {base64.b64encode(b"a public CA certificate").decode()}
users:
- name: u
  user:
    token: {TOKEN}
    client-key-data: {base64.b64encode(KEY_PEM.encode()).decode()}
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""


def secret(value: object) -> dict[str, str]:
    return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(value)}


EXPORT = {"deployment": {"resources": [
    {"outputs": {"result": secret("generated-password-abcdef0123456789")}},
    {"outputs": {"kubeconfig": secret(KUBECONFIG), "name": "binder-e2e"}},
    {"inputs": {"values": secret({
        "hub": {"services": {"binder": {"apiToken": "hub-api-token-0123456789"}}},
        "ingress": {"hosts": ["binder.example.org"], "tls": [{"secretName": "binder-tls"}]},
    })}},
]}}


def test_scalar_secrets_and_the_credentials_inside_structured_ones_are_needles() -> None:
    needles = secret_values(EXPORT)
    assert "generated-password-abcdef0123456789" in needles
    assert TOKEN in needles
    assert KEY_PEM in needles  # decoded from client-key-data, a private key
    assert "hub-api-token-0123456789" in needles
    # Not secret material: names of Secrets, hosts, the server, the CA.
    for public in ("binder-tls", "binder.example.org", "https://127.0.0.1:6443",
                   "a public CA certificate"):
        assert public not in needles


def test_a_needle_is_found_as_is_json_escaped_and_base64() -> None:
    needles = {KEY_PEM, TOKEN}
    assert text_leaks(f"token: {TOKEN}", needles) == [redacted(TOKEN)]
    assert text_leaks(json.dumps({"k": KEY_PEM}), needles) == [redacted(KEY_PEM)]
    encoded = base64.b64encode(f"{TOKEN}\n".encode()).decode()
    assert text_leaks(f"data: {encoded}", needles) == [redacted(TOKEN)]
    assert text_leaks("nothing here", needles) == []
    assert redacted(TOKEN) == "<31 chars, de...>"


def test_json_leaks_skip_secret_markers() -> None:
    document = {"a": secret(TOKEN), "b": {"c": f"Bearer {TOKEN}"}}
    assert json_leaks(document, [TOKEN]) == [".b.c"]


def test_plain_drops_the_markers() -> None:
    assert plain({"a": secret({"b": [1, "x"]})}) == {"a": {"b": [1, "x"]}}
