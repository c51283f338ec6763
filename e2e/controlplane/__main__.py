"""``python -m e2e.controlplane up|down|status``: a local control plane that outlives the
command (``make cluster-up`` / ``make cluster-down``), in ``.e2e/cluster/`` by default.

``up`` prints the kubeconfig to use (``export KUBECONFIG=...``); ``down`` stops every process
and removes the directory; ``status`` says whether one is running.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from e2e.controlplane.cluster import REPO, ControlPlane, ControlPlaneError, _alive, stop_kept

DEFAULT_DIR = REPO / ".e2e" / "cluster"


def _running(directory: Path) -> dict[str, int] | None:
    state = directory / "state.json"
    if not state.is_file():
        return None
    pids: dict[str, int] = json.loads(state.read_text()).get("pids", {})
    return pids if pids and all(_alive(p) for p in pids.values()) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.controlplane", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="its directory (default: .e2e/cluster)")
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()
    if args.command == "status":
        pids = _running(directory)
        print(f"running in {directory} ({', '.join(pids)})" if pids
              else f"no control plane in {directory}")
        return 0 if pids else 1
    if args.command == "down":
        stopped = stop_kept(directory)
        print(f"stopped and removed {directory}" if stopped else f"nothing in {directory}")
        return 0
    if _running(directory):
        print(f"already running in {directory}; `make cluster-down` stops it")
        print(f"export KUBECONFIG={directory / 'admin.kubeconfig'}")
        return 0
    stop_kept(directory)  # what a crashed earlier one left
    plane = ControlPlane(directory, keep=True)
    try:
        plane.start()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"control plane up in {plane.timings['total']:.1f} s at {plane.server} "
          f"(Kubernetes {plane.kubernetes_version()}), directory {directory}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
