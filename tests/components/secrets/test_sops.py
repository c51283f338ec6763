"""components/secrets/sops.py against the real sops binary, with age keys made at test time."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from components.config.base import ConfigError
from components.secrets import sops
from components.secrets.sops import (
    SecretsError,
    decrypt_file,
    find_sops,
    read_encrypted,
    recipients,
)
from tests.hostile import alias_bomb
from tests.sops_helpers import AgeKey, isolate_sops, make_age_key, sops_encrypt

USERNAME = "fixture-user-7f3a"
PASSWORD = "fixture-password-c41d9e"
TOKEN = "fixture-token-90b2"
VALUES = (USERNAME, PASSWORD, TOKEN)
DOCUMENT = {
    "registry": {"username": USERNAME, "password": PASSWORD},
    "jupyterhub": {"proxySecretToken": TOKEN},
}


@pytest.fixture
def keys(tmp_path: Path) -> tuple[AgeKey, AgeKey]:
    directory = tmp_path / "keys"
    directory.mkdir()
    return make_age_key(directory, "right"), make_age_key(directory, "wrong")


@pytest.fixture
def encrypted(tmp_path: Path, keys: tuple[AgeKey, AgeKey]) -> Path:
    return sops_encrypt(DOCUMENT, tmp_path / "secrets.yaml", keys[0].public)


def _error(path: Path, name: str | None = None) -> str:
    with pytest.raises(SecretsError) as info:
        decrypt_file(path, name)
    message = str(info.value)
    for value in VALUES:
        assert value not in message, "an error message must never carry a secret value"
    return message


def test_secrets_error_is_a_config_error() -> None:
    # ConfigError is a pulumi.RunError: the CLI prints it without a traceback.
    assert issubclass(SecretsError, ConfigError)


def test_decrypts_in_memory_only(
    tmp_path: Path, encrypted: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    before = sorted(p for p in tmp_path.rglob("*"))
    assert decrypt_file(encrypted) == DOCUMENT
    # sops wrote its plaintext to our pipe, not to a file next to the input or anywhere here.
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert all(value not in encrypted.read_text() for value in VALUES)


def test_wrong_key_names_the_file_and_the_recipients(
    tmp_path: Path, encrypted: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", keys[1].path)
    message = _error(encrypted, "helm_configs/x/secrets.yaml")
    assert "'helm_configs/x/secrets.yaml'" in message
    assert "none of your keys can open it" in message
    assert keys[0].public in message  # who can open it: a public key, safe to show
    assert "sops updatekeys helm_configs/x/secrets.yaml" in message


def test_no_key_says_how_to_provide_one(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", None)
    message = _error(encrypted)
    assert str(encrypted) in message
    assert "no private key is available" in message
    assert "set SOPS_AGE_KEY_FILE" in message


def test_key_file_that_does_not_exist(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", tmp_path / "nowhere.agekey")
    message = _error(encrypted)
    assert f"SOPS_AGE_KEY_FILE points to '{tmp_path / 'nowhere.agekey'}'" in message


def test_tampered_file_is_a_mac_mismatch(
    tmp_path: Path, encrypted: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    # Drop one encrypted value: every remaining value decrypts, but the MAC over all of them
    # no longer matches.
    lines = encrypted.read_text().splitlines(keepends=True)
    encrypted.write_text("".join(line for line in lines if "password: ENC[" not in line))
    message = _error(encrypted, "stack/secrets.yaml")
    assert "MAC mismatch" in message
    assert "tampered" in message
    assert "'stack/secrets.yaml'" in message


def test_changed_mac_is_a_mac_mismatch(
    tmp_path: Path, encrypted: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    text = encrypted.read_text()
    mac = re.search(r"mac: ENC\[AES256_GCM,data:(.)", text)
    assert mac
    flipped = "A" if mac.group(1) != "A" else "B"
    encrypted.write_text(text[: mac.start(1)] + flipped + text[mac.end(1) :])
    assert "MAC mismatch" in _error(encrypted)


def test_changed_ciphertext_is_refused_without_echoing_it(
    tmp_path: Path, encrypted: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    text = encrypted.read_text()
    data = re.search(r"username: ENC\[AES256_GCM,data:(.)", text)
    assert data
    flipped = "A" if data.group(1) != "A" else "B"
    encrypted.write_text(text[: data.start(1)] + flipped + text[data.end(1) :])
    message = _error(encrypted)
    assert "not a valid sops ciphertext" in message
    assert "tampered" in message


def test_pasted_plaintext_value_is_refused_before_sops_runs(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone pasted a plaintext value into the encrypted file; sops' own message would
    # quote it, ours names the key only.
    text = re.sub(r"username: ENC\[[^\]]*\]", f"username: {PASSWORD}", encrypted.read_text())
    encrypted.write_text(text)
    monkeypatch.setenv("SOPS", str(tmp_path / "no-sops-here"))  # never reached
    message = _error(encrypted, "stack/secrets.yaml")
    assert "'stack/secrets.yaml' holds values that are not encrypted, at: registry.username" in (
        message
    )
    assert "edited without sops" in message
    assert "git log -p -- stack/secrets.yaml" in message
    assert "rotate" in message


def test_partly_encrypted_file_is_refused_before_sops_runs(
    tmp_path: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--encrypted-regex ^username$` leaves every other value in clear, in git."""
    only_username = ("--encrypted-regex", "^username$")
    path = sops_encrypt(DOCUMENT, tmp_path / "secrets.yaml", keys[0].public, extra=only_username)
    assert f"password: {PASSWORD}" in path.read_text()  # what the reviewer found
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    monkeypatch.setenv("SOPS", str(tmp_path / "no-sops-here"))  # refused before sops runs
    name = "helm_configs/ebi/secrets.example.yaml"
    message = _error(path, name)
    assert (
        f"'{name}' holds values that are not encrypted, at: registry.password, "
        "jupyterhub.proxySecretToken." in message
    )
    assert "registry.username" not in message  # that one is encrypted
    assert "encrypted_regex '^username$'" in message  # why: the file's own sops option
    assert f"sops decrypt {name} | sops encrypt --filename-override {name} > {name}.new" in (
        message
    )
    assert "rotate" in message


