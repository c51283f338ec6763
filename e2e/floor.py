"""The benchmark's floor: the same charts, with the same values, installed by Helm alone.

This is what the old tool chain did (Helmsman runs ``helm upgrade --install`` per release in
priority order, waiting for each): one release after the other, in the order the program
declares them, each with ``--wait``, into the namespaces the program prepared (their
PriorityClass, Secrets and RBAC stay: only the releases are removed before), using the Helm
CLI built from the same Helm module the Kubernetes provider links (e2e/tools/README.md). The
values come from the real state (``pulumi stack export --show-secrets``), so they are exactly
what the program gave Helm; they reach Helm on stdin (``-f -``), never a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.engine import BIN
from e2e.leaks import plain

RELEASE = "kubernetes:helm.sh/v3:Release"
#: As long as the program's own Helm timeout for the slowest release.
HELM_TIMEOUT = "10m"


@dataclass(frozen=True)
class FloorRelease:
    name: str
    namespace: str
    chart: Path
    values: dict[str, Any]


def releases_in_order(export: dict[str, Any], project: Path,
                      order: list[str]) -> list[FloorRelease]:
    """The stack's Helm releases with the values the state holds, in ``order`` (release
    names: the order the program declares them, as Helmsman's priorities would put them)."""
    found = []
    for resource in export["deployment"]["resources"]:
        if resource["type"] != RELEASE:
            continue
        inputs = plain(resource["inputs"])
        found.append(FloorRelease(
            name=inputs["name"], namespace=inputs["namespace"],
            chart=(project / inputs["chart"]).resolve(), values=inputs.get("values") or {},
        ))
    return sorted(found, key=lambda r: order.index(r.name))


def _helm(args: list[str], kubeconfig: Path, home: Path, stdin: str | None = None) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "KUBECONFIG": str(kubeconfig),
        # Helm's own folders, not the user's (no repositories are used: local charts); HOME
        # too, for client-go's discovery cache (~/.kube/cache).
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    result = subprocess.run([str(BIN / "helm"), *args], input=stdin, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args[:2])}: {result.stderr.strip()}")


def install_all(releases: list[FloorRelease], kubeconfig: Path) -> dict[str, float]:
    """``helm install --wait`` of each release in turn; the seconds each took."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="helm-floor-") as home:
        for release in releases:
            began = time.monotonic()
            _helm(["install", release.name, str(release.chart), "--namespace",
                   release.namespace, "--create-namespace", "--wait", "--timeout",
                   HELM_TIMEOUT, "--values", "-"],
                  kubeconfig, Path(home), stdin=json.dumps(release.values))
            seconds[release.name] = time.monotonic() - began
    return seconds


def uninstall_all(releases: list[FloorRelease], kubeconfig: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="helm-floor-") as home:
        for release in reversed(releases):
            _helm(["uninstall", release.name, "--namespace", release.namespace, "--wait",
                   "--timeout", HELM_TIMEOUT], kubeconfig, Path(home))
