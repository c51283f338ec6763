"""components/config/yaml_input.py: one line per YAML mistake, and hostile YAML refused at once."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import yaml_input
from components.config.yaml_input import (
    YamlInputError,
    load_yaml,
    read_stack_config,
    read_yaml_file,
)
from tests.hostile import DEEP_NESTING, alias_bomb

#: A hostile input must be refused within this many seconds (issue 12: "a second or two").
QUICK = 2.0


def _refused(data: str | bytes, **kwargs: object) -> str:
    started = time.perf_counter()
    with pytest.raises(YamlInputError) as info:
        load_yaml(data, "Pulumi.ebi.yaml", **kwargs)  # type: ignore[arg-type]
    assert time.perf_counter() - started < QUICK
    message = str(info.value)
    assert message.startswith("Pulumi.ebi.yaml: "), message
    assert "\n" not in message, "one line"
    assert "Traceback" not in message
    return message


# ---- the most common mistakes: where, what the parser expected, and a hint ------------


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        pytest.param(
            "config:\n  binder:cluster:\n    provider: gke\n   name: x\n",
            "line 4, column 4",
            ["expected the end of the indented block", "align it with its siblings"],
            id="mis-indented-key",
        ),
        pytest.param(
            "config:\n  binder:x: a: b\n", "line 2, column 14",
            ["mapping values are not allowed here", "quote a value"], id="colon-in-value",
        ),
        pytest.param(
            "a:\n\tb: 1\n", "line 2, column 1", ["'\\t'", "not tabs"], id="tab-indent",
        ),
        pytest.param(
            "a: [1, 2\n", "line 2, column 1",
            ["expected ',' or ']'", "the end of the file", "'[' is not closed"], id="open-list",
        ),
        pytest.param(
            "a: 'x\n", "line 2, column 1", ["a quote is not closed"], id="open-quote",
        ),
        pytest.param(
            "a: 1\n---\nb: 2\n", "line 2, column 1", ["remove the '---' line"],
            id="two-documents",
        ),
        pytest.param(
            "a: !vault x\n", "line 1, column 4", ["remove the tag"], id="unknown-tag",
        ),
        pytest.param(
            "a: 1\nb: 2\na: 3\n", "line 3, column 1",
            ["the key 'a' appears twice", "first at line 1"], id="duplicate-key",
        ),
    ],
)
def test_a_syntax_error_is_one_line_with_place_and_expectation(
    text: str, where: str, words: list[str]
) -> None:
    message = _refused(text)
    assert f"at {where}:" in message
    for word in words:
        assert word in message, message
    assert "<block" not in message, "PyYAML token names"
    assert "<stream" not in message, "PyYAML token names"


def test_pyyaml_alone_prints_a_traceback_of_its_internals() -> None:
    """What users saw before (issue 13): PyYAML's message has no file name and its token
    names; ours replaces it."""
    with pytest.raises(yaml.YAMLError) as info:
        yaml.safe_load("a:\n  b: 1\n c: 2\n")
    assert "<block end>" in str(info.value)
    assert "Pulumi" not in str(info.value)


# ---- hostile input ---------------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_once() -> None:
    message = _refused(alias_bomb())
    assert "line 2, column" in message
    assert "an alias (*l0) is not accepted" in message


def test_aliases_and_merge_keys_are_refused() -> None:
    assert "alias (*base)" in _refused("base: &base {a: 1}\nother:\n  <<: *base\n")


def test_aliases_can_be_allowed_within_a_bound() -> None:
    text = "keys: &k [age1a, age1b]\nrules:\n- keys: *k\n- keys: *k\n"
    assert load_yaml(text, ".sops.yaml", alias_nodes=100)["rules"][1]["keys"] == [
        "age1a",
        "age1b",
    ]
    message = _refused(alias_bomb(), alias_nodes=10_000)
    assert "expand to more than 10000 nodes" in message


def test_deep_nesting_is_refused_without_a_recursion_error() -> None:
    message = _refused(DEEP_NESTING)
    assert f"nested more than {yaml_input.MAX_DEPTH} levels deep" in message


def test_a_number_too_long_for_python_is_refused_with_its_place() -> None:
    """Issue 20: `int()` refuses more than 4300 decimal digits with a ValueError, which
    escaped the YAML error handling as a traceback."""
    message = _refused("binder:cluster:\n  nodeCount: " + "9" * 4301 + "\n")
    assert "line 2, column 14" in message
    assert "4301 characters" in message
    assert "9999" not in message
    assert load_yaml("n: " + "9" * 4300, "x")["n"] == int("9" * 4300)


def test_text_that_is_not_utf8_is_refused_with_its_place() -> None:
    message = _refused(b"a: 1\nname: caf\xe9\n")
    assert "not UTF-8 text (the byte at line 2, column 10" in message
    assert "save the file as UTF-8" in message


def test_a_control_character_is_refused_with_its_place() -> None:
    message = _refused("a: 1\nb: x\x07\n")
    assert "character #x0007 at line 2, column 5" in message


def test_oversized_input_is_refused_naming_the_cap() -> None:
    message = _refused("a: " + "x" * 2048 + "\n", max_bytes=1024)
    assert "larger than the cap of 1 KiB" in message
    big = "a: " + "x" * (yaml_input.MAX_BYTES + 1)
    assert "cap of 1 MiB" in _refused(big)


def test_secret_text_is_never_quoted(tmp_path: Path) -> None:
    """In a secrets file the parser's quoted characters may be part of a value."""
    for text, quoted in (("password: !hunter2 x\n", "'!hunter2'"), ('pw: "s3\\q"\n', "'q'")):
        message = _refused(text, secret=True)
        assert quoted not in message
        assert "'…'" in message
        assert quoted in _refused(text)  # what secret=True leaves out


