"""tests/forked_renders.py reports what each child wrote and how it exited."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.conftest import MISSING_STACK, REPO


def test_a_childs_exit_status_and_stderr_reach_the_report(
    forked_render_of_a_missing_stack: dict[str, Any],
) -> None:
    result = forked_render_of_a_missing_stack
    assert result["stack"] == MISSING_STACK
    # What `python -m tools.render no-such-stack` prints and returns, through fds 1 and 2.
    assert result["returncode"] == 2
    assert result["stderr"].startswith(f"error: Pulumi.{MISSING_STACK}.yaml does not exist")
    assert result["stdout"] == ""
    assert "pulumi" in result["modules"]
    assert not {"pulumi_gcp", "pulumi_openstack"} & set(result["modules"])


def test_without_stacks_it_prints_its_usage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.forked_renders"], cwd=REPO, capture_output=True,
        text=True, check=False, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 2
    assert "python -m tests.forked_renders OUT STACK" in out.stderr
