"""Refuse unencrypted secrets files; warn about files only the test key can open.

Run as ``make check-secrets`` (``python -m tools.check_secrets``) and as a pre-commit hook
(.pre-commit-config.yaml), which passes the staged file names::

    python -m tools.check_secrets                 # every tracked or new (not ignored) file
    python -m tools.check_secrets FILE...         # only these files
    python -m tools.check_secrets --strict        # warnings fail too (production forks)

A file is on a *secrets path* when its path (relative to the repository root) matches a
``path_regex`` of a ``creation_rules`` entry in ``.sops.yaml``, or when its name looks like a
secrets file (``*secret*.yaml`` / ``*secret*.yml``) outside ``tests/``. Such a file must:

* be YAML/JSON with SOPS metadata (a top-level ``sops:`` mapping with a ``mac``);
* have every value encrypted (``ENC[...]``), except where its own ``sops:`` rules
  (``unencrypted_suffix``, ``encrypted_regex`` ...) leave a key in clear on purpose.

Failures exit 1. A file whose only recipient is the TEST-ONLY age key
(tests/keys/TEST-ONLY-age-key.txt, whose private key is in git) is a warning: fine for the
examples and fixtures, but a production fork must re-key it (docs/secrets.md).

Messages name files and key paths, never values.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
TEST_KEY_FILE = "tests/keys/TEST-ONLY-age-key.txt"
SOPS_CONFIG = ".sops.yaml"

#: Names that look like secrets files wherever they are (outside tests/).
SECRET_NAME_GLOBS = ("*secret*.yaml", "*secret*.yml")
#: Where secret-looking names are expected to be test data, not secrets.
NAME_CHECK_EXEMPT = ("tests/",)
#: Never walked when listing files without git.
_SKIP_DIRS = {".git", "venv", ".venv", "node_modules", ".tools", "build", "__pycache__"}

_ENC_PREFIX = "ENC["


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Which files
# --------------------------------------------------------------------------------------


def path_rules(root: Path) -> list[re.Pattern[str]]:
    """The ``path_regex`` of every creation rule in ``.sops.yaml`` (none if no such file)."""
    config = root / SOPS_CONFIG
    if not config.is_file():
        return []
    document = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    rules = (document.get("creation_rules") or []) if isinstance(document, Mapping) else []
    patterns = []
    for rule in rules:
        if isinstance(rule, Mapping) and rule.get("path_regex"):
            # sops matches with Go's regexp MatchString: a search, not a full match.
            patterns.append(re.compile(str(rule["path_regex"])))
    return patterns


def is_secrets_path(rel: str, rules: Sequence[re.Pattern[str]]) -> bool:
    """Whether the repo-relative POSIX path ``rel`` must hold only encrypted secrets."""
    if any(rule.search(rel) for rule in rules):
        return True
    if rel.startswith(NAME_CHECK_EXEMPT):
        return False
    name = PurePosixPath(rel).name.lower()
    return any(fnmatch.fnmatch(name, glob) for glob in SECRET_NAME_GLOBS)


def repo_files(root: Path) -> list[str]:
    """Tracked and new (not ignored) files, as git sees them; a directory walk without git."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        )
        names = [n for n in result.stdout.decode().split("\0") if n]
        return sorted({n for n in names if (root / n).is_file()})
    except (OSError, subprocess.CalledProcessError):
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for filename in filenames:
                found.append((Path(dirpath) / filename).relative_to(root).as_posix())
        return sorted(found)


# --------------------------------------------------------------------------------------
# Checking one file
# --------------------------------------------------------------------------------------


def committed_test_recipients(root: Path) -> set[str]:
    """Public key(s) of the committed TEST-ONLY age key (its ``# public key:`` lines)."""
    path = root / TEST_KEY_FILE
    if not path.is_file():
        return set()
    keys = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# public key:"):
            keys.add(line.split(":", 1)[1].strip())
    return keys


def _recipients(metadata: Mapping[str, Any]) -> set[str]:
    # The same reading as components.sops.recipients, kept local so the hook needs only PyYAML.
    fields = {
        "age": "recipient",
        "pgp": "fp",
        "kms": "arn",
        "gcp_kms": "resource_id",
        "azure_kv": "vault_url",
        "hc_vault": "vault_address",
    }
    groups: list[Mapping[str, Any]] = [metadata]
    groups += [g for g in metadata.get("key_groups") or [] if isinstance(g, Mapping)]
    found = set()
    for group in groups:
        for kind, key in fields.items():
            for entry in group.get(kind) or []:
                if isinstance(entry, Mapping) and entry.get(key):
                    found.add(f"{kind}:{entry[key]}")
    return found


def _encrypted_leaf(node: Any) -> bool:
    # sops leaves null and "" as they are; every other value becomes ENC[...].
    return node is None or node == "" or (isinstance(node, str) and node.startswith(_ENC_PREFIX))


