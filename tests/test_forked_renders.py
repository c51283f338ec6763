"""tests/forked_renders.py reports what each child wrote and how it exited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.forked_renders", str(tmp_path / "out"), *args],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_a_childs_exit_status_and_stderr_reach_the_report(tmp_path: Path) -> None:
    out = _run(tmp_path, "no-such-stack")
    assert (out.returncode, out.stderr) == (0, ""), out.stderr
    [result] = json.loads(out.stdout.splitlines()[-1])
    assert result["stack"] == "no-such-stack"
    # What `python -m tools.render no-such-stack` prints and returns, through fds 1 and 2.
    assert result["returncode"] == 2
    assert result["stderr"].startswith("error: Pulumi.no-such-stack.yaml does not exist")
    assert result["stdout"] == ""
    assert "pulumi" in result["modules"]
    assert not {"pulumi_gcp", "pulumi_openstack"} & set(result["modules"])


def test_without_stacks_it_prints_its_usage(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.forked_renders"], cwd=REPO, capture_output=True,
        text=True, check=False, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 2
    assert "python -m tests.forked_renders OUT STACK" in out.stderr
