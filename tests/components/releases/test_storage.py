"""binder:storage: one StorageClass for every volume the releases render, created when the
program owns it, and the releases with volumes wait for it.

The chart renderer (issue 9) is not on main yet, so the check is on the final values (the
chart's values.yaml coalesced with ours, as Helm does) against the PVC templates of the pinned
charts, read from ../shared/charts: every template that can render a PVC is listed below with
the switch that renders it and the values path its storageClassName comes from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.config.stack import parse_config
from components.releases.storage import PVC_CLASS_PATHS, plan_storage
from tests.chart_data import chart_dir, helm_values
from tests.components.config.test_stack import stack_binder_config
from tests.release_fixtures import RELEASE, release_of, user_values
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
PINS = {"binderhub": charts.BINDERHUB, "prometheus": charts.PROMETHEUS, "grafana": charts.GRAFANA,
        "harbor": charts.HARBOR}

#: Every template of the pinned charts that can render a PersistentVolumeClaim (directly or as
#: a volumeClaimTemplate): (chart, path under the chart dir, release, the values path of its
#: storage class, or None with the switch that keeps it off and that switch's value).
PVC_TEMPLATES: list[tuple[Any, str, str, str | None, tuple[str, ...] | None, Any]] = [
    (charts.BINDERHUB, "charts/jupyterhub/templates/hub/pvc.yaml", "binderhub",
     ".Values.hub.db.pvc.storageClassName", None, None),
    (charts.PROMETHEUS, "templates/pvc.yaml", "prometheus",
     ".Values.server.persistentVolume.storageClass", None, None),
    (charts.PROMETHEUS, "templates/deploy.yaml", "prometheus",
     ".Values.server.persistentVolume.storageClass", None, None),
    (charts.GRAFANA, "templates/pvc.yaml", "grafana", ".Values.persistence.storageClassName",
     None, None),
    (charts.GRAFANA, "templates/statefulset.yaml", "grafana",
     ".Values.persistence.storageClassName", None, None),
    # Off in our values: no PVC is rendered.
    (charts.PROMETHEUS, "charts/alertmanager/templates/statefulset.yaml", "prometheus",
     ".Values.persistence.storageClass", None, None),
    (charts.PROMETHEUS, "charts/prometheus-pushgateway/templates/pushgateway-pvc.yaml",
     "prometheus", None, ("prometheus-pushgateway", "enabled"), False),
    (charts.PROMETHEUS, "charts/prometheus-pushgateway/templates/statefulset.yaml",
     "prometheus", None, ("prometheus-pushgateway", "enabled"), False),
    (charts.TRAEFIK, "templates/pvc.yaml", "traefik", None, ("persistence", "enabled"), False),
    (charts.FLUENTD, "templates/statefulset.yaml", "fluentd", None, ("kind",), "DaemonSet"),
    *(
        (charts.HARBOR, path, "harbor",
         f".Values.persistence.persistentVolumeClaim.{part}.storageClass", None, None)
        for path, part in (
            ("templates/registry/registry-pvc.yaml", "registry"),
            ("templates/jobservice/jobservice-pvc.yaml", "jobservice.jobLog"),
            ("templates/database/database-ss.yaml", "database"),
            ("templates/redis/statefulset.yaml", "redis"),
            ("templates/trivy/trivy-sts.yaml", "trivy"),
        )
    ),
]


def _get(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


@pytest.fixture(scope="module", params=["ebi", "gcp", "local"])
def stack_run(request: pytest.FixtureRequest) -> tuple[str, Recording]:
    return request.param, recorded_stack(request.param)


def test_every_pvc_template_of_the_pinned_charts_is_accounted_for() -> None:
    listed = {(pin.chart, path) for pin, path, *_ in PVC_TEMPLATES}
    found = set()
    for pin in charts.RELEASES:
        root = chart_dir(pin)
        for template in sorted(root.rglob("*.yaml")):
            rel = template.relative_to(root)
            if "templates" not in rel.parts:
                continue
            text = template.read_text()
            # A PVC, or a StatefulSet's non-empty volumeClaimTemplates.
            if "kind: PersistentVolumeClaim" in text or re.search(
                r"volumeClaimTemplates:\s*\n", text
            ):
                found.add((pin.chart, str(rel)))
    assert found == listed


@pytest.mark.parametrize(("pin", "path", "release", "class_ref", "_s", "_v"), PVC_TEMPLATES)
def test_the_class_path_is_the_one_the_template_reads(
    pin: Any, path: str, release: str, class_ref: str | None, _s: Any, _v: Any
) -> None:
    if class_ref is None:
        return
    text = (chart_dir(pin) / path).read_text()
    parent, _, leaf = class_ref.rpartition(".")
    bound = re.search(rf"(\$\w+) := {re.escape(parent)}\b", text)
    # Read directly, or (harbor) through a variable bound to the PVC's values.
    assert class_ref in text or (bound and f"{bound.group(1)}.{leaf}" in text)
    # A subchart's template reads its own values: ours carry the subchart's name in front.
    subchart = path.split("/")[1] if path.startswith("charts/") else None
    paths = [
        ".".join(p[1:] if p[0] == subchart else p) for p, _, _ in PVC_CLASS_PATHS[release]
    ]
    assert class_ref.removeprefix(".Values.") in paths


def test_every_rendered_pvc_uses_the_stack_class(stack_run: tuple[str, Recording]) -> None:
    stack, rec = stack_run
    expected = {"ebi": "binder-cinder", "gcp": "standard-rwo", "local": None}[stack]
    released = {r.inputs["chart"] for r in rec.of_type(RELEASE)}
    checked = 0
    for release, entries in PVC_CLASS_PATHS.items():
        if PINS[release].chart not in released:
            continue
        user = user_values(release_of(rec, PINS[release]))
        if release == "binderhub":
            # The PVC is the jupyterhub subchart's: its own values.yaml gives the defaults.
            final = {"jupyterhub": helm_values(charts.JUPYTERHUB_SUBCHART, user["jupyterhub"])}
        else:
            final = helm_values(PINS[release], user)
        for class_path, switch, on in entries:
            if _get(final, switch) != on:
                continue
            checked += 1
            assert _get(final, class_path) == expected, (stack, release, class_path)
    # binderhub's hub database; Prometheus, Alertmanager, Grafana with monitoring on.
    assert checked == (1 if stack == "local" else 4)
    # The PVCs no list above renders stay off.
    for pin, _, _release, class_ref, off_switch, off in PVC_TEMPLATES:
        if class_ref is None and pin.chart in released and off_switch is not None:
            assert _get(helm_values(pin, user_values(release_of(rec, pin))), off_switch) == off


def test_ebi_creates_a_cinder_class_the_releases_with_volumes_wait_for() -> None:
    rec = recorded_stack("ebi")
    sc = rec.one(STORAGE_CLASS)
    assert sc.inputs["metadata"]["name"] == "binder-cinder"
    assert sc.inputs["provisioner"] == "cinder.csi.openstack.org"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["parameters"] == {"type": "standard"}
    for pin in (charts.BINDERHUB, charts.PROMETHEUS, charts.GRAFANA):
        assert sc.urn in release_of(rec, pin).dependencies, pin.chart
    # The others do not wait for it.
    assert sc.urn not in release_of(rec, charts.TRAEFIK).dependencies


def test_gcp_uses_gkes_class_and_creates_none() -> None:
    rec = recorded_stack("gcp")
    assert rec.of_type(STORAGE_CLASS) == []


def test_gke_created_class_defaults_to_pd_csi() -> None:
    raw = stack_binder_config("gcp")
    raw["storage"] = {"className": "binder-ssd", "create": True, "parameters": {"type": "pd-ssd"}}
    cfg = parse_config(raw)
    plan = plan_storage(cfg.storage, cfg.cluster)
    assert (plan.class_name, plan.provisioner, plan.create) == (
        "binder-ssd", "pd.csi.storage.gke.io", True
    )


@pytest.mark.parametrize(
    ("stack", "storage", "words"),
    [
        ("local", {"create": True}, "binder:storage.provisioner: required"),
        ("gcp", {"create": True, "className": "standard-rwo"}, "GKE already has"),
        ("gcp", {"parameters": {"type": "pd-ssd"}}, "create is false"),
    ],
)
def test_bad_storage(stack: str, storage: dict[str, Any], words: str) -> None:
    raw = stack_binder_config(stack)
    raw["storage"] = storage
    cfg = parse_config(raw)
    with pytest.raises(ConfigError, match=words):
        plan_storage(cfg.storage, cfg.cluster)
