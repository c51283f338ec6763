"""Issue 22, item 7: two BinderHub pods for an anonymous Binder, sharing the build token key;
one with logins (components/releases/replicas.py)."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.base import ConfigError
from components.releases.plan import plan_releases
from components.releases.replicas import (
    ANONYMOUS_REPLICAS,
    binderhub_replicas,
    replica_values,
)
from tests.chart_data import chart_values
from tests.release_fixtures import BASE_CONFIG, PLAINTEXTS, config, user_values
from tools.mockrun import is_secret

GITHUB_AUTH = {"type": "github", "allowedOrganizations": ["bioexcel"]}


def _hub(**fields: Any) -> Any:
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], **fields})
    assert cfg.binderhub is not None
    return cfg.binderhub


def test_an_anonymous_binder_gets_two_pods_spread_over_nodes() -> None:
    hub = _hub()
    assert binderhub_replicas(hub) == ANONYMOUS_REPLICAS == 2
    layer = replica_values(hub)
    assert layer["replicas"] == 2
    [term] = layer["extraPodSpec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    # The chart's own pod labels (templates/deployment.yaml), so the term matches the pods.
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
        "app": "binder",
        "component": "binder",
    }


def test_a_binder_with_logins_keeps_one_pod() -> None:
    hub = _hub(auth=GITHUB_AUTH)
    assert binderhub_replicas(hub) == 1
    assert replica_values(hub) == {"replicas": 1}


def test_one_pod_can_be_chosen_and_gets_no_spreading() -> None:
    assert replica_values(_hub(replicas=1)) == {"replicas": 1}
    assert replica_values(_hub(replicas=3))["replicas"] == 3


@pytest.mark.parametrize("replicas", [0, 6])
def test_replicas_out_of_range_are_refused(replicas: int) -> None:
    with pytest.raises(ConfigError, match=r"binder:binderhub\.replicas"):
        _hub(replicas=replicas)


def test_more_than_one_pod_with_logins_is_refused_with_the_reason() -> None:
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], "auth": GITHUB_AUTH, "replicas": 2})
    with pytest.raises(ConfigError) as err:
        plan_releases(cfg, "gcp")
    message = str(err.value)
    assert "binder:binderhub.replicas is 2" in message
    assert "auth.type is 'github'" in message
    assert "cookie secret" in message
    assert "set replicas to 1" in message


def test_the_chart_takes_replicas_and_keeps_a_disruption_budget() -> None:
    """The chart's defaults we rely on: a PodDisruptionBudget letting one pod go at a time
    (so a drain never takes both), and ``extraPodSpec`` for the affinity."""
    from components.catalog import charts

    defaults = chart_values(charts.BINDERHUB)
    assert defaults["pdb"] == {"enabled": True, "maxUnavailable": 1, "minAvailable": None}
    assert defaults["extraPodSpec"] == {}


def test_every_pod_gets_the_same_build_token_key_as_a_secret() -> None:
    """The generated key reaches BinderHub's config (the chart's Secret binder-secret), as a
    secret, on the anonymous program; without it each pod would draw its own."""
    from components.releases.binderhub import binderhub_secret_values
    from tests.release_fixtures import fake_secrets

    secrets = fake_secrets()
    layer = binderhub_secret_values(secrets)
    found = layer["config"]["BinderHub"]["build_token_secret"]
    assert found is secrets.build_token_secret


def test_the_release_carries_replicas_and_the_key() -> None:
    from components.catalog import charts
    from tests.components.releases.test_binderhub import binderhub
    from tests.release_fixtures import release_of

    release = release_of(binderhub(), charts.BINDERHUB)
    values = user_values(release)
    assert values["replicas"] == 2
    assert values["config"]["BinderHub"]["build_token_secret"] == PLAINTEXTS["build_token"]
    assert is_secret(release.wire["values"]["config"]["BinderHub"]["build_token_secret"])


def test_a_values_file_that_sets_replicas_is_refused_naming_the_setting() -> None:
    from components.releases.owned_values import owned_problems

    [problem] = owned_problems("binderhub", {"replicas": 3}, "helm_configs/gcp/binderhub.yaml")
    assert "binder:binderhub.replicas" in problem
