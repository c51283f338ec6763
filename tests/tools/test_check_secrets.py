"""tools/check_secrets.py (make check-secrets, the pre-commit hook) on real SOPS files."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
import yaml

from tests import fast_yaml
from tests.conftest import REPO
from tests.hostile import alias_bomb
from tests.sops_helpers import AgeKey, make_age_key, sops_encrypt
from tools.check_secrets import (
    COMMITTED_TEST_RECIPIENT,
    check,
    committed_test_recipients,
    is_secrets_path,
    main,
    path_rules,
)

SECRET = "fx-check-secret-value-8e2b"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[AgeKey, AgeKey]:
    directory = tmp_path_factory.mktemp("keys")
    return make_age_key(directory, "test-only"), make_age_key(directory, "operator")


@pytest.fixture
def repo(tmp_path: Path, keys: tuple[AgeKey, AgeKey]) -> Path:
    """A small repository: .sops.yaml rules and the TEST-ONLY key file, as in ours."""
    test_key, _ = keys
    (tmp_path / "tests" / "keys").mkdir(parents=True)
    (tmp_path / "tests" / "keys" / "TEST-ONLY-age-key.txt").write_text(
        "# TEST-ONLY\n" + test_key.path.read_text()
    )
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: ^tests/fixtures/.*\\.ya?ml$\n"
        f"    age: {test_key.public}\n"
        "  - path_regex: ^helm_configs/[^/]+/secrets\\.ya?ml$\n"
        f"    age: {test_key.public}\n"
    )
    (tmp_path / "helm_configs" / "ebi").mkdir(parents=True)
    return tmp_path


def _encrypt(repo: Path, rel: str, *recipients: str) -> Path:
    dest = repo / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    return sops_encrypt({"registry": {"password": SECRET, "username": "u"}}, dest, *recipients)


def _plain(repo: Path, rel: str) -> Path:
    dest = repo / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(f"registry:\n  password: {SECRET}\n")
    return dest


def _run(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--root", str(repo), *args])
    err = capsys.readouterr().err
    assert SECRET not in err, "check-secrets must never print a value"
    return code, err


def test_secrets_paths_come_from_sops_rules_and_names(repo: Path) -> None:
    rules = path_rules(repo)
    assert is_secrets_path("helm_configs/ebi/secrets.yaml", rules)
    assert is_secrets_path("tests/fixtures/anything.yml", rules)
    assert is_secrets_path("deploy/my-Secrets.yaml", rules)  # by name, anywhere
    assert is_secrets_path("helm_configs/ebi/db-secret.yml", rules)
    assert not is_secrets_path("tests/data/secret-shaped.yaml", rules)  # names under tests/
    assert not is_secrets_path("helm_configs/ebi/binderhub.yaml", rules)
    assert not is_secrets_path("docs/secrets.md", rules)


def test_encrypted_file_to_a_real_recipient_passes(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[1].public)
    code, err = _run(repo, capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    "rel",
    ["helm_configs/ebi/secrets.yaml", "tests/fixtures/x.yaml", "ops/prod-secret.yaml"],
)
def test_plaintext_on_a_secrets_path_is_refused(
    repo: Path, rel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _plain(repo, rel)
    code, err = _run(repo, capsys)
    assert code == 1
    assert f"ERROR {rel}: not SOPS-encrypted (no top-level `sops:` metadata)" in err
    assert f"sops --encrypt --in-place {rel}" in err


def test_plaintext_elsewhere_is_none_of_its_business(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _plain(repo, "helm_configs/ebi/binderhub.yaml")
    _plain(repo, "tests/data/secret-looking.yaml")
    assert _run(repo, capsys) == (0, "")


def test_test_key_only_is_a_warning(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[0].public)
    code, err = _run(repo, capsys)
    assert code == 0
    assert "WARNING helm_configs/ebi/secrets.yaml: only the TEST-ONLY age key" in err
    assert "real secrets go in a new file made with `sops`" in err
    code, err = _run(repo, capsys, "--strict")
    assert code == 1


def test_test_key_beside_a_real_recipient_is_a_warning(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    """The test key's private key is in git: whoever has the repository opens the file."""
    _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[0].public, keys[1].public)
    code, err = _run(repo, capsys)
    assert code == 0
    assert (
        "WARNING helm_configs/ebi/secrets.yaml: the TEST-ONLY age key "
        "(tests/keys/TEST-ONLY-age-key.txt, private key in git) is one of its recipients"
    ) in err
    assert "Remove it from the file's rule in .sops.yaml" in err
    assert "sops updatekeys helm_configs/ebi/secrets.yaml" in err
    assert "sops rotate --in-place helm_configs/ebi/secrets.yaml" in err
    code, err = _run(repo, capsys, "--strict")
    assert code == 1


