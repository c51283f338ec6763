"""No event-loop noise after a successful run (issue 13, item 3).

The SDK's mock monitor gives every worker thread an event loop and never closes it. Left to
the garbage collector at interpreter shutdown, a loop's self-pipe socket may be finalised
before the loop, whose ``__del__`` then prints "Exception ignored in: BaseEventLoop.__del__
... ValueError: Invalid file descriptor: -1" after a successful ``make render``, depending on
the collector's order. tools/mockrun.py closes those loops once the program has finished
(and the program's own loop at exit). The first two tests check that invariant exactly; the
last one runs the real render several times and wants a silent stderr.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_kubernetes.core.v1 import ConfigMap

from tools import mockrun

REPO = Path(__file__).resolve().parents[2]


def _program() -> None:
    # Enough registrations that several of the engine's worker threads serve them.
    for i in range(40):
        ConfigMap(f"cm-{i}", data={"i": str(i)})
    pulumi.export("n", 40)


def test_worker_thread_loops_are_closed_after_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[asyncio.AbstractEventLoop, bool]] = []
    original = asyncio.new_event_loop

    def recording_new_event_loop() -> asyncio.AbstractEventLoop:
        loop = original()
        made.append((loop, threading.current_thread() is threading.main_thread()))
        return loop

    monkeypatch.setattr(asyncio, "new_event_loop", recording_new_event_loop)
    for _ in range(2):  # a second run in the same process still works (the tests do this)
        made.clear()
        recording = mockrun.run_program(_program)
        assert len(recording.of_type("kubernetes:core/v1:ConfigMap")) == 40
        workers = [loop for loop, on_main in made if not on_main]
        assert workers, "no worker-thread loop was made: the test no longer covers the fix"
        assert all(loop.is_closed() for loop in workers)


_CHILD = """
import asyncio, gc, sys
import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap
from tools import mockrun

def program():
    for i in range(40):
        ConfigMap(f"cm-{i}", data={"i": str(i)})

mockrun.run_program(program)
# What atexit runs before the interpreter tears down (absent before the fix).
getattr(mockrun, '_close_program_loops', lambda: None)()
gc.collect()
open_loops = [o for o in gc.get_objects()
              if isinstance(o, asyncio.BaseEventLoop) and not o.is_closed()]
print(len(open_loops))
"""


def test_nothing_is_left_open_for_interpreter_teardown() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=REPO, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", out.stdout + out.stderr
    assert out.stderr == ""


#: Before the fix, 2 to 3 in 15 `gcp` renders ended with the noise (issue 13, and 2 in 12
#: here at the time; on a later day, 15 fresh renders of the commit before the fix, and 12
#: fresh and 12 forked ones with the fix patched out, showed it none: how often it shows
#: depends on the machine). The two tests
#: above catch its cause every time; this one wants a silent stderr from whole renders, each
#: ending in its own interpreter teardown (tests/forked_renders.py): every stack once, and
#: gcp, where it showed most, twice: four teardowns after a whole render, as many as the
#: fresh interpreters this test and the install test ran before.


def test_render_many_times_has_a_clean_stderr(forked_renders: list[dict[str, Any]]) -> None:
    assert Counter(r["stack"] for r in forked_renders)["gcp"] >= 2
    for result in forked_renders:
        assert result["returncode"] == 0, result["stderr"]
        assert f"Offline plan of stack '{result['stack']}'" in result["stdout"]
    noisy = [f"{r['stack']}: {r['stderr']}" for r in forked_renders if r["stderr"]]
    assert noisy == [], f"{len(noisy)} of {len(forked_renders)} renders wrote to stderr: {noisy}"
