"""Refuse unencrypted secrets files; warn about files the test key can open.

Run as ``make check-secrets`` (``python -m tools.check_secrets``) and as a pre-commit hook
(.pre-commit-config.yaml), which passes the staged file names::

    python -m tools.check_secrets                 # every tracked or new (not ignored) file
    python -m tools.check_secrets FILE...         # only these files
    python -m tools.check_secrets --strict        # warnings fail too (production forks)

A file is on a *secrets path* when its path (relative to the repository root) matches a
``path_regex`` of a ``creation_rules`` entry in ``.sops.yaml``, or when its name looks like a
secrets file (``*secret*.yaml`` / ``*secret*.yml``) outside ``tests/``. Such a file must:

* be YAML/JSON with SOPS metadata (a top-level ``sops:`` mapping with a ``mac``);
* have every value encrypted (``ENC[...]``; sops stores null and ``""`` as they are). Every
  key of a secrets document is a secret, so sops options that leave values in clear on
  purpose (``--encrypted-regex``, ``*_unencrypted`` keys ...) fail as well.

Failures exit 1. A file outside ``tests/`` that the TEST-ONLY age key
(tests/keys/TEST-ONLY-age-key.txt, whose private key is in git) can open -- alone or beside
other recipients -- is a warning: fine for the example files' fake values, but a production
fork must remove that recipient and rotate the data key (docs/secrets.md); ``--strict`` makes
it an error.

Messages name files and key paths, never values.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

# Stdlib only (no pulumi, pydantic or components.config): the pre-commit hook's virtualenv
# has PyYAML alone. `python -m` from the repository root puts `components` on sys.path.
from components.config.yaml_input import YamlInputError, read_stack_config, read_yaml_file
from components.secrets.stored_files import (
    SECRETS_MAX_BYTES,
    TEST_ONLY_RECIPIENT,
    has_mac,
    is_sops_document,
    partial_options,
    plaintext_paths,
    recipients,
)

REPO = Path(__file__).resolve().parent.parent
TEST_KEY_FILE = "tests/keys/TEST-ONLY-age-key.txt"
SOPS_CONFIG = ".sops.yaml"
#: How many nodes the aliases of .sops.yaml may add (each recipient list is a few nodes).
SOPS_CONFIG_ALIAS_NODES = 10_000

#: Names that look like secrets files wherever they are (outside tests/).
SECRET_NAME_GLOBS = ("*secret*.yaml", "*secret*.yml")
#: Where secret-looking names are expected to be test data, not secrets; files here may
#: also be encrypted to the TEST-ONLY key.
NAME_CHECK_EXEMPT = ("tests/",)
#: Public key of the TEST-ONLY age key committed in this repository. Known here as well, so
#: that deleting the key file does not silence the warning: its private key stays readable
#: in git history.
COMMITTED_TEST_RECIPIENT = TEST_ONLY_RECIPIENT
#: Recipient keys of a .sops.yaml creation rule (https://getsops.io/docs/).
RECIPIENT_KEYS = ("age", "pgp", "gcp_kms", "kms", "azure_keyvault", "hc_vault_transit_uri")
#: How the committed .sops.yaml marks a recipient to replace (``age1REPLACE-WITH-...``).
PLACEHOLDER = re.compile(r"REPLACE", re.IGNORECASE)
#: Never walked when listing files without git.
_SKIP_DIRS = {".git", "venv", ".venv", "node_modules", ".tools", "build", "__pycache__"}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Which files
# --------------------------------------------------------------------------------------


def _read_sops_config(config: Path) -> Any:
    """``.sops.yaml``, parsed. A syntax error is a YamlInputError naming it, line and column
    (main prints it). sops reads .sops.yaml with aliases (`- *test_only`), so they are allowed
    here, within a bound that an alias bomb passes at once."""
    return read_yaml_file(config, SOPS_CONFIG, alias_nodes=SOPS_CONFIG_ALIAS_NODES) or {}


def path_rules(root: Path) -> list[re.Pattern[str]]:
    """The ``path_regex`` of every creation rule in ``.sops.yaml`` (none if no such file)."""
    config = root / SOPS_CONFIG
    if not config.is_file():
        return []
    document = _read_sops_config(config)
    rules = (document.get("creation_rules") or []) if isinstance(document, Mapping) else []
    patterns = []
    for rule in rules:
        # A rule without recipients (the catch-all at the end) makes sops refuse the path: it
        # does not make the path a secrets file.
        if isinstance(rule, Mapping) and rule.get("path_regex") and _has_recipients(rule):
            # sops matches with Go's regexp MatchString: a search, not a full match.
            patterns.append(re.compile(str(rule["path_regex"])))
    return patterns


def placeholder_rules(root: Path) -> list[tuple[re.Pattern[str], list[str]]]:
    """``(path_regex, placeholders)`` of each ``.sops.yaml`` rule that still names a
    placeholder recipient (``age1REPLACE-...``), in rule order."""
    config = root / SOPS_CONFIG
    if not config.is_file():
        return []
    document = _read_sops_config(config)
    rules = (document.get("creation_rules") or []) if isinstance(document, Mapping) else []
    found = []
    for rule in rules:
        if not (isinstance(rule, Mapping) and rule.get("path_regex")):
            continue
        named = []
        for kind in RECIPIENT_KEYS:
            value = rule.get(kind) or []
            entries = value if isinstance(value, list) else str(value).split(",")
            named += [str(e).strip() for e in entries if PLACEHOLDER.search(str(e))]
        found.append((re.compile(str(rule["path_regex"])), named))
    return found


def placeholder_recipients(
    rel: str, rules: Sequence[tuple[re.Pattern[str], list[str]]]
) -> list[str]:
    """Placeholder recipients of the first rule that matches ``rel`` (sops uses that one)."""
    for pattern, named in rules:
        if pattern.search(rel):
            return named
    return []


def _has_recipients(rule: Mapping[str, object]) -> bool:
    return any(rule.get(kind) for kind in RECIPIENT_KEYS) or bool(rule.get("key_groups"))


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
    """Public key(s) of the committed TEST-ONLY age key: its ``# public key:`` lines, and
    :data:`COMMITTED_TEST_RECIPIENT`."""
    keys = {COMMITTED_TEST_RECIPIENT}
    path = root / TEST_KEY_FILE
    if not path.is_file():
        return keys
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# public key:"):
            keys.add(line.split(":", 1)[1].strip())
    return keys


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
        # secret=True: the message quotes no character of the file (it may be plaintext).
        document = read_yaml_file(path, rel, secret=True, max_bytes=SECRETS_MAX_BYTES)
    except YamlInputError as exc:
        report.errors.append(f"{exc}; so not a SOPS file: {fix}")
        return
    if not is_sops_document(document):
        report.errors.append(f"{rel}: not SOPS-encrypted (no top-level `sops:` metadata); {fix}")
        return
    metadata = document["sops"]
    if not has_mac(metadata):
        report.errors.append(
            f"{rel}: SOPS metadata has no MAC (edited by hand?); re-create it with `sops {rel}`"
        )
    plain = plaintext_paths(document)
    if plain:
        options = partial_options(metadata)
        if options:
            fix = (
                f"it was encrypted with the sops option {' and '.join(options)}: remove it "
                f"from the file's rule in {SOPS_CONFIG} (or the command line) and re-encrypt "
                f"every value with `sops decrypt {rel} | sops encrypt --filename-override "
                f"{rel} > {rel}.new && mv {rel}.new {rel}`"
            )
        else:
            fix = f"edit the file only with `sops {rel}`, which encrypts every value"
        report.errors.append(
            f"{rel}: value(s) not encrypted at {', '.join(plain)} (every value of a secrets "
            f"file is a secret); {fix}; and rotate those secrets"
        )
    found = set(recipients(metadata))
    test_recipients = {f"age:{k}" for k in test_keys}
    if not found:
        report.errors.append(f"{rel}: SOPS metadata lists no recipient; re-create it with sops")
    elif found & test_recipients and not rel.startswith(NAME_CHECK_EXEMPT):
        # Whoever has the repository has the test key's private key, so the file is as good
        # as public, even when other recipients can open it too.
        rekey = (
            f"run `sops updatekeys {rel}` and then `sops rotate --in-place {rel}` (a new data "
            "key: the old one stays readable with the test key in git history)"
        )
        if found <= test_recipients:
            report.warnings.append(
                f"{rel}: only the TEST-ONLY age key ({TEST_KEY_FILE}, private key in git) can "
                "open it, and the program refuses to deploy it. Fine for the examples' fake "
                "values (*.example.yaml); real secrets go in a new file made with `sops` for "
                f"your recipients (the placeholders in {SOPS_CONFIG}; docs/secrets.md)"
            )
        else:
            report.warnings.append(
                f"{rel}: the TEST-ONLY age key ({TEST_KEY_FILE}, private key in git) is one "
                "of its recipients, so anyone with the repository can open it. Remove it "
                f"from the file's rule in {SOPS_CONFIG}, {rekey}, and change every secret "
                "in the file (docs/secrets.md)"
            )


def check(root: Path, files: Iterable[str] | None = None) -> Report:
    """Check ``files`` (repo-relative or absolute; default: all files of the repo)."""
    root = root.resolve()
    rules = path_rules(root)
    placeholders = placeholder_rules(root)
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
            named = placeholder_recipients(rel, placeholders)
            if named:
                report.warnings.append(
                    f"{rel}: its rule in {SOPS_CONFIG} still names placeholder recipient(s) "
                    f"{', '.join(named)}; put your operators' keys there, then `sops "
                    f"updatekeys {rel}` (docs/secrets.md)"
                )
    return report


def stack_secrets_files(root: Path, stack: str) -> list[str]:
    """``binder:secretsFiles`` of ``Pulumi.<stack>.yaml`` (repo-relative paths)."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise SystemExit(f"check-secrets: {path.name} does not exist (no stack '{stack}')")
    config = read_stack_config(path, error=lambda message: SystemExit(f"check-secrets: {message}"))
    files = config.get("binder:secretsFiles") or []
    if not isinstance(files, list):
        raise SystemExit(f"check-secrets: {path.name}: binder:secretsFiles must be a list")
    return [str(f) for f in files]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.check_secrets", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("files", nargs="*", help="files to check (default: the whole repo)")
    parser.add_argument(
        "--strict", action="store_true", help="fail on warnings too (files the test key opens)"
    )
    parser.add_argument(
        "--stack",
        help="check the files of this stack's binder:secretsFiles (what a deploy decrypts)",
    )
    parser.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    files = list(args.files)
    if args.stack:
        listed = stack_secrets_files(args.root, args.stack)
        missing = [f for f in listed if not (args.root / f).is_file()]
        if missing:
            print(
                f"ERROR Pulumi.{args.stack}.yaml lists missing secrets file(s): "
                f"{', '.join(missing)}",
                file=sys.stderr,
            )
            return 1
        files += [str(args.root / f) for f in listed]
    try:
        report = check(args.root, files if (files or args.stack) else None)
    except YamlInputError as exc:  # .sops.yaml itself
        print(f"ERROR {exc}", file=sys.stderr)
        return 1
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
