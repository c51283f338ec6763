"""The real-engine tests' fixtures: one control plane and one engine session per run, a
report of figures printed at the end, and tests that skip (saying why) once a step they build
on has failed.

Everything a run makes lives in ``build/e2e/`` (the control plane's directory, the state
backend, each operation's log, the report), removed at the start of the next run; the control
plane's processes are stopped when the run ends, however it ends.
"""

from __future__ import annotations

import errno
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.controlplane.cluster import ControlPlane, missing_binaries
from e2e.engine import BIN, REPO
from e2e.kube import Client
from e2e.report import Report
from e2e.session import EngineSession

RUN_DIR = REPO / "build" / "e2e"
REPORT = Report()
_FAILED: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = missing_binaries()
    missing += [n for n in ("pulumi", "pulumi-resource-kubernetes", "pulumi-resource-random",
                            "helm") if not (BIN / n).is_file()]
    if missing:
        pytest.exit(f"bin/ lacks {', '.join(missing)}: run `make e2e-tools` first (it builds "
                    "them from the pinned Go modules of e2e/tools/)", returncode=2)
    if not (REPO.parent / "shared" / "charts").is_dir():
        pytest.exit("../shared/charts is missing: the e2e stack installs every chart from it "
                    "(`make chart-data` fetches it)", returncode=2)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        _FAILED.add(item.name)
    return report


def needs(*steps: str) -> None:
    """Skip the current test if a step it builds on failed."""
    failed = [s for s in steps if s in _FAILED]
    if failed:
        pytest.skip(f"needs {', '.join(failed)}, which failed")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT.figures and not REPORT.tables:
        return
    path = RUN_DIR / "report.md"
    REPORT.write(path)
    terminalreporter.write_line("")
    for line in REPORT.markdown().splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(also in {path.relative_to(REPO)}; logs in "
                                f"{RUN_DIR.relative_to(REPO)}/)")


@pytest.fixture(scope="session")
def report() -> Report:
    return REPORT


def network_isolated() -> bool:
    """Whether this run can reach only loopback: a connection to a private address fails at
    once with "network is unreachable" (a network namespace with only `lo`, as `make e2e`
    sets up where it can)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        try:
            probe.connect(("10.96.0.1", 443))
        except OSError as exc:
            return exc.errno == errno.ENETUNREACH
    return False


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    # A new run: the previous one's logs and report go (not before: a collection-only run
    # must leave them).
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    plane = ControlPlane(RUN_DIR / "cluster")
    try:
        plane.start()
        REPORT.seconds("Control plane", "start (certificates to ready nodes)",
                       plane.timings["total"])
        for phase in ("etcd", "kube-apiserver", "controllers", "nodes"):
            REPORT.seconds("Control plane", f"  {phase}", plane.timings[phase])
        REPORT.figure("Control plane", "Kubernetes", plane.kubernetes_version())
        REPORT.figure("Control plane", "network", "a namespace of its own, loopback only"
                      if network_isolated() else "the host's (no user namespaces here): "
                      "every address it is given is loopback; the connections are audited")
        yield plane
    finally:
        # Keep the logs for reading; the processes go.
        logs = RUN_DIR / "cluster-logs"
        if (plane.directory / "logs").is_dir():
            shutil.copytree(plane.directory / "logs", logs, dirs_exist_ok=True)
        plane.stop()


@pytest.fixture(scope="session")
def admin(control_plane: ControlPlane) -> Iterator[Client]:
    with Client.from_file(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture(scope="session")
def session(control_plane: ControlPlane) -> EngineSession:
    return EngineSession(RUN_DIR / "stack", control_plane.kubeconfig)


@pytest.fixture(scope="session")
def render_dir() -> Path:
    """Where the offline render of the e2e stack (``make render STACK=e2e``) is written."""
    return RUN_DIR / "render"
