"""A member stack of the federation (ebi, gcp): its BinderHub points badges and launch links
at the front door and has a quota, and the stack exports what the federation stack reads."""

from __future__ import annotations

import pytest
import yaml

from components.catalog.charts import BINDERHUB, JUPYTERHUB_SUBCHART, PROMETHEUS
from tests.release_fixtures import release_of, user_values
from tests.stack_runs import recorded_stack


@pytest.mark.parametrize(("stack", "quota"), [("ebi", 50), ("gcp", 100), ("local", None)])
def test_member_values_and_exports(stack: str, quota: int | None) -> None:
    rec = recorded_stack(stack)
    hub = user_values(release_of(rec, BINDERHUB))["config"]["BinderHub"]
    member = stack != "local"
    assert (hub.get("badge_base_url") == "https://binder.example.org/") is member
    assert (hub.get("normalized_origin") == "binder.example.org") is member
    assert (hub.get("cors_allow_origin") == "https://binder.example.org") is member
    assert rec.outputs.get("launch_quota") == quota  # None is not exported
    assert rec.outputs.get("federation_front_door") == (
        "https://binder.example.org" if member else None)
    assert rec.outputs["versions"] == {BINDERHUB.chart: BINDERHUB.version,
                                       JUPYTERHUB_SUBCHART.chart: JUPYTERHUB_SUBCHART.version}
    hosting = rec.outputs["front_door_hosting"]
    assert hosting["ingressClass"]
    assert set(hosting["tls"]) == {"source", "clusterIssuer"}
    if quota is not None:
        quota_config = user_values(release_of(rec, BINDERHUB))["config"]["LaunchQuota"]
        assert quota_config["total_quota"] == quota


def test_the_prime_scrapes_the_front_door() -> None:
    """gcp (monitor: true) scrapes the front door's /metrics as job `federation`, the job the
    FederationFrontDoorDown alert reads; ebi does not (one Alertmanager reports it)."""
    def jobs(stack: str) -> dict[str, dict[str, object]]:
        values = user_values(release_of(recorded_stack(stack), PROMETHEUS))
        return {job["job_name"]: job for job in yaml.safe_load(values["extraScrapeConfigs"])}

    federation = jobs("gcp")["federation"]
    assert federation == {"job_name": "federation", "scheme": "https", "metrics_path": "/metrics",
                          "static_configs": [{"targets": ["binder.example.org"]}]}
    assert set(jobs("ebi")) == {"jupyterhub", "binderhub"}


def test_a_member_without_a_quota_is_refused_before_any_resource() -> None:
    """ebi's user node size is not in its stack file, so nothing derives its quota: without
    limits.totalPods the plan refuses it as a member (gcp's is derived: 100, above)."""
    import copy

    from components.config.base import ConfigError
    from tests.components.config.test_stack import stack_binder_config
    from tools.mockrun import Recording, run_stack

    binderhub = copy.deepcopy(stack_binder_config("ebi")["binderhub"])
    binderhub["limits"].pop("totalPods")
    recording = Recording()
    with pytest.raises(ConfigError, match=r"a member needs a global launch quota"):
        run_stack("ebi", overrides={"binder:binderhub": binderhub}, recording=recording)
    assert recording.resources == []
