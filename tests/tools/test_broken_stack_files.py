"""tools/smoke.py reads Pulumi.<stack>.yaml for its fallback URLs: a broken file is one line."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from tests.hostile import alias_bomb
from tools import smoke


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "config:\n  binder:binderhub:\n    host: a\n   hubHost: b\n",
            "YAML syntax error at line 4",
        ),
        (alias_bomb(), "at line 2, column"),
    ],
    ids=["mis-indented", "alias-bomb"],
)
def test_smoke_names_the_broken_stack_file(
    text: str,
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "Pulumi.broken.yaml").write_text(text)
    monkeypatch.setattr(smoke, "REPO", tmp_path)
    monkeypatch.setattr(smoke, "pulumi_outputs", lambda stack: ({}, "no outputs here"))
    started = time.perf_counter()
    code = smoke.main(["broken", "--allow-stack-file-fallback"], out=io.StringIO())
    assert time.perf_counter() - started < 2
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Pulumi.broken.yaml: {words}"), err
    assert err.count("\n") == 1