def test_read_yaml_file_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # reading it would block for ever
    for path, words in (
        (fifo, "is not a regular file"),
        (tmp_path, "is not a regular file"),
        (tmp_path / "absent.yaml", "does not exist"),
        (Path("/dev/zero"), "is not a regular file"),  # would never end
    ):
        started = time.perf_counter()
        with pytest.raises(YamlInputError, match=words) as info:
            read_yaml_file(path)
        assert str(path) in str(info.value)
        assert time.perf_counter() - started < QUICK


def test_read_yaml_file_reads_no_more_than_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "values.yaml"
    big.write_bytes(b"a: " + b"x" * 4096)
    with pytest.raises(YamlInputError, match=r"values\.yaml: larger than the cap of 1 KiB"):
        read_yaml_file(big, max_bytes=1024)


def test_the_error_type_is_the_callers(tmp_path: Path) -> None:
    class Mine(Exception):
        pass

    with pytest.raises(Mine, match=r"f\.yaml: YAML syntax error"):
        load_yaml("a: [", "f.yaml", error=Mine)


def test_read_stack_config(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text("config:\n  binder:cluster: {provider: existing}\n")
    assert read_stack_config(path) == {"binder:cluster": {"provider": "existing"}}
    path.write_text("config: [a, b]\n")
    with pytest.raises(YamlInputError, match=r"Pulumi\.site\.yaml: `config:` must be a mapping"):
        read_stack_config(path)
    path.write_text("encryptionsalt: x\n")
    assert read_stack_config(path) == {}


def test_valid_yaml_reads_as_pyyaml_reads_it() -> None:
    text = (Path(__file__).resolve().parents[3] / "Pulumi.ebi.yaml").read_text()
    assert load_yaml(text, "Pulumi.ebi.yaml") == yaml.safe_load(text)


# ---- two loaders: libyaml reads, PyYAML's own parser words every error ---------------------

REPO = Path(__file__).resolve().parents[3]


def _every_yaml_file() -> list[Path]:
    """Every YAML file of the repo: stack files, values files (plain and SOPS-encrypted),
    workflows, test fixtures. (The charts' own files are read by Helm, not by this module.)"""
    return sorted(
        p for p in REPO.rglob("*.y*ml")
        if not {"venv", "node_modules", "build", ".git"} & set(p.relative_to(REPO).parts)
    )


def test_the_fast_loader_reads_every_file_exactly_as_the_pure_one() -> None:
    assert yaml_input.FAST, "PyYAML here is built with libyaml (the locked wheels are)"
    files = _every_yaml_file()
    assert len(files) > 20, files
    for path in files:
        text = path.read_text(encoding="utf-8")

        def outcome(kind: type, text: str = text) -> tuple[str, Any]:
            try:
                return "read", yaml_input._parse(kind, text, 10_000)
            except yaml.YAMLError:
                return "refused", None

        pure = outcome(yaml_input._StrictLoader)
        assert outcome(yaml_input._FastStrictLoader) == pure, path


def test_valid_text_never_reaches_the_pure_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*_: object) -> None:
        raise AssertionError("the pure-Python loader ran for valid text")

    monkeypatch.setattr(yaml_input._StrictLoader, "__init__", slow)
    text = (REPO / "Pulumi.gcp.yaml").read_text()
    assert load_yaml(text, "Pulumi.gcp.yaml") == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(alias_bomb(), id="alias-bomb"),
        pytest.param("[" * 100 + "]" * 100, id="deep"),
        pytest.param("a: 1\na: 2\n", id="duplicate-key"),
    ],
)
def test_the_fast_loader_refuses_hostile_input_itself(text: str) -> None:
    """The checks run on libyaml's events too, so hostile text never gets as far as the
    pure-Python reading (which would refuse it as well, only later)."""
    with pytest.raises(yaml_input._Refused) as fast:
        yaml_input._parse(yaml_input._FastStrictLoader, text, 0)
    with pytest.raises(yaml_input._Refused) as pure:
        yaml_input._parse(yaml_input._StrictLoader, text, 0)
    assert str(fast.value.problem) == str(pure.value.problem)
    fast_mark, pure_mark = fast.value.problem_mark, pure.value.problem_mark
    assert fast_mark is not None
    assert pure_mark is not None
    assert (fast_mark.line, fast_mark.column) == (pure_mark.line, pure_mark.column)


def test_libyaml_stops_deeper_nesting_itself() -> None:
    """Past 1,000 levels libyaml's scanner refuses before our composer sees the events; the
    message is then PyYAML's reading, refused by MAX_DEPTH (test above)."""
    with pytest.raises(yaml.YAMLError, match="maximum nesting depth"):
        yaml_input._parse(yaml_input._FastStrictLoader, DEEP_NESTING, 0)


def test_a_file_libyaml_refuses_is_worded_by_pyyaml() -> None:
    """libyaml would say "did not find expected key"; the message keeps PyYAML's words, which
    the hints explain."""
    with pytest.raises(yaml.YAMLError, match="did not find expected key"):
        yaml.load("config:\n  a:\n    b: 1\n   c: 2\n", Loader=yaml.CSafeLoader)
    message = _refused("config:\n  a:\n    b: 1\n   c: 2\n")
    assert "expected the end of the indented block" in message