def test_unencrypted_suffix_keys_are_refused(
    tmp_path: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sops never encrypts `*_unencrypted` keys; no key of a secrets file may be in clear.
    document = {"registry": {"username": USERNAME, "password_unencrypted": PASSWORD}}
    path = sops_encrypt(document, tmp_path / "secrets.yaml", keys[0].public)
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    message = _error(path)
    assert "not encrypted, at: registry.password_unencrypted." in message
    assert "`_unencrypted`" in message


def test_values_sops_leaves_alone_are_accepted(
    tmp_path: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sops stores null and "" as they are: they hold nothing to hide. (The schema in
    # components/secrets/material.py then refuses the empty string by name.)
    document = {"registry": {"username": None, "password": ""}, "grafana": {}}
    path = sops_encrypt(document, tmp_path / "secrets.yaml", keys[0].public)
    assert 'password: ""' in path.read_text()
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    assert decrypt_file(path) == document


def test_unencrypted_file_is_refused_before_sops_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "secrets.yaml"
    plain.write_text(f"registry:\n  username: {USERNAME}\n  password: {PASSWORD}\n")
    # Were sops consulted, this would fail with "not an executable file" instead.
    monkeypatch.setenv("SOPS", str(tmp_path / "no-sops-here"))
    message = _error(plain, "helm_configs/ebi/secrets.example.yaml")
    assert "'helm_configs/ebi/secrets.example.yaml' is not SOPS-encrypted" in message
    assert "sops --encrypt --in-place helm_configs/ebi/secrets.example.yaml" in message


@pytest.mark.parametrize("name", ["/etc/passwd", "../elsewhere/secrets.yaml", "notes.txt"])
def test_no_advice_to_encrypt_a_file_that_is_not_the_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Issue 20: the message suggested `sops --encrypt --in-place /etc/passwd`."""
    plain = tmp_path / "plain.yaml"
    plain.write_text("root: x\n")
    monkeypatch.setenv("SOPS", str(tmp_path / "no-sops-here"))
    message = _error(plain, name)
    assert "--encrypt" not in message
    assert "not a secrets file of this project; check binder:secretsFiles" in message


def test_invalid_yaml_is_refused_without_quoting_it(tmp_path: Path) -> None:
    broken = tmp_path / "secrets.yaml"
    broken.write_text(f"password: [{PASSWORD}\n")
    message = _error(broken)
    assert "YAML syntax error at line 2, column 1" in message
    assert "sops " in message  # how to fix it
    assert PASSWORD not in message


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "absent.yaml", "helm_configs/gone/secrets.yaml")
    assert "'helm_configs/gone/secrets.yaml' does not exist" in message
    assert "binder:secretsFiles" in message


def test_sops_override_that_does_not_exist(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS", str(tmp_path / "bin" / "sops"))
    message = _error(encrypted)
    assert f"$SOPS is set to '{tmp_path / 'bin' / 'sops'}'" in message
    assert "not an executable file" in message


def test_sops_not_installed(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPS", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    message = _error(encrypted)
    assert "sops is not installed" in message
    assert "pip install -r requirements.txt" in message


def test_finds_the_sops_of_the_running_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPS", raising=False)
    monkeypatch.setenv("PATH", "")
    assert find_sops() == str(Path(sys.executable).parent / "sops")


def test_sops_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-sops"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SOPS", str(fake))
    assert find_sops() == str(fake)


def test_broken_sops_config_is_named(
    tmp_path: Path, encrypted: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sops reads .sops.yaml even to decrypt.
    isolate_sops(monkeypatch, tmp_path / "home", keys[0].path)
    (tmp_path / ".sops.yaml").write_text("creation_rules: [\n")
    monkeypatch.chdir(tmp_path)
    message = _error(encrypted)
    assert "Fix .sops.yaml" in message


def test_read_encrypted_keeps_values_encrypted(encrypted: Path) -> None:
    document = read_encrypted(encrypted)
    assert document["registry"]["password"].startswith("ENC[AES256_GCM,")
    assert "mac" in document["sops"]


def test_metadata_without_mac_is_refused(tmp_path: Path, encrypted: Path) -> None:
    lines = encrypted.read_text().splitlines(keepends=True)
    encrypted.write_text("".join(line for line in lines if not line.lstrip().startswith("mac:")))
    with pytest.raises(SecretsError, match="without a MAC"):
        read_encrypted(encrypted)


def test_recipients_lists_every_key_type() -> None:
    metadata = {
        "age": [{"recipient": "age1abc", "enc": "..."}],
        "pgp": [{"fp": "ABCDEF0123456789", "enc": "..."}],
        "gcp_kms": [{"resource_id": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}],
        "key_groups": [{"age": [{"recipient": "age1def"}]}],
    }
    assert recipients(metadata) == [
        "age:age1abc",
        "pgp:ABCDEF0123456789",
        "gcp_kms:projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "age:age1def",
    ]


def test_timeout_is_reported(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = tmp_path / "slow-sops"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setenv("SOPS", str(slow))
    monkeypatch.setattr(sops, "TIMEOUT_SECONDS", 0.2)
    message = _error(encrypted)
    assert "did not finish decrypting" in message


def test_unknown_failure_does_not_quote_sops(
    tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noisy = tmp_path / "noisy-sops"
    noisy.write_text(f"#!/bin/sh\necho 'leaking {PASSWORD}' >&2\nexit 3\n")
    noisy.chmod(0o755)
    monkeypatch.setenv("SOPS", str(noisy))
    message = _error(encrypted)
    assert "exit code 3" in message
    assert f"sops --decrypt {encrypted}" in message


# ---- the TEST-ONLY key -------------------------------------------------------------------


def test_a_file_only_the_test_key_opens_is_refused_outside_the_tests(
    tmp_path: Path, keys: tuple[AgeKey, AgeKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its private key is in git: such a file holds examples, never secrets to deploy."""
    from components.secrets.stored_files import TEST_ONLY_RECIPIENT, TEST_RUN_ENV
    from tests.conftest import TEST_AGE_KEY

    path = sops_encrypt(DOCUMENT, tmp_path / "secrets.yaml", TEST_ONLY_RECIPIENT)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_AGE_KEY))
    monkeypatch.delenv(TEST_RUN_ENV, raising=False)
    message = _error(path, "helm_configs/ebi/secrets.yaml")
    assert "'helm_configs/ebi/secrets.yaml' is encrypted only to the TEST-ONLY age key" in message
    assert "docs/secrets.md" in message
    assert not any(value in message for value in VALUES)
    # The test suite (and only it) sets the switch; then the examples decrypt.
    monkeypatch.setenv(TEST_RUN_ENV, "1")
    assert decrypt_file(path) == DOCUMENT
    # Another recipient beside the test key: a real key can open it, so it is not refused
    # here (check-secrets --strict is what refuses the test key beside others).
    both = sops_encrypt(DOCUMENT, tmp_path / "both.yaml", TEST_ONLY_RECIPIENT, keys[0].public)
    monkeypatch.delenv(TEST_RUN_ENV)
    assert decrypt_file(both) == DOCUMENT


def test_the_committed_test_key_is_the_one_the_refusal_knows() -> None:
    from components.secrets.stored_files import TEST_ONLY_RECIPIENT
    from tests.conftest import TEST_AGE_KEY

    assert f"# public key: {TEST_ONLY_RECIPIENT}" in TEST_AGE_KEY.read_text()


def test_sops_yaml_gives_the_test_key_only_to_tests_and_examples(tmp_path: Path) -> None:
    """The real sops with the committed .sops.yaml: test fixtures and *.example.yaml files get
    the test key; production paths fail on their placeholders until replaced; any other path
    has no recipient and is refused."""
    import shutil
    import subprocess

    from components.secrets.stored_files import TEST_ONLY_RECIPIENT
    from tests.conftest import REPO

    shutil.copy(REPO / ".sops.yaml", tmp_path / ".sops.yaml")

    def encrypt(rel: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("registry:\n  password: fake\n")
        return subprocess.run(
            [find_sops(), "--encrypt", rel],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    for rel in ("tests/fixtures/x.yaml", "helm_configs/ebi/secrets.example.yaml"):
        done = encrypt(rel)
        assert done.returncode == 0, done.stderr
        assert TEST_ONLY_RECIPIENT in done.stdout
    for rel in (
        "helm_configs/base/secrets.yaml",
        "helm_configs/ebi/secrets.yaml",
        "helm_configs/newstack/secrets.yaml",
    ):
        done = encrypt(rel)
        assert done.returncode != 0, rel
        assert "recipient" in done.stderr, done.stderr
    done = encrypt("somewhere/else.yaml")
    assert done.returncode != 0
    assert "empty key group" in done.stderr


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (alias_bomb(), "The decrypted content of '{name}': at line 2"),
        ("registry: [\n", "The decrypted content of '{name}': YAML syntax error at line 2"),
        ("a: " + "x" * (1024 * 1024) + "\n", "larger than the cap of 1 MiB"),
    ],
    ids=["alias-bomb", "syntax-error", "too-big"],
)
def test_decrypted_output_goes_through_the_same_checks(
    output: str, words: str, tmp_path: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What sops prints is parsed like any input: a bomb or garbage fails at once."""
    (tmp_path / "output.yaml").write_text(output)
    fake = tmp_path / "fake-sops"
    fake.write_text(f"#!/bin/sh\nexec cat {tmp_path / 'output.yaml'}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SOPS", str(fake))
    started = time.perf_counter()
    message = _error(encrypted, "helm_configs/ebi/secrets.yaml")
    assert time.perf_counter() - started < 2
    assert words.format(name="helm_configs/ebi/secrets.yaml") in message
    assert "Re-create the file with `sops helm_configs/ebi/secrets.yaml`" in message
    assert "lol" not in message
