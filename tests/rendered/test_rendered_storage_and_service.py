"""Rendered with the real charts (tools/chart_render): every PersistentVolumeClaim the releases
create -- PVCs and StatefulSets' volumeClaimTemplates -- uses binder:storage's class, and
Traefik's Service carries the reserved address, traffic policy and PROXY settings."""

from __future__ import annotations

from typing import Any

import pytest

from components.network.plan import plan_network
from components.releases.storage import plan_storage
from tests.rendered.objects import Index
from tests.rendered.support import CASES, Case, rendered, require_chart_data


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def _claims(index: Index) -> list[tuple[str, dict[str, Any]]]:
    claims = []
    for obj in index.all:
        if obj.kind == "PersistentVolumeClaim":
            claims.append((str(obj), obj.body.get("spec") or {}))
        for template in (obj.body.get("spec") or {}).get("volumeClaimTemplates") or []:
            claims.append((f"{obj} volumeClaimTemplate", template.get("spec") or {}))
    return claims


def test_every_rendered_claim_uses_the_stack_storage_class(index: Index) -> None:
    cfg = index.case.cfg
    expected = plan_storage(cfg.storage, cfg.cluster).class_name
    claims = _claims(index)
    if cfg.monitoring.enabled:
        assert claims, "monitoring on: Prometheus and Grafana have volumes"
    for what, spec in claims:
        # None: the cluster's default class, i.e. no storageClassName in the claim.
        assert spec.get("storageClassName") == expected, what


def test_traefik_service_gets_the_entry_point_settings(index: Index) -> None:
    cfg = index.case.cfg
    if cfg.ingress.controller == "none":
        return
    services = [o for o in index.all if o.kind == "Service" and o.release == "traefik"
                and (o.body.get("spec") or {}).get("type") == "LoadBalancer"]
    assert len(services) == 1, services
    spec = services[0].body["spec"]
    annotations = services[0].body["metadata"].get("annotations") or {}
    provider = cfg.cluster.provider
    if provider == "gke":
        assert spec["loadBalancerIP"] == "203.0.113.90"
        assert spec["externalTrafficPolicy"] == "Local"
    elif provider == "magnum":
        assert spec["loadBalancerIP"] == "203.0.113.80"
        assert spec["externalTrafficPolicy"] == "Local"
        assert annotations["loadbalancer.openstack.org/proxy-protocol"] == "true"
        assert annotations["loadbalancer.openstack.org/enable-health-monitor"] == "true"
        # Traefik reads the PROXY header on both entry points, from the nodes' subnet only.
        deployment = next(o for o in index.all if o.kind == "Deployment" and o.release == "traefik")
        args = deployment.body["spec"]["template"]["spec"]["containers"][0]["args"]
        for entry in ("web", "websecure"):
            assert f"--entryPoints.{entry}.proxyProtocol.trustedIPs=10.0.0.0/24" in args
    else:
        assert "loadBalancerIP" not in spec
        network = plan_network(cfg, _no_inputs())
        assert network.external_traffic_policy is None


def _no_inputs() -> Any:
    from components.cluster.kubeconfig import ClusterInputs

    return ClusterInputs()
