"""Rules about a SOPS file as stored in git (values still encrypted), read without sops.

Shared by :mod:`components.secrets.sops` (the program, before it runs sops) and
:mod:`tools.check_secrets` (``make check-secrets`` and the pre-commit hook), so that both
judge a file the same way. The hook runs in pre-commit's own virtualenv, which has only
PyYAML (.pre-commit-config.yaml), so this module imports the standard library only: never
pulumi, pydantic or :mod:`components.config.stack` (tests/components/secrets/test_stored_files.py
checks
it). Callers parse the YAML themselves, because each reports a parse error its own way.

The layout is the one sops writes (https://getsops.io/docs/): a top-level ``sops:`` mapping
with the recipients and a ``mac``, and every encrypted value written as
``ENC[AES256_GCM,data:...,iv:...,tag:...,type:str]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The largest secrets file read, encrypted or decrypted (the program and the hook alike).
#: Ours are a few KiB; every value ends up in a Kubernetes Secret, which is capped at 1 MiB
#: (https://kubernetes.io/docs/concepts/configuration/secret/#restriction-data-size).
SECRETS_MAX_BYTES = 1024 * 1024

#: How sops marks an encrypted value: ``ENC[AES256_GCM,data:...,iv:...,tag:...,type:str]``.
ENC_PREFIX = "ENC["

#: Options recorded in a file's ``sops:`` metadata that leave some values unencrypted
#: (https://getsops.io/docs/#encrypting-only-parts-of-a-file).
PARTIAL_OPTIONS = (
    "encrypted_regex",
    "encrypted_suffix",
    "unencrypted_regex",
    "unencrypted_suffix",
)

#: sops' default: keys ending in it are never encrypted, even without any option. sops
#: records it as ``unencrypted_suffix`` in every file it writes.
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"

#: Per key type of the ``sops:`` metadata, the field that identifies a recipient.
_RECIPIENT_FIELDS = {
    "age": "recipient",
    "pgp": "fp",
    "kms": "arn",
    "gcp_kms": "resource_id",
    "azure_kv": "vault_url",
    "hc_vault": "vault_address",
}


def is_sops_document(document: Any) -> bool:
    """Whether a parsed YAML document carries SOPS metadata (a non-empty ``sops:`` mapping)."""
    return (
        isinstance(document, Mapping)
        and isinstance(document.get("sops"), Mapping)
        and bool(document["sops"])
    )


def has_mac(metadata: Mapping[str, Any]) -> bool:
    """Whether the ``sops:`` metadata has the MAC that sops checks over all values."""
    return "mac" in metadata


def is_encrypted_leaf(node: Any) -> bool:
    """Whether a stored scalar is as sops writes it: ``ENC[...]``, or null / ``""``.

    sops stores null and ``""`` as they are (they hold nothing to hide); every other scalar,
    numbers and booleans included, becomes an ``ENC[...]`` string.
    """
    return (
        node is None
        or node == ""
        or (isinstance(node, str) and node.startswith(ENC_PREFIX) and node.endswith("]"))
    )


def plaintext_paths(document: Mapping[str, Any]) -> list[str]:
    """Key paths (``registry.password``, ``list[0]``) of values stored in clear.

    Every value of a secrets document is a secret, so *any* value that is not ``ENC[...]``
    counts, whatever the file's own sops options allow. Paths only: keys are never encrypted
    by sops, values never leave this function.
    """
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not path and key == "sops":
                    continue
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")
        elif not is_encrypted_leaf(node):
            found.append(path or "<document>")

    walk(document, "")
    return found


def partial_options(metadata: Mapping[str, Any]) -> list[str]:
    """The sops options of the file that leave values in clear, as ``name 'value'``.

    sops records its default ``unencrypted_suffix`` in every file; it is left out, as it
    matters only for keys ending in it (see :data:`DEFAULT_UNENCRYPTED_SUFFIX`).
    """
    return [
        f"{option} '{metadata[option]}'"
        for option in PARTIAL_OPTIONS
        if metadata.get(option)
        and not (option == "unencrypted_suffix" and metadata[option] == DEFAULT_UNENCRYPTED_SUFFIX)
    ]


def recipients(metadata: Mapping[str, Any]) -> list[str]:
    """Every recipient (public key, KMS key, vault key) of a file's ``sops:`` metadata.

    Labels are ``<type>:<id>``, e.g. ``age:age1...``; Azure Key Vault and HashiCorp Vault
    keys carry their key name too (``azure_kv:<vault_url>/keys/<name>``,
    ``hc_vault:<vault_address>/<engine_path>/keys/<key_name>``), since a vault holds many
    keys. Top-level entries come first, then those of ``key_groups``. These are public
    identifiers, safe to print.
    """
    found: list[str] = []
    groups: list[Mapping[str, Any]] = [metadata]
    groups += [g for g in metadata.get("key_groups") or [] if isinstance(g, Mapping)]
    for group in groups:
        for kind, key in _RECIPIENT_FIELDS.items():
            for entry in group.get(kind) or []:
                if isinstance(entry, Mapping) and entry.get(key):
                    label = str(entry[key])
                    if kind == "azure_kv":
                        label += f"/keys/{entry.get('name', '')}"
                    elif kind == "hc_vault":
                        label += f"/{entry.get('engine_path', '')}/keys/{entry.get('key_name', '')}"
                    found.append(f"{kind}:{label}")
    return found


#: Public key of the TEST-ONLY age key committed in this repository
#: (tests/keys/TEST-ONLY-age-key.txt). Its private key is in git, so a file that only it can
#: open is as good as public: fine for the examples' fake values, never for a real secret.
TEST_ONLY_RECIPIENT = "age190rmkra0teuu5ggaxq32dt2fk2d87z9wdsve47rysmp90cfv6elsvxq8jz"

#: Set (to 1) by the test suite only: the program then decrypts files that only the TEST-ONLY
#: key can open. Never set it for a real deployment.
TEST_RUN_ENV = "BINDER_TEST_RUN"


def only_test_recipient(metadata: Mapping[str, Any]) -> bool:
    """Whether the TEST-ONLY age key is the file's one and only recipient."""
    return set(recipients(metadata)) == {f"age:{TEST_ONLY_RECIPIENT}"}