def test_test_key_under_tests_is_fine(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # Fixtures are meant to be opened with the test key, alone or beside another key.
    _encrypt(repo, "tests/fixtures/only.yaml", keys[0].public)
    _encrypt(repo, "tests/fixtures/both.yaml", keys[0].public, keys[1].public)
    assert _run(repo, capsys, "--strict") == (0, "")


def test_the_committed_test_key_is_known_without_its_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deleting the key file does not make the key private: it stays in git history."""
    (repo / "tests" / "keys" / "TEST-ONLY-age-key.txt").unlink()
    committed = next(
        line.split(":", 1)[1].strip()
        for line in (REPO / "tests" / "keys" / "TEST-ONLY-age-key.txt").read_text().splitlines()
        if line.startswith("# public key:")
    )
    _encrypt(repo, "helm_configs/ebi/secrets.yaml", committed)
    code, err = _run(repo, capsys, "--strict")
    assert code == 1
    assert "WARNING helm_configs/ebi/secrets.yaml: only the TEST-ONLY age key" in err


def test_a_plaintext_value_inside_an_encrypted_file_is_refused(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[1].public)
    text = re.sub(r"password: ENC\[[^\]]*\]", f"password: {SECRET}", path.read_text())
    path.write_text(text)
    code, err = _run(repo, capsys)
    assert code == 1
    assert "value(s) not encrypted at registry.password" in err


def test_a_cut_off_ciphertext_is_refused(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # Not what sops writes (it would fail to decrypt it): judged as the program judges it.
    path = _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[1].public)
    text = re.sub(r"(password: ENC\[[^\]]*)\]", r"\1", path.read_text())
    assert "password: ENC[AES256_GCM," in text
    path.write_text(text)
    code, err = _run(repo, capsys)
    assert code == 1
    assert "value(s) not encrypted at registry.password " in err


def test_unencrypted_suffix_keys_are_refused(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # sops leaves `*_unencrypted` keys in clear; on a secrets path every value is a secret.
    dest = repo / "helm_configs" / "ebi" / "secrets.yaml"
    sops_encrypt({"registry": {"password_unencrypted": SECRET}}, dest, keys[1].public)
    assert f"password_unencrypted: {SECRET}" in dest.read_text()
    code, err = _run(repo, capsys)
    assert code == 1
    assert "value(s) not encrypted at registry.password_unencrypted" in err


def test_partly_encrypted_files_are_refused(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--encrypted-regex ^username$` keeps registry.password in clear, in git."""
    rel = "helm_configs/ebi/secrets.yaml"
    dest = repo / rel
    document = {"registry": {"username": "u", "password": SECRET}}
    sops_encrypt(document, dest, keys[1].public, extra=("--encrypted-regex", "^username$"))
    assert f"password: {SECRET}" in dest.read_text()
    code, err = _run(repo, capsys)
    assert code == 1
    assert f"ERROR {rel}: value(s) not encrypted at registry.password " in err
    assert "registry.username" not in err
    assert "sops option encrypted_regex '^username$'" in err
    assert f"sops decrypt {rel} | sops encrypt --filename-override {rel}" in err


def test_null_and_empty_values_are_not_plaintext(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # sops stores them as they are; there is nothing to hide in them.
    dest = repo / "helm_configs" / "ebi" / "secrets.yaml"
    sops_encrypt({"registry": {"username": None, "password": ""}}, dest, keys[1].public)
    assert _run(repo, capsys) == (0, "")


def test_metadata_without_mac_is_refused(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[1].public)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.lstrip().startswith("mac:")))
    code, err = _run(repo, capsys)
    assert code == 1
    assert "SOPS metadata has no MAC" in err


