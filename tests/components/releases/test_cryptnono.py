"""Issue 22, item 3: cryptnono as an optional release (components/releases/cryptnono.py):
on by default for a public Binder, its values valid for the pinned chart, scraped, alerted on."""

from __future__ import annotations

from typing import Any

import pytest

from components.catalog import charts
from components.config.stack import parse_config
from components.releases.cryptnono import CONTAINERD_SOCKET, cryptnono_values
from components.releases.plan import enabled_releases
from tests.chart_data import chart_dir, chart_values, release_problems
from tests.release_fixtures import BASE_CONFIG, RELEASE, user_values
from tests.stack_runs import recorded_stack


def _cfg(**overrides: Any) -> Any:
    return parse_config({**BASE_CONFIG, **overrides})


def test_on_by_default_for_a_public_binder_only() -> None:
    assert charts.CRYPTNONO in enabled_releases(_cfg())
    authenticated = {
        **BASE_CONFIG["binderhub"],
        "auth": {"type": "github", "allowAll": True},
    }
    assert charts.CRYPTNONO not in enabled_releases(_cfg(binderhub=authenticated))
    assert charts.CRYPTNONO in enabled_releases(
        _cfg(binderhub=authenticated, cryptnono={"enabled": True})
    )
    assert charts.CRYPTNONO not in enabled_releases(_cfg(cryptnono={"enabled": False}))


@pytest.mark.parametrize("stack", ["ebi", "gcp", "local", "e2e"])
def test_every_public_stack_runs_it_with_values_the_chart_accepts(stack: str) -> None:
    rec = recorded_stack(stack)
    [release] = [
        r for r in rec.of_type(RELEASE) if str(r.inputs.get("chart", "")).endswith("cryptnono")
        or "/cryptnono/" in str(r.inputs.get("chart", ""))
    ]
    assert release.inputs["namespace"] == charts.NAMESPACES["cryptnono"] == "binder"
    values = user_values(release)
    # The chart's own JSON schema (strict: top-level additionalProperties false).
    assert release_problems(charts.CRYPTNONO, values) == []
    detectors = values["detectors"]
    assert detectors["execwhacker"]["dockerHostPath"] == "/var/run/dind/docker.sock"
    assert detectors["execwhacker"]["containerdHostPath"] == CONTAINERD_SOCKET
    assert detectors["tcpflowkiller"]["enabled"] is True
    flow_killer = detectors["tcpflowkiller"]["config"]["FlowKiller"]
    assert flow_killer["unique_destinations_threshold"] == 24
    monitoring = stack != "local"  # Pulumi.local.yaml has no monitoring
    assert values["metrics"]["enabled"] is monitoring
    assert values["metrics"]["collector"]["enabled"] is monitoring
    # The tags chartpress gave the published chart, never its git placeholder.
    assert values["image"]["tag"] == "0.3.2-0.dev.git.227.h26a91d6"
    assert values["fetchKernelHeaders"]["image"]["tag"] == "v0.3.1"


def test_the_charts_defaults_are_what_we_build_on() -> None:
    defaults = chart_values(charts.CRYPTNONO)
    assert defaults["detectors"]["execwhacker"]["containerdHostPath"] == CONTAINERD_SOCKET
    assert defaults["tolerations"] == [{"operator": "Exists", "effect": "NoSchedule"}]
    assert defaults["containerSecurityContext"] == {"privileged": True}
    assert defaults["image"]["tag"] == "set-by-chartpress"
    assert defaults["metrics"]["collector"]["prometheusScrapeAnnotation"] is True
    assert defaults["metrics"]["collector"]["port"] == 12120
    template = (chart_dir(charts.CRYPTNONO) / "templates" / "daemonset.yaml").read_text()
    assert "hostPID: true" in template
    assert 'prometheus.io/scrape: "true"' in template


def test_more_banned_strings_go_into_their_own_execwhacker_config() -> None:
    cfg = _cfg(cryptnono={"bannedCommandStrings": ["xmrig-proxy", "--donate-level"]})
    values = cryptnono_values(cfg.cryptnono, dind=True, metrics=True)
    assert values["detectors"]["execwhacker"]["configs"] == {
        "binder": {"bannedCommandStrings": ["xmrig-proxy", "--donate-level"]}
    }
    assert release_problems(charts.CRYPTNONO, values) == []


def test_a_short_banned_string_is_refused_by_name() -> None:
    from components.config.base import ConfigError

    with pytest.raises(ConfigError) as info:
        _cfg(cryptnono={"bannedCommandStrings": ["a"]})
    assert "binder:cryptnono.bannedCommandStrings" in str(info.value)
    assert "too short" in str(info.value)
