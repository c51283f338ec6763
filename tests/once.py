"""Work that every pytest-xdist worker would otherwise repeat, done once per run.

A session fixture runs once per worker process. For results that cost seconds of CPU and
are only read, :func:`once_per_run` makes the first worker that needs them produce them and
the others wait for and read its result (a file under the run's shared temporary folder,
behind an ``flock``): the recipe of pytest-xdist's docs,
https://pytest-xdist.readthedocs.io/en/stable/how-to.html#making-session-scoped-fixtures-execute-only-once.
(Grouping the tests on one worker with ``--dist loadgroup`` would do it too, but with pytest
9.2 that silently stops grouping: https://github.com/pytest-dev/pytest-xdist/issues/1386.)
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

import pytest


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, produce: Callable[[], Any]
) -> Any:
    """``produce()``'s result (JSON), computed by one process of this pytest run."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return produce()  # one process: nothing to share
    # Each worker's basetemp is <run folder>/popen-gwN; the run folder is theirs alone.
    shared = tmp_path_factory.getbasetemp().parent / f"once-{name}.json"
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if shared.is_file():
            return json.loads(shared.read_text())
        result = produce()
        shared.write_text(json.dumps(result))
        return result
