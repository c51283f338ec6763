"""Issue 22, item 3: the rendered cryptnono DaemonSet runs where user code runs, is scraped by
our Prometheus, and watches dind's builds, for every case that installs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests import fast_yaml
from tests.rendered.objects import Index
from tests.rendered.support import CASES, Case, rendered, require_chart_data
from tests.rendered.test_rendered_objects import _may_run_on


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def _daemonset(index: Index) -> Mapping[str, Any]:
    found = [p for o, p in index.pods() if o.kind == "DaemonSet" and o.name == "cryptnono"]
    if not index.case.cfg.cryptnono_enabled:
        assert found == []
        pytest.skip("cryptnono is off in this case")
    [pod] = found
    return pod


def test_it_runs_on_user_nodes_and_everywhere_dind_runs(index: Index) -> None:
    pod = _daemonset(index)
    cluster = index.case.cfg.cluster
    assert _may_run_on(pod["spec"], cluster.user_node_selector, cluster.user_nodes_tainted)
    [(_, dind)] = [
        (o, p) for o, p in index.pods() if o.kind == "DaemonSet" and o.name == "binderhub-dind"
    ]
    # Wherever dind may run (its node selector), cryptnono may run too.
    assert _may_run_on(pod["spec"], dind["spec"].get("nodeSelector") or {}, tainted=True)
    env = {
        e["name"]: e.get("value")
        for c in pod["spec"]["containers"] if c["name"] == "execwhacker"
        for e in c.get("env") or []
    }
    assert env["DOCKER_HOST"] == "unix:///host/var/run/dind/docker.sock"
    assert env["CONTAINER_RUNTIME_ENDPOINT"] == "unix:///host/run/containerd/containerd.sock"
    containers = {c["name"] for c in pod["spec"]["containers"]}
    assert {"execwhacker", "monero", "flowkiller"} <= containers


def test_our_prometheus_scrapes_its_collector(index: Index) -> None:
    pod = _daemonset(index)
    annotations = pod["metadata"].get("annotations") or {}
    if not index.case.cfg.monitoring.enabled:
        assert "prometheus.io/scrape" not in annotations
        return
    assert annotations["prometheus.io/scrape"] == "true"
    port = int(annotations["prometheus.io/port"])
    ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or []]
    assert port in ports
    prometheus = index.release("prometheus")
    config = index.one("ConfigMap", "prometheus-server", prometheus.namespace)
    jobs = {j["job_name"]: j for j in fast_yaml.safe_load(config.body["data"]["prometheus.yml"])[
        "scrape_configs"]}
    keep = jobs["kubernetes-pods"]["relabel_configs"][0]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    # Nothing in the binder namespace stops Prometheus from reaching it: no NetworkPolicy
    # selects cryptnono's pods.
    labels = pod["metadata"]["labels"]
    from tests.rendered.objects import labels_match

    ns = index.release("cryptnono").namespace
    assert not [
        o.name for o in index.all
        if o.kind == "NetworkPolicy" and o.namespace == ns
        and labels_match(o.body["spec"].get("podSelector") or {}, labels)
    ]
