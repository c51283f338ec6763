"""The redirector's metric names are the ones our alert rules and dashboards may read
(tests/monitoring_metrics.py lists them): a renamed metric fails here, not silently in
Grafana."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from federation.metrics import DECISIONS, REASONS, Metrics
from tests.monitoring_metrics import KNOWN_METRICS


def exposed_names() -> set[str]:
    metrics = Metrics()
    metrics.set_state("ebi", "in_rotation")
    metrics.member_weight.labels(member="ebi").set(1)
    metrics.member_pods.labels(member="ebi").set(3)
    metrics.member_quota.labels(member="ebi").set(50)
    metrics.last_check.labels(member="ebi").set(1)
    metrics.candidates.set(1)
    metrics.checks.labels(member="ebi", result="in_rotation").inc()
    metrics.check_seconds.labels(member="ebi").observe(0.1)
    metrics.redirects.labels(member="ebi", reason=DECISIONS[0]).inc()
    metrics.decision_seconds.observe(0.001)
    metrics.proxied.labels(status="2xx").inc()
    text = generate_latest(metrics.registry).decode()
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.name.endswith("_created")}


def test_the_names_rules_and_dashboards_may_read_are_the_ones_exposed() -> None:
    exposed = exposed_names()
    listed = {name for name, source in KNOWN_METRICS.items()
              if source == "federation/metrics.py"}
    assert listed <= exposed, listed - exposed
    # Everything exposed is listed, so a dashboard may use any of it.
    assert exposed <= listed, exposed - listed


def test_every_state_has_a_series() -> None:
    metrics = Metrics()
    metrics.set_state("ebi", "quota_full")
    text = generate_latest(metrics.registry).decode()
    for reason in REASONS:
        value = 1.0 if reason == "quota_full" else 0.0
        assert (f'binder_federation_member_state{{member="ebi",reason="{reason}"}} {value}'
                in text)
    assert 'binder_federation_member_in_rotation{member="ebi"} 0.0' in text
