"""The redirector's Prometheus metrics, in a registry of its own (one per app, so tests can
run several side by side).

Names start with ``binder_federation_``; the Grafana dashboard (``tools/dashboards.py``) and
the alert rules (``helm_configs/monitoring/alerts.rules.yaml``) read them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Why a member is out of rotation (the ``reason`` label); ``in_rotation`` when it is in.
REASONS = (
    "in_rotation",
    "not_checked_yet",
    "disabled",
    "weight_zero",
    "unreachable",
    "http_error",
    "bad_answer",
    "unhealthy",
    "version_mismatch",
    "quota_full",
    "no_quota",
)
#: Why a launch went where it went (the ``reason`` label of redirects).
DECISIONS = ("rendezvous", "random", "cookie", "prime_fallback")


class Metrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.member_in_rotation = Gauge(
            "binder_federation_member_in_rotation",
            "1 if the member takes launches, else 0.", ["member"], registry=r)
        self.member_state = Gauge(
            "binder_federation_member_state",
            "1 for the member's current reason of being in or out of rotation, 0 for the "
            "others.", ["member", "reason"], registry=r)
        self.member_weight = Gauge(
            "binder_federation_member_weight", "The member's configured weight.", ["member"],
            registry=r)
        self.member_pods = Gauge(
            "binder_federation_member_pods",
            "Pods (user + build) the member's /health last reported.", ["member"], registry=r)
        self.member_quota = Gauge(
            "binder_federation_member_quota",
            "The member's LaunchQuota.total_quota, as its /health last reported.", ["member"],
            registry=r)
        self.checks = Counter(
            "binder_federation_checks", "Health checks by member and outcome (a reason).",
            ["member", "result"], registry=r)
        self.check_seconds = Histogram(
            "binder_federation_check_duration_seconds", "Time of one health check.",
            ["member"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10), registry=r)
        self.last_check = Gauge(
            "binder_federation_member_last_check_timestamp_seconds",
            "When the member was last checked (Unix time).", ["member"], registry=r)
        self.candidates = Gauge(
            "binder_federation_members_in_rotation", "Members taking launches now.",
            registry=r)
        self.redirects = Counter(
            "binder_federation_redirects", "Launches redirected, by member and reason.",
            ["member", "reason"], registry=r)
        self.decision_seconds = Histogram(
            "binder_federation_decision_duration_seconds",
            "Time from a launch request's arrival to its redirect being ready.",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1),
            registry=r)
        self.proxied = Counter(
            "binder_federation_proxied_requests",
            "Requests proxied to the prime, by status class (2xx ... 5xx, or error).",
            ["status"], registry=r)

    def set_state(self, member: str, reason: str) -> None:
        for known in REASONS:
            self.member_state.labels(member=member, reason=known).set(1 if known == reason
                                                                       else 0)
        self.member_in_rotation.labels(member=member).set(1 if reason == "in_rotation" else 0)
