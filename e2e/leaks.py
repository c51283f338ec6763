"""Every secret value a test knows, and where one shows in plaintext or base64.

The needles are the stack's secrets as the test can know them: every value of the SOPS files
(decrypted with the TEST-ONLY key), and every value the state holds under a secret marker
(``pulumi stack export --show-secrets``: the generated tokens, the deploy agent's and users'
tokens, the kubeconfigs' credentials). Structured secrets (a kubeconfig, a dockerconfigjson)
contribute their credential fields, not their cluster names and URLs, which are not secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

# Pulumi's marker of a secret value, on the wire as in a checkpoint or an export
# (https://github.com/pulumi/pulumi/blob/master/sdk/go/common/resource/sig/sig.go).
from tools.mockrun import SECRET_SIG, plaintext_leaks
from tools.mockrun import SIG_KEY as SECRET_SIG_KEY

#: Shorter texts (a user name such as ``admin``) would match ordinary words.
MIN_NEEDLE = 8
#: Fields of a structured secret that carry credential material: a name that ends so
#: (``apiToken``, ``secretToken``, ``adminPassword``, a kubeconfig's ``token`` and
#: ``client-key-data``, dockerconfigjson's ``auth``), not one that names a Secret or a file
#: (``secretName``, ``bearer_token_file``) or a CA (``certificate-authority-data``).
CREDENTIAL_FIELD = re.compile(r"(token|password|passwd|secret|credential|key-data|^auth)$",
                              re.IGNORECASE)
#: A private key is credential material whatever its field is called.
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def plain(value: Any) -> Any:
    """A ``--show-secrets`` export's value with its secret markers dropped (the values kept)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            if "plaintext" not in value:
                raise ValueError("a secret without its plaintext: export with --show-secrets")
            return plain(json.loads(value["plaintext"]))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, key)
    elif isinstance(value, str):
        yield key, value


def _structured(text: str) -> Any:
    """``text`` parsed as JSON or YAML if it is a mapping or a list, else None."""
    if not text.lstrip().startswith(("{", "[", "apiVersion", "auths")) and ":" not in text[:200]:
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def _credentials(value: Any, key: str = "") -> Iterator[str]:
    """The credential material of one secret value. A scalar secret is itself credential
    material; of a structured one (a mapping, or text holding a kubeconfig or a
    dockerconfigjson) only the fields named like credentials count, and what they hold
    base64-encoded."""
    if isinstance(value, str):
        parsed = _structured(value)
        if parsed is None:
            yield value
            return
        value = parsed
    for field_name, leaf in _leaves(value, key):
        if CREDENTIAL_FIELD.search(field_name) or PRIVATE_KEY.search(leaf):
            yield leaf
            decoded = _b64(leaf)
            if decoded is not None:
                yield from _credentials(decoded)
        elif _structured(leaf) is not None:
            yield from _credentials(leaf)


def _b64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def secret_values(export_with_secrets: Any) -> set[str]:
    """Credential material under every secret marker of a ``--show-secrets`` export."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get(SECRET_SIG_KEY) == SECRET_SIG and "plaintext" in value:
                found.update(_credentials(json.loads(value["plaintext"])))
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(export_with_secrets)
    return {n for n in found if len(n) >= MIN_NEEDLE}


def sops_values(paths: Iterable[Path], sops: Path, age_key: Path) -> set[str]:
    """Every value of the SOPS files, decrypted by the real sops with ``age_key``."""
    found: set[str] = set()
    for path in paths:
        result = subprocess.run(
            [str(sops), "--decrypt", "--output-type", "json", str(path)],
            env={"SOPS_AGE_KEY_FILE": str(age_key), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60, check=True,
        )
        found.update(leaf for _, leaf in _leaves(json.loads(result.stdout)))
    return {n for n in found if len(n) >= MIN_NEEDLE}


def _forms(needle: str) -> set[str]:
    """How a needle can appear in a text file: as is, JSON-escaped, base64 (standard and
    URL-safe, unpadded so that a needle inside a longer blob is still found at offset 0)."""
    forms = {needle, json.dumps(needle)[1:-1]}
    raw = needle.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode().rstrip("="))
    return {f for f in forms if len(f) >= MIN_NEEDLE}


def text_leaks(text: str, needles: Iterable[str]) -> list[str]:
    """The needles (shown by length and first characters only) that ``text`` holds."""
    hits = []
    for needle in sorted(needles):
        if any(form in text for form in _forms(needle)):
            hits.append(redacted(needle))
    return hits


def json_leaks(document: Any, needles: Iterable[str]) -> list[str]:
    """Paths of ``document`` where a needle appears outside a secret marker, as is or base64
    (also inside base64 blobs, two levels deep: :func:`tools.mockrun.plaintext_leaks`)."""
    return list(plaintext_leaks(document, sorted(needles)))


def redacted(needle: str) -> str:
    """A needle as a report may show it: its length and first two characters."""
    return f"<{len(needle)} chars, {needle[:2]}...>"
