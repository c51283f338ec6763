"""tests/stack_runs.py: one run per stack and environment, a copy for every caller."""

from __future__ import annotations

import pytest

from tests import stack_runs
from tools.mockrun import Recording


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []

    def run_stack(stack: str) -> Recording:
        made.append(stack)
        return Recording()

    monkeypatch.setattr(stack_runs, "run_stack", run_stack)
    monkeypatch.setattr(stack_runs, "_RUNS", {})
    return made


def test_one_run_across_tests_whatever_pytest_sets_per_test(
    runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = stack_runs.recorded_stack("local")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_other.py::test_next (setup)")
    second = stack_runs.recorded_stack("local")
    assert runs == ["local"]
    assert first is not second  # each caller gets its own copy


def test_a_changed_environment_or_stack_is_a_new_run(
    runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_runs.recorded_stack("local")
    stack_runs.recorded_stack("gcp")
    monkeypatch.setenv("BINDER_SOMETHING_A_TEST_SETS", "1")
    stack_runs.recorded_stack("local")
    assert runs == ["local", "gcp", "local"]
