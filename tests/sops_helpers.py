"""Test helpers for SOPS: age keys made at test time and files encrypted by the real sops.

Nothing here touches the developer's own keys: :func:`isolate_sops` points ``HOME`` and
``XDG_CONFIG_HOME`` at a temporary folder for the test (so sops finds no
``~/.config/sops/age/keys.txt`` and no ``~/.ssh`` key) and sets ``SOPS_AGE_KEY_FILE``.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyrage import x25519

from components.secrets.sops import find_sops

#: The sops the program would run, resolved before any test changes $SOPS or $PATH.
SOPS = find_sops()


@dataclass(frozen=True)
class AgeKey:
    path: Path
    """Key file in age's format (``# public key:`` comment, then the private key)."""
    public: str


def make_age_key(directory: Path, name: str) -> AgeKey:
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    path = directory / f"{name}.agekey"
    path.write_text(f"# public key: {public}\n{identity}\n")
    return AgeKey(path, public)


def sops_encrypt(
    document: dict[str, Any] | str, dest: Path, *recipients: str, extra: tuple[str, ...] = ()
) -> Path:
    """Encrypt ``document`` (a mapping or YAML text) to ``dest`` for the age ``recipients``.

    ``extra`` are more sops options, e.g. ``("--encrypted-regex", "^data$")``.

    sops runs in a scratch folder, away from any .sops.yaml (it looks for one from its working
    directory up) whose creation rules would not cover the path.
    """
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain.yaml"
        plain.write_text(text)
        result = subprocess.run(
            [SOPS, "--encrypt", *extra, "--age", ",".join(recipients), str(plain)],
            cwd=scratch,
            capture_output=True,
            check=True,
        )
    dest.write_bytes(result.stdout)
    return dest


def isolate_sops(monkeypatch: pytest.MonkeyPatch, home: Path, key: Path | None) -> None:
    """Run sops for this test with ``key`` only (or no key at all)."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS"):
        monkeypatch.delenv(name, raising=False)
    if key is None:
        monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    else:
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
