"""Bad input at the real engine: a wrong kubeconfig, an unreachable API server, a chart
directory that does not exist, and values the API server refuses. Each ends with one clear
message in our words (which object, what the server said), no traceback, and leaves nothing
that a second `up` cannot finish or `destroy` cannot remove.

Each case has a stack of its own (its own backend) on the same control plane as the rest of
the run, after the lifecycle's stack is destroyed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from e2e import inspect
from e2e.controlplane.cluster import ControlPlane
from e2e.kube import Client
from e2e.report import Report
from e2e.session import EngineSession, Operation, copy_project
from e2e.tests.conftest import RUN_DIR


def _no_traceback(op: Operation) -> None:
    assert "Traceback" not in op.output, op.log
    assert not op.ok


def _session(name: str, control_plane: ControlPlane, project: Path | None = None,
             kubeconfig: Path | None = None) -> EngineSession:
    session = EngineSession(RUN_DIR / name, kubeconfig or control_plane.kubeconfig)
    if project is not None:
        session.project = project
    return session


def test_a_wrong_kubeconfig_stops_in_the_plan(
    control_plane: ControlPlane, admin: Client, tmp_path: Path, report: Report
) -> None:
    wrong = tmp_path / "wrong.kubeconfig"
    wrong.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    session = _session("mistake-kubeconfig", control_plane, kubeconfig=wrong)
    op = session.run("up", expect_ok=False)
    _no_traceback(op)
    assert op.errors == [f"{wrong}: no current-context; set binder:cluster.context to one of "
                         "its contexts"]
    assert op.changed() == {"create": 1}  # the stack itself; nothing in the cluster
    assert not admin.exists("v1", "Namespace", "binder")
    report.figure("Bad input: the message", "wrong kubeconfig", op.errors[0][:160])


def test_an_unreachable_api_server_is_one_message(
    control_plane: ControlPlane, admin: Client, tmp_path: Path, report: Report
) -> None:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    # A loopback port nothing listens on (the control plane's own, minus one, is taken by
    # nothing we start): connection refused at once.
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(yaml.safe_dump(config))
    session = _session("mistake-unreachable", control_plane, kubeconfig=unreachable)
    op = session.run("up", expect_ok=False)
    _no_traceback(op)
    assert len(op.errors) == 1, op.errors
    assert "the Kubernetes API server at 127.0.0.1:9 cannot be reached (connection refused)" \
        in op.errors[0]
    report.figure("Bad input: the message", "unreachable API server", op.errors[0][:160])
    # Nothing reached a cluster; the state holds only what needs none (components, tokens),
    # and destroy removes it.
    session.run("destroy")
    assert not session.export()["deployment"].get("resources")


def test_a_missing_chart_directory_stops_in_the_plan(
    control_plane: ControlPlane, admin: Client, report: Report
) -> None:
    session = _session("mistake-charts", control_plane)
    op = session.run("up", changes={"binder:charts": {"directory": "../no-such-charts"}},
                     expect_ok=False)
    _no_traceback(op)
    assert len(op.errors) == 1, op.errors
    assert op.errors[0].startswith("Invalid release configuration: binder:charts.directory: "
                                   "../no-such-charts/traefik/41.3.0/Chart.yaml does not exist")
    assert op.changed() == {"create": 1}
    assert not admin.exists("v1", "Namespace", "binder")
    report.figure("Bad input: the message", "missing chart directory", op.errors[0][:160])


@pytest.fixture
def project_with_bad_values(tmp_path: Path) -> Path:
    project = copy_project(tmp_path)
    # Grafana's chart has no schema, so only the API server can refuse this quantity.
    (project / "helm_configs" / "e2e" / "grafana.yaml").write_text(
        "resources:\n  requests:\n    cpu: lots\n")
    return project


def test_values_the_api_server_refuses_are_named_and_can_be_finished_or_removed(
    control_plane: ControlPlane, admin: Client, project_with_bad_values: Path, report: Report
) -> None:
    session = _session("mistake-values", control_plane, project=project_with_bad_values)
    op = session.run("up", expect_ok=False)
    _no_traceback(op)
    assert len(op.errors) == 1, op.errors
    (error,) = op.errors
    assert error.startswith("releases-monitoring-grafana (kubernetes:helm.sh/v3:Release): "
                            "Helm release monitoring/grafana was installed, but the API "
                            "server refused part of it: ")
    assert "quantities must match the regular expression" in error
    report.figure("Bad input: the message", "values the API server refuses", error[:160])
    # Everything else is deployed; the second `up`, with the value fixed, finishes.
    assert {r for r, x in inspect.helm_releases(admin).items() if x.status == "deployed"} >= {
        "binderhub", "traefik", "cert-manager", "prometheus", "fluentd"}
    (project_with_bad_values / "helm_configs" / "e2e" / "grafana.yaml").unlink()
    finished = session.run("up")
    assert finished.changed().get("update") == 1
    assert inspect.helm_releases(admin)["grafana"].status == "deployed"
    assert inspect.not_ready(admin, inspect.NAMESPACES) == []
    session.run("destroy")
    assert inspect.helm_releases(admin) == {}
    assert inspect.ours(admin).objects == []


def test_a_failed_first_up_can_be_destroyed(
    control_plane: ControlPlane, admin: Client, project_with_bad_values: Path
) -> None:
    """The other way out of a half-applied first `up`: destroy removes all of it."""
    session = _session("mistake-values-destroy", control_plane,
                       project=project_with_bad_values)
    assert not session.run("up", expect_ok=False).ok
    session.run("destroy")
    for namespace in inspect.NAMESPACES:
        assert not admin.exists("v1", "Namespace", namespace), namespace
    assert inspect.helm_releases(admin) == {}
    assert inspect.ours(admin).objects == []
    assert not session.export()["deployment"].get("resources")
