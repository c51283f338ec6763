"""Work that every pytest-xdist worker would otherwise repeat, done once per run.

A session fixture or a cached helper runs once per worker process. For results that cost
seconds of CPU and are only read, :func:`once_per_run` makes the first worker that needs them
produce them and the others wait for and read its result (a pickle under the run's shared
temporary folder, behind an ``flock``): the recipe of pytest-xdist's docs,
https://pytest-xdist.readthedocs.io/en/stable/how-to.html#making-session-scoped-fixtures-execute-only-once.
(Grouping the tests on one worker with ``--dist loadgroup`` would do it too, but with pytest
9.2 that silently stops grouping: https://github.com/pytest-dev/pytest-xdist/issues/1386.)

The files are written and read by this run's own workers only, in pytest's temporary folder
(mode 0700), so unpickling them trusts nothing from outside the run.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

#: The folder every worker of this run shares; None in a single process.
_shared: Path | None = None


def share_between_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Called once per process by tests/conftest.py, before any test."""
    global _shared
    if "PYTEST_XDIST_WORKER" in os.environ:
        # Each worker's basetemp is <run folder>/popen-gwN; the run folder is theirs alone.
        _shared = tmp_path_factory.getbasetemp().parent


def once_per_run(name: str, produce: Callable[[], T]) -> T:
    """``produce()``'s result, computed by one process of this pytest run."""
    if _shared is None:
        return produce()  # one process: nothing to share
    path = _shared / f"once-{name}.pickle"
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            result: T = pickle.loads(path.read_bytes())  # noqa: S301 (our own, see above)
            return result
        result = produce()
        path.write_bytes(pickle.dumps(result))
        return result
