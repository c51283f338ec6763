"""A committed stack's whole-program run, shared by the tests that only read it.

A dozen modules each ran ``run_stack(<stack>)`` for their fixtures: the same program, the
same stack file and the same environment, so the same recording, several seconds of the
suite. :func:`recorded_stack` runs each stack once per test process and hands every caller a
deep copy, so no test sees another's changes. The cache key holds the environment and the
stack file's bytes: a test that changed either (a monkeypatched variable, a rewritten file)
gets a fresh run. (The key leaves out ``PYTEST_CURRENT_TEST``, which pytest changes for every
test and the program never reads.) Tests that exercise the run itself (a patched function,
an expected error) call ``run_stack`` directly.
"""

from __future__ import annotations

import copy
import os

from tools.mockrun import REPO, Recording, run_stack

_RUNS: dict[tuple[object, ...], Recording] = {}

#: Set by pytest for each test in turn: in the key, it made every test's call a new run.
_PER_TEST = {"PYTEST_CURRENT_TEST"}


def recorded_stack(stack: str) -> Recording:
    key = (
        stack,
        (REPO / f"Pulumi.{stack}.yaml").read_bytes(),
        tuple(sorted((k, v) for k, v in os.environ.items() if k not in _PER_TEST)),
    )
    if key not in _RUNS:
        _RUNS[key] = run_stack(stack)
    return copy.deepcopy(_RUNS[key])
