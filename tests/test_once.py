"""tests/once.py: one result per test run, shared by the workers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests import once


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(once, "_shared", tmp_path)
    return tmp_path


def test_in_one_process_it_just_produces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(once, "_shared", None)
    calls: list[int] = []

    def produce() -> int:
        calls.append(1)
        return len(calls)

    assert once.once_per_run("x", produce) == 1
    assert once.once_per_run("x", produce) == 2


def test_the_second_caller_reads_the_first_ones_result(shared: Path) -> None:
    calls: list[str] = []

    def produce() -> dict[str, list[int]]:
        calls.append("made")
        return {"a": [1, 2]}

    assert once.once_per_run("x", produce) == {"a": [1, 2]}
    assert once.once_per_run("x", produce) == {"a": [1, 2]}
    assert calls == ["made"]
    assert once.once_per_run("y", lambda: "other") == "other"  # one result per name


def test_a_caller_waits_for_the_one_producing(shared: Path) -> None:
    started = threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append("slow")
        started.set()
        time.sleep(0.3)
        return "first"

    first = threading.Thread(target=lambda: once.once_per_run("x", slow))
    first.start()
    started.wait(5)
    def second() -> str:
        calls.append("second")
        return "second"

    assert once.once_per_run("x", second) == "first"
    first.join()
    assert calls == ["slow"]


def test_a_failed_producer_leaves_nothing_behind(shared: Path) -> None:
    def fail() -> str:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        once.once_per_run("x", fail)
    assert once.once_per_run("x", lambda: "made") == "made"
