"""Benchmark: the whole program per stack on the mock engine, wall time and peak memory.

Each run is a fresh interpreter under ``/usr/bin/time -v`` (GNU time), so the figures
include Python start-up and every import, as ``pulumi up`` pays them. Usage::

    python -m tools.bench                 # all stacks, 5 runs each
    python -m tools.bench ebi --runs 10

Targets (2-core machines): ebi <= 1.2 s and <= 130 MB; gcp <= 1.8 s and <= 160 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"ebi": (1.2, 130.0), "gcp": (1.8, 160.0)}

_WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


@dataclass(frozen=True)
class Sample:
    wall_s: float
    peak_mb: float


def _local_kubeconfig(directory: str) -> str:
    """The local stack reads a kubeconfig; give it a throwaway one, never the user's."""
    path = Path(directory) / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: https://127.0.0.1:6443\ncontexts:\n- name: c\n  context:\n"
        "    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n"
    )
    return str(path)


def measure(stack: str, env: dict[str, str]) -> Sample:
    time_bin = shutil.which("time", path="/usr/bin:/bin") or ""
    if not time_bin:
        raise SystemExit("GNU time is missing: apt-get install time")
    out = subprocess.run(
        [time_bin, "-v", sys.executable, "-m", "tools.mockrun", stack],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    if out.returncode != 0:
        raise SystemExit(f"{stack}: program failed\n{out.stdout}\n{out.stderr}")
    wall = _WALL.search(out.stderr)
    rss = _RSS.search(out.stderr)
    if not wall or not rss:
        raise SystemExit(f"could not read GNU time's report:\n{out.stderr}")
    hours, minutes, seconds = wall.groups()
    wall_s = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return Sample(wall_s=wall_s, peak_mb=int(rss.group(1)) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", default=[*sorted(TARGETS), "local"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(REPO), "KUBECONFIG": _local_kubeconfig(tmp)}
        env.setdefault("SOPS_AGE_KEY_FILE", str(REPO / "tests/keys/TEST-ONLY-age-key.txt"))
        # The example stacks' secrets files open only with the TEST-ONLY key, which the
        # program accepts only in a test run (components/secrets/stored_files.TEST_RUN_ENV).
        env.setdefault("BINDER_TEST_RUN", "1")
        header = f"{'stack':6} {'runs':>4} {'wall median':>12} {'wall max':>9} {'peak RSS':>9}"
        print(f"{header}  target")
        for stack in args.stacks:
            measure(stack, env)  # warm the filesystem cache and .pyc files
            samples = [measure(stack, env) for _ in range(args.runs)]
            wall = statistics.median(s.wall_s for s in samples)
            peak = max(s.peak_mb for s in samples)
            target = TARGETS.get(stack)
            verdict = ""
            if target:
                ok = wall <= target[0] and peak <= target[1]
                failed |= not ok
                verdict = f"<= {target[0]} s, <= {target[1]:.0f} MB: {'ok' if ok else 'MISSED'}"
            print(
                f"{stack:6} {len(samples):4d} {wall:11.2f}s {max(s.wall_s for s in samples):8.2f}s"
                f" {peak:7.1f}MB  {verdict}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