def _plaintext_paths(document: Mapping[str, Any], metadata: Mapping[str, Any]) -> Iterator[str]:
    """Key paths of values that sops' own rules say must be encrypted, but are not."""
    unencrypted_suffix = metadata.get("unencrypted_suffix")
    encrypted_suffix = metadata.get("encrypted_suffix")
    unencrypted_regex = metadata.get("unencrypted_regex")
    encrypted_regex = metadata.get("encrypted_regex")
    # sops' default when no rule is recorded: everything but `*_unencrypted` keys.
    if not any((unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex)):
        unencrypted_suffix = "_unencrypted"
    start_encrypted = not (encrypted_suffix or encrypted_regex)

    def child_flag(key: str, encrypt: bool) -> bool:
        if unencrypted_suffix and key.endswith(unencrypted_suffix):
            return False
        if unencrypted_regex and re.search(unencrypted_regex, key):
            return False
        if encrypted_suffix and key.endswith(encrypted_suffix):
            return True
        if encrypted_regex and re.search(encrypted_regex, key):
            return True
        return encrypt

    def walk(node: Any, path: str, encrypt: bool) -> Iterator[str]:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not path and key == "sops":
                    continue
                yield from walk(
                    value, f"{path}.{key}" if path else str(key), child_flag(str(key), encrypt)
                )
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{path}[{index}]", encrypt)
        elif encrypt and not _encrypted_leaf(node):
            yield path or "<document>"

    yield from walk(document, "", start_encrypted)


def check_file(root: Path, rel: str, test_keys: set[str], report: Report) -> None:
    """Check one secrets-path file; add its problems to ``report``."""
    path = root / rel
    fix = f"encrypt it with `sops --encrypt --in-place {rel}` (docs/secrets.md)"
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "sops_mac" not in text and "ENC[AES256_GCM" not in text:
            report.errors.append(f"{rel}: not SOPS-encrypted; {fix}")
        return
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        # The parser's message quotes a line of the file: not shown.
        report.errors.append(f"{rel}: not valid YAML, so not a SOPS file; {fix}")
        return
    metadata = document.get("sops") if isinstance(document, Mapping) else None
    if not isinstance(metadata, Mapping) or not metadata:
        report.errors.append(f"{rel}: not SOPS-encrypted (no top-level `sops:` metadata); {fix}")
        return
    assert isinstance(document, Mapping)
    if "mac" not in metadata:
        report.errors.append(
            f"{rel}: SOPS metadata has no MAC (edited by hand?); re-create it with `sops {rel}`"
        )
    plain = list(_plaintext_paths(document, metadata))
    if plain:
        report.errors.append(
            f"{rel}: value(s) not encrypted at {', '.join(plain)}; edit the file only with "
            f"`sops {rel}`, which encrypts them, and rotate those secrets"
        )
    recipients = _recipients(metadata)
    if recipients and test_keys and recipients <= {f"age:{k}" for k in test_keys}:
        report.warnings.append(
            f"{rel}: only the TEST-ONLY age key ({TEST_KEY_FILE}, private key in git) can "
            "open it. Fine for examples and fixtures; before it holds a real secret, put your "
            f"recipients in {SOPS_CONFIG} and run `sops updatekeys {rel}` (docs/secrets.md)"
        )
    elif not recipients:
        report.errors.append(f"{rel}: SOPS metadata lists no recipient; re-create it with sops")


def check(root: Path, files: Iterable[str] | None = None) -> Report:
    """Check ``files`` (repo-relative or absolute; default: all files of the repo)."""
    root = root.resolve()
    rules = path_rules(root)
    test_keys = committed_test_recipients(root)
    report = Report()
    if files is None:
        candidates = repo_files(root)
    else:
        candidates = []
        for name in files:
            absolute = Path(name) if Path(name).is_absolute() else Path.cwd() / name
            try:
                rel = absolute.resolve().relative_to(root).as_posix()
            except ValueError:
                rel = Path(name).as_posix()  # outside the repo: judge the name as given
                absolute = Path(name)
            if absolute.is_file():
                candidates.append(rel)
    for rel in candidates:
        if is_secrets_path(rel, rules):
            check_file(root, rel, test_keys, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.check_secrets", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("files", nargs="*", help="files to check (default: the whole repo)")
    parser.add_argument(
        "--strict", action="store_true", help="fail on warnings too (test-key-only files)"
    )
    parser.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    report = check(args.root, args.files or None)
    for warning in report.warnings:
        print(f"WARNING {warning}", file=sys.stderr)
    for error in report.errors:
        print(f"ERROR {error}", file=sys.stderr)
    if report.errors or (args.strict and report.warnings):
        print(
            f"check-secrets: {len(report.errors)} error(s), {len(report.warnings)} warning(s)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
