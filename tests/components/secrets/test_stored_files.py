"""components/secrets/stored_files.py: the stored-file rules shared by the program and
check-secrets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.secrets import sops, stored_files
from components.secrets.stored_files import (
    has_mac,
    is_encrypted_leaf,
    is_sops_document,
    partial_options,
    plaintext_paths,
    recipients,
)
from tests.conftest import REPO
from tools import check_secrets

ENC = "ENC[AES256_GCM,data:Zm9v,iv:aXY=,tag:dGFn,type:str]"

_HEAVY = "pulumi", "pydantic", "components.config.base"


def _loaded_in_fresh_interpreter(*modules: str) -> list[str]:
    """Which of :data:`_HEAVY` a new Python has in ``sys.modules`` after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"heavy = {list(_HEAVY)!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if any(m == h or m.startswith(h + '.') for h in heavy))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_importing_it_loads_neither_pulumi_nor_pydantic() -> None:
    """The pre-commit hook's virtualenv has PyYAML only (.pre-commit-config.yaml)."""
    assert _loaded_in_fresh_interpreter("components.secrets.stored_files") == []
    assert _loaded_in_fresh_interpreter("tools.check_secrets") == []
    # The probe does see them when they are imported: components.secrets.sops needs the config.
    loaded = _loaded_in_fresh_interpreter("components.secrets.sops")
    assert {"pulumi", "pydantic", "components.config.base"} <= set(loaded)


def test_one_definition_serves_the_program_and_the_hook() -> None:
    for name in ("recipients", "plaintext_paths", "is_sops_document", "has_mac"):
        shared = getattr(stored_files, name)
        assert getattr(sops, name) is shared
        assert getattr(check_secrets, name) is shared
    assert check_secrets.partial_options is sops.partial_options is partial_options


@pytest.mark.parametrize("value", [ENC, None, ""])
def test_values_as_sops_stores_them_are_encrypted(value: object) -> None:
    assert is_encrypted_leaf(value)


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "ENC[AES256_GCM,data:Zm9v",  # cut off: not what sops writes
        "xENC[AES256_GCM,data:Zm9v]",
        0,
        42,
        True,
        False,
        1.5,
    ],
)
def test_anything_else_is_plaintext(value: object) -> None:
    # sops encrypts numbers and booleans too, as ENC[...,type:int] etc.
    assert not is_encrypted_leaf(value)


def test_plaintext_paths_name_keys_and_list_items_never_values() -> None:
    document = {
        "registry": {"username": ENC, "password": "hunter2"},
        "tokens": [ENC, "clear-token", {"inner": 7}],
        "empty": {"a": None, "b": ""},
        "sops": {"mac": "not-ENC-but-metadata", "age": [{"recipient": "age1x"}]},
    }
    assert plaintext_paths(document) == [
        "registry.password",
        "tokens[1]",
        "tokens[2].inner",
    ]


def test_a_top_level_scalar_is_named_document() -> None:
    assert plaintext_paths({"sops": {"mac": ENC}, "x": ENC}) == []
    assert plaintext_paths("just text") == ["<document>"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"sops": {"mac": ENC}, "a": ENC}, True),
        ({"sops": {}, "a": ENC}, False),
        ({"sops": "yes"}, False),
        ({"a": ENC}, False),
        (["sops"], False),
        (None, False),
    ],
)
def test_is_sops_document(document: object, expected: bool) -> None:
    assert is_sops_document(document) is expected


def test_has_mac() -> None:
    assert has_mac({"mac": ENC, "age": []})
    assert not has_mac({"age": [{"recipient": "age1x"}]})


def test_partial_options_skip_the_default_suffix_sops_always_records() -> None:
    assert partial_options({"unencrypted_suffix": "_unencrypted", "mac": ENC}) == []
    assert partial_options(
        {"unencrypted_suffix": "_plain", "encrypted_regex": "^password$", "unencrypted_regex": ""}
    ) == ["encrypted_regex '^password$'", "unencrypted_suffix '_plain'"]


def test_recipients_of_every_key_type_and_key_groups() -> None:
    metadata = {
        "kms": [{"arn": "arn:aws:kms:eu-west-1:1:key/k"}],
        "azure_kv": [{"vault_url": "https://v.vault.azure.net", "name": "sops", "version": "1"}],
        "hc_vault": [
            {"vault_address": "https://vault:8200", "engine_path": "sops", "key_name": "k1"}
        ],
        "age": [{"recipient": "age1abc"}, {"enc": "no recipient field: skipped"}, "junk"],
        "key_groups": [
            {"pgp": [{"fp": "ABCDEF"}], "gcp_kms": [{"resource_id": "projects/p/k"}]},
            "junk",
        ],
    }
    assert recipients(metadata) == [
        "age:age1abc",
        "kms:arn:aws:kms:eu-west-1:1:key/k",
        "azure_kv:https://v.vault.azure.net/keys/sops",
        "hc_vault:https://vault:8200/sops/keys/k1",
        "pgp:ABCDEF",
        "gcp_kms:projects/p/k",
    ]
    assert recipients({"mac": ENC}) == []