def test_invalid_yaml_is_refused_without_quoting_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "helm_configs" / "ebi" / "secrets.yaml").write_text(f"password: [{SECRET}\n")
    code, err = _run(repo, capsys)
    assert code == 1
    assert "helm_configs/ebi/secrets.yaml: YAML syntax error at line 2, column 1" in err
    assert SECRET not in err


def test_an_alias_bomb_in_sops_yaml_stops_at_once(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sops reads aliases in .sops.yaml, so they are allowed there, but bounded."""
    (repo / ".sops.yaml").write_text(alias_bomb())
    started = time.perf_counter()
    code, err = _run(repo, capsys)
    assert time.perf_counter() - started < 2
    assert code == 1
    assert ".sops.yaml: at line" in err
    assert "expand to more than" in err


def test_only_the_named_files_are_checked(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    """As the pre-commit hook calls it: with the staged files' names."""
    bad = _plain(repo, "helm_configs/ebi/secrets.yaml")
    good = _encrypt(repo, "helm_configs/gcp/secrets.yaml", keys[1].public)
    assert _run(repo, capsys, str(good)) == (0, "")
    code, err = _run(repo, capsys, str(bad), str(good))
    assert code == 1
    assert "helm_configs/ebi/secrets.yaml: not SOPS-encrypted" in err


def test_git_listing_includes_new_files_and_skips_ignored_ones(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("*.dec.yaml\n")
    _plain(repo, "helm_configs/ebi/secrets.dec.yaml")  # ignored: never committed
    assert _run(repo, capsys) == (0, "")
    _plain(repo, "helm_configs/ebi/secrets.yaml")  # new, not yet added: still checked
    code, _ = _run(repo, capsys)
    assert code == 1


# --------------------------------------------------------------------------------------
# This repository
# --------------------------------------------------------------------------------------


def test_this_repository_passes_and_warns_about_the_examples() -> None:
    report = check(REPO)
    assert report.errors == []
    warned = sorted(w.split(":", 1)[0] for w in report.warnings)
    assert warned == [
        "helm_configs/base/secrets.example.yaml",
        "helm_configs/e2e/secrets.example.yaml",
        "helm_configs/ebi/secrets.example.yaml",
        "helm_configs/gcp/secrets.example.yaml",
    ]


def test_the_known_test_recipient_is_the_committed_key() -> None:
    assert committed_test_recipients(REPO) == {COMMITTED_TEST_RECIPIENT}
    sops_config = fast_yaml.safe_load((REPO / ".sops.yaml").read_text())
    assert sops_config["test_only_recipient"] == COMMITTED_TEST_RECIPIENT


def test_the_pre_commit_hook_refuses_a_plaintext_secret(tmp_path: Path) -> None:
    hooks = fast_yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
    hook = next(h for r in hooks if r["repo"] == "local" for h in r["hooks"])
    assert hook["id"] == "check-secrets"
    assert hook["pass_filenames"] is True
    command = [sys.executable if w == "python" else w for w in shlex.split(hook["entry"])]
    # The example files pass (with warnings); a plaintext *secret*.yaml is refused.
    ok = subprocess.run(
        [*command, "helm_configs/ebi/secrets.example.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "WARNING helm_configs/ebi/secrets.example.yaml" in ok.stderr
    plain = tmp_path / "leaked-secret.yaml"
    plain.write_text(f"password: {SECRET}\n")
    bad = subprocess.run([*command, str(plain)], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "leaked-secret.yaml: not SOPS-encrypted" in bad.stderr
    assert SECRET not in bad.stderr


def test_the_pre_commit_hook_runs_with_only_pyyaml(tmp_path: Path) -> None:
    """pre-commit runs the hook in a virtualenv of its own holding PyYAML alone."""
    hooks = fast_yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
    hook = next(h for r in hooks if r["repo"] == "local" for h in r["hooks"])
    assert hook["language"] == "python"
    assert [d.split(">")[0].split("=")[0] for d in hook["additional_dependencies"]] == ["pyyaml"]
    # Such a virtualenv, made offline: the PyYAML we run with, linked in, and nothing else.
    env_dir = tmp_path / "hook-env"
    venv.create(env_dir, with_pip=False)
    python = str(env_dir / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    installed = Path(yaml.__file__).parent.parent
    for package in ("yaml", "_yaml"):
        (Path(site) / package).symlink_to(installed / package)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    for absent in ("pulumi", "pydantic"):
        probe = subprocess.run(
            [python, "-c", f"import {absent}"], cwd=REPO, capture_output=True, text=True, env=env
        )
        assert probe.returncode == 1
        assert f"No module named '{absent}'" in probe.stderr
    command = [python if w == "python" else w for w in shlex.split(hook["entry"])]
    ok = subprocess.run(
        [*command, "helm_configs/ebi/secrets.example.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "WARNING helm_configs/ebi/secrets.example.yaml: only the TEST-ONLY age key" in ok.stderr
    plain = tmp_path / "leaked-secret.yaml"
    plain.write_text(f"password: {SECRET}\n")
    bad = subprocess.run([*command, str(plain)], cwd=REPO, capture_output=True, text=True, env=env)
    assert bad.returncode == 1, bad.stderr
    assert "leaked-secret.yaml: not SOPS-encrypted" in bad.stderr
    assert SECRET not in bad.stderr


def test_placeholder_recipients_of_an_existing_file_are_a_warning(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    """A production rule still naming `age1REPLACE-...` for a file that exists."""
    (repo / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: ^helm_configs/[^/]+/secrets\\.ya?ml$\n"
        "    age:\n"
        "      - age1REPLACE-WITH-OPERATOR-AGE-PUBLIC-KEY\n"
        "  - path_regex: .*\n"
    )
    code, err = _run(repo, capsys)
    assert (code, err) == (0, "")  # no file on that rule yet: nothing to warn about
    _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[1].public)
    code, err = _run(repo, capsys)
    assert code == 0
    assert "placeholder recipient(s) age1REPLACE-WITH-OPERATOR-AGE-PUBLIC-KEY" in err
    code, _ = _run(repo, capsys, "--strict")
    assert code == 1
    # The catch-all rule without recipients does not make every file a secrets path.
    assert not is_secrets_path("README.md", path_rules(repo))


def test_stack_option_checks_exactly_the_stack_files(
    repo: Path, keys: tuple[AgeKey, AgeKey], capsys: pytest.CaptureFixture[str]
) -> None:
    _encrypt(repo, "helm_configs/ebi/secrets.yaml", keys[0].public)  # test key only
    _encrypt(repo, "helm_configs/gcp/secrets.yaml", keys[1].public)
    (repo / "Pulumi.gcp.yaml").write_text(
        "config:\n  binder:secretsFiles:\n    - helm_configs/gcp/secrets.yaml\n"
    )
    (repo / "Pulumi.ebi.yaml").write_text(
        "config:\n  binder:secretsFiles:\n    - helm_configs/ebi/secrets.yaml\n"
    )
    (repo / "Pulumi.none.yaml").write_text("config: {}\n")
    (repo / "Pulumi.gone.yaml").write_text(
        "config:\n  binder:secretsFiles:\n    - helm_configs/gone/secrets.yaml\n"
    )
    assert _run(repo, capsys, "--strict", "--stack", "gcp") == (0, "")
    code, err = _run(repo, capsys, "--strict", "--stack", "ebi")
    assert code == 1
    assert "helm_configs/ebi/secrets.yaml: only the TEST-ONLY age key" in err
    assert _run(repo, capsys, "--strict", "--stack", "none") == (0, "")
    code, err = _run(repo, capsys, "--strict", "--stack", "gone")
    assert code == 1
    assert "lists missing secrets file(s): helm_configs/gone/secrets.yaml" in err


def test_this_repositorys_example_stacks_fail_the_strict_deploy_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the workflows run: the committed example stacks cannot pass it (fake secrets),
    the local stack (no secrets files) can."""
    for stack in ("ebi", "gcp"):
        assert main(["--strict", "--stack", stack]) == 1
    assert main(["--strict", "--stack", "local"]) == 0
    capsys.readouterr()
