"""Shared helpers of the rendered-object tests."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pytest

from components.catalog import charts
from components.config.stack import StackConfig, parse_config
from tests.once import once_per_run
from tests.stack_runs import recorded_stack
from tools.chart_render import DEFAULT_CHARTS_DIR, RenderedRelease, render_recording
from tools.mockrun import PROJECT, Recording, run_program, stack_config


def missing_chart_data() -> list[str]:
    """Pinned charts (``<chart>/<version>``) whose sources are not in ../shared/charts."""
    return [
        f"{pin.chart}/{pin.version}"
        for pin in charts.RELEASES
        if not (DEFAULT_CHARTS_DIR / pin.chart / pin.version / "Chart.yaml").is_file()
    ]


def require_chart_data() -> None:
    """Fail (no traceback) with what is missing and how to fetch it."""
    missing = missing_chart_data()
    if missing:
        pytest.fail(
            f"The upstream chart sources are missing from {DEFAULT_CHARTS_DIR}: "
            f"{', '.join(missing)}. They live beside the repository clone, never in it; "
            "fetch every pinned chart with `make chart-data` (needs the Helm CLI).",
            pytrace=False,
        )


# --------------------------------------------------------------------------------------
# The stacks and switch settings under test
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Case:
    """A committed stack, optionally with some ``binder:`` keys replaced."""

    id: str
    stack: str
    overrides: tuple[tuple[str, Any], ...] = ()


#: Every committed stack as it is, and each on/off switch in the other position: ebi and gcp
#: have every part on, so gcp is also run with every part off; local has them off, so it is
#: also run with every part on (cert-manager needs `tls.source: letsencrypt` with it).
CASES: tuple[Case, ...] = (
    Case("ebi", "ebi"),
    Case("gcp", "gcp"),
    Case("local", "local"),
    Case(
        "gcp-all-off",
        "gcp",
        (
            ("binder:certManager", {"enabled": False}),
            ("binder:tls", {"source": "none"}),
            ("binder:monitoring", {"enabled": False}),
            ("binder:logging", {"enabled": False}),
            ("binder:cryptnono", {"enabled": False}),
            ("binder:ingress", {"controller": "none", "className": "nginx"}),
            # Its ops group works in monitoring and logging, which are gone now.
            ("binder:users", [{"name": "binder-admin@example.org", "kind": "User",
                               "role": "admin", "mayReadDeployerToken": True}]),
        ),
    ),
    Case(
        "local-all-on",
        "local",
        (
            ("binder:certManager", {"enabled": True}),
            ("binder:tls", {"source": "letsencrypt", "issuer": "staging"}),
            ("binder:monitoring", {"enabled": True, "grafanaHost": "grafana.127.0.0.1.nip.io"}),
            ("binder:logging", {"enabled": True}),
            # The other image builder (Podman in Kubernetes), with the chart's image cleaner,
            # which dind stacks leave off (their pruner does its work).
            ("binder:binderhub", {"host": "binder.127.0.0.1.nip.io",
                                  "hubHost": "hub.127.0.0.1.nip.io", "imageBuilderType": "pink"}),
            # A partner cluster with labelled, tainted nodes for users (the existing-cluster
            # way to a user pool; the committed local stack has none).
            ("binder:cluster", {
                "provider": "existing", "name": "local", "kubernetesVersion": "1.36",
                "userNodes": {"binder.example.org/pool": "user"}, "userNodesTaint": True,
            }),
            # Issue 22: banned destinations and the bandwidth cap (TEST-NET ranges, RFC 5737).
            ("binder:binderhub", {
                "host": "binder.127.0.0.1.nip.io", "hubHost": "hub.127.0.0.1.nip.io",
                "egress": {
                    "bannedCidrs": ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"],
                    "bandwidth": "1mbit",
                    "bandwidthImage": "registry.example.org/tools/tc:3.20",
                },
                "limits": {
                    "bannedNetworks": {"192.0.2.0/24": "a network that abused this service"},
                    "bannedSpecs": ["^evil-org/.*"],
                    "bannedSpecsByProvider": {"GitLabRepoProvider": ["^evil-org%2F.*"]},
                    "userNodeCount": 2,
                    "userNode": {"cpu": 8, "memory": "32Gi"},
                },
            }),
        ),
    ),
)


@dataclass(frozen=True)
class Rendered:
    """One case: its configuration, what the program registers, what Helm would create."""

    case: Case
    cfg: StackConfig
    recording: Recording
    releases: list[RenderedRelease]

    @property
    def kube_version(self) -> str:
        return self.cfg.cluster.kubernetes_version


def rendered(case: Case) -> Rendered:
    """The case run and rendered once per test run (by one worker: tests/once.py)."""
    return _rendered(case.id)


@functools.cache
def _rendered(case_id: str) -> Rendered:
    return once_per_run(f"rendered-{case_id}", lambda: _render(case_id))


def _render(case_id: str) -> Rendered:
    case = next(c for c in CASES if c.id == case_id)
    config, secret_keys = stack_config(case.stack, dict(case.overrides))
    raw = {}
    for key, value in config.items():
        if key.startswith(f"{PROJECT}:"):
            try:
                raw[key.split(":", 1)[1]] = json.loads(value)
            except ValueError:
                raw[key.split(":", 1)[1]] = value
    cfg = parse_config(raw)
    recording = (
        run_program(stack=case.stack, config=config, secret_keys=secret_keys)
        if case.overrides
        else recorded_stack(case.stack)
    )
    releases = render_recording(recording, kube_version=cfg.cluster.kubernetes_version)
    return Rendered(case, cfg, recording, releases)
