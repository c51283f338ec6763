"""tools/federation_bench.py runs end to end (a short run: its figures, not a verdict, are
what this checks; the verdict needs `make federation-bench`'s full counts)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def test_a_short_run_prints_every_figure() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tools.federation_bench", "--requests", "300", "--seconds", "2",
         "--rounds", "1", "--warmup", "20", "--rate", "200", "--paced-seconds", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode in (0, 1), out.stderr
    text = out.stdout
    assert re.search(r"decisions per second, saturated \(median\): \d+ \(target >= 1000\)",
                     text)
    assert re.search(r"latency at 200/s, p50 / p99 \(median\): [\d.]+ / [\d.]+ ms", text)
    assert re.search(r"redirector / floor throughput [\d.]+", text)
    assert re.search(r"server-side decision time: mean \d+ us", text)
    assert re.search(r"targets: (met|NOT MET)", text)
    assert re.search(r"redirector\s+\d+ launches .* errors 0", text)
