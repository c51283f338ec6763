"""Issue 22, item 5: quotas that fit the cluster (components/releases/quota.py): the derived
global quota, per-repository raises with an expiry date, the build pods' maximum age and idle
kernels culled inside each server."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.config.service import byte_spec_value
from components.releases.limits import GIB, gce_machine, gke_allocatable
from components.releases.plan import plan_releases
from components.releases.quota import culling_args, derive_total_quota
from tests.chart_data import chart_dir
from tests.release_fixtures import BASE_CONFIG, RELEASE, config, user_values
from tests.stack_runs import recorded_stack
from tools.mockrun import run_program

TODAY = date(2026, 12, 7)


def _binderhub_values(rec: Any) -> dict[str, Any]:
    [release] = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "binderhub"]
    return user_values(release)


def _plan(**binderhub: Any) -> Any:
    hub = {"host": "binder.example.org", "hubHost": "hub.example.org", **binderhub}
    return plan_releases(config(binderhub=hub), "gcp", today=TODAY)


def _plan_with_logs(**binderhub: Any) -> tuple[Any, list[str]]:
    found: dict[str, Any] = {}
    rec = run_program(lambda: found.setdefault("plan", _plan(**binderhub)))
    return found["plan"], rec.logs


# ---- the derived global quota --------------------------------------------------------------


def test_the_gcp_stack_gets_a_global_quota_from_its_user_pool() -> None:
    rec = recorded_stack("gcp")
    quota = _binderhub_values(rec)["config"]["LaunchQuota"]["total_quota"]
    # The arithmetic, independently: n2-highmem-4 (4 vCPUs, 32 GiB) less GKE's reservations,
    # less dind (1 CPU, 4Gi), the BuildKit pruner (10m, 32Mi) and Fluentd's requests; user
    # pods guarantee 0.5 CPU and 1G (2**30 bytes, JupyterHub's ByteSpecification); 20 nodes.
    machine = gce_machine("n2-highmem-4")
    assert machine == (4.0, 32 * GIB)
    cpus, memory = gke_allocatable(*machine)
    fluentd_cpu, fluentd_memory = 0.05, 200 * 2**20  # helm_configs/base/fluentd.yaml
    # helm_configs/base/cryptnono.yaml: execwhacker, monero, flowkiller, collector.
    cryptnono_cpu, cryptnono_memory = 0.02 + 0.01 + 0.01 + 0.01, (128 + 96 + 96 + 64) * 2**20
    free_cpu = cpus - 1 - 0.01 - fluentd_cpu - cryptnono_cpu
    free_memory = memory - 4 * GIB - 32 * 2**20 - fluentd_memory - cryptnono_memory
    per_node = min(math.floor(free_cpu / 0.5), math.floor(free_memory / GIB))
    assert quota == 20 * per_node
    [note] = [line for line in rec.logs if "global launch quota" in line]
    assert f"global launch quota {quota} " in note
    assert "20 user nodes (userPool.autoscaling.maxNodes)" in note
    assert "dind, the BuildKit pruner, fluentd, cryptnono request 1.11 CPUs" in note
    assert (per_node, quota) == (5, 100)  # CPU-bound: 2.81 CPUs / 0.5


def test_fluentds_requests_are_what_the_arithmetic_assumed() -> None:
    from tests import fast_yaml
    from tests.conftest import REPO

    fluentd = fast_yaml.safe_load((REPO / "helm_configs/base/fluentd.yaml").read_text())
    assert fluentd["resources"]["requests"] == {"cpu": "50m", "memory": "200Mi"}


def test_the_quota_is_bounded_by_the_scarcer_resource() -> None:
    hub = config(
        binderhub={
            "host": "b.example.org",
            "hubHost": "h.example.org",
            "userResources": {
                "cpu": {"guarantee": 0.1, "limit": 1},
                "memory": {"guarantee": "8G", "limit": "8G"},
            },
            "limits": {"userNode": {"cpu": 16, "memory": "64Gi"}, "userNodeCount": 3},
        }
    )
    assert hub.binderhub is not None
    derived = derive_total_quota(hub.binderhub, hub.cluster, [("dind", 1.0, 4 * GIB)])
    assert derived is not None
    # 60 GiB / 8 GiB = 7 pods (memory), not 150 (CPU), on each of 3 nodes.
    assert (derived.per_node, derived.nodes, derived.total) == (7, 3, 21)
    assert "binder:binderhub.limits.userNodeCount" in derived.explanation
    assert byte_spec_value("8G") == 8 * GIB


def test_total_pods_overrides_the_derived_quota() -> None:
    plan, logs = _plan_with_logs(limits={"totalPods": 40})
    assert plan.binderhub.limits.total_pods == 40
    assert not [line for line in logs if "global launch quota" in line]


def test_a_public_stack_whose_user_nodes_are_unknown_is_warned() -> None:
    rec = recorded_stack("local")  # ebi gives its quota as a federation member
    [warning] = [line for line in rec.logs if "no global launch quota" in line]
    assert warning.startswith("warn")
    assert "limits.userNode" in warning
    assert "limits.totalPods" in warning
    assert "LaunchQuota" not in _binderhub_values(rec)["config"]


# ---- per-repository raises -----------------------------------------------------------------

RAISES = [
    {"pattern": "^ipython/ipython-in-depth.*", "quota": 300, "until": "2026-12-24",
     "reason": "workshop, https://example.org/issue/1"},
    {"pattern": "^old-class/.*", "quota": 150, "until": "2026-12-06"},
    {"pattern": "^today/.*", "quota": 120, "until": "2026-12-07"},
]


def test_raises_reach_every_provider_and_expired_ones_are_dropped_with_a_warning() -> None:
    plan, logs = _plan_with_logs(limits={"quotaRaises": RAISES})
    kept = [r.pattern for r in plan.binderhub.limits.quota_raises]
    assert kept == ["^ipython/ipython-in-depth.*", "^today/.*"]  # the last day still counts
    [warning] = [line for line in logs if "expired" in line]
    assert warning.startswith("warn")
    assert "binder:binderhub.limits.quotaRaises[1] ('^old-class/.*', quota 150)" in warning
    assert "expired on 2026-12-06" in warning


def test_raises_become_repo_provider_spec_config() -> None:
    from components.releases.quota import quota_values

    plan = _plan(limits={"quotaRaises": RAISES})
    config_values = quota_values(plan.binderhub.limits)["config"]
    assert config_values["RepoProvider"]["spec_config"] == [
        {"pattern": "^ipython/ipython-in-depth.*", "config": {"quota": 300}},
        {"pattern": "^today/.*", "config": {"quota": 120}},
    ]


@pytest.mark.parametrize(
    ("raise_", "words"),
    [
        ({"pattern": "^(unclosed", "quota": 1, "until": "2026-12-24"},
         "'^(unclosed' is not a regular expression"),
        ({"pattern": "^a/.*", "quota": 1, "until": "24/12/2026"}, "quotaRaises[0].until"),
        ({"pattern": "^a/.*", "quota": -1, "until": "2026-12-24"}, "quotaRaises[0].quota"),
        ({"pattern": "^a/.*", "quota": 1}, "quotaRaises[0].until"),
    ],
)
def test_a_bad_raise_is_refused_by_name(raise_: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        _plan(limits={"quotaRaises": [raise_]})
    message = str(info.value)
    assert "binder:binderhub.limits.quotaRaises" in message
    assert words in message


# ---- build age and culling -----------------------------------------------------------------


def test_build_pods_live_an_hour_as_on_mybinder(ebi_values: dict[str, Any]) -> None:
    assert ebi_values["config"]["KubernetesCleaner"] == {"max_age": 3600}


@pytest.fixture(scope="module")
def ebi_values() -> dict[str, Any]:
    return _binderhub_values(recorded_stack("ebi"))


def test_idle_kernels_are_culled_inside_the_server(ebi_values: dict[str, Any]) -> None:
    args = ebi_values["jupyterhub"]["hub"]["config"]["BinderSpawner"]["args"]
    assert args == [
        "--MappingKernelManager.cull_idle_timeout=600",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_connected=True",
        "--ServerApp.shutdown_no_activity_timeout=600",
        "--NotebookApp.shutdown_no_activity_timeout=600",
    ]
    # The base values file's BinderSpawner setting is kept beside it.
    assert ebi_values["jupyterhub"]["hub"]["config"]["BinderSpawner"]["cors_allow_origin"] == "*"


def test_culling_can_be_switched_off() -> None:
    plan = _plan(limits={"idleCulling": {"enabled": False}})
    assert culling_args(plan.binderhub.limits.idle_culling) == []


def test_the_chart_spawner_appends_our_args_to_the_servers_command_line() -> None:
    """BinderSpawnerMixin (embedded in the binderhub chart's values.yaml, the hub's
    extraConfig) appends ``self.args`` and copies ``--NotebookApp.`` options to
    ``--ServerApp.``; z2jh's hub.config applies our ``BinderSpawner`` section."""
    text = (chart_dir(charts.BINDERHUB) / "values.yaml").read_text()
    assert "args += self.args" in text
    assert re.search(r'arg\.replace\("--NotebookApp\.", "--ServerApp\."\)', text)
    assert "class BinderSpawner(BinderSpawnerMixin, KubeSpawner)" in text
    hub_config = (
        chart_dir(charts.BINDERHUB) / "charts" / "jupyterhub" / "files" / "hub"
        / "jupyterhub_config.py"
    ).read_text()
    assert 'get_config("hub.config"' in hub_config


def test_base_config_has_no_global_quota_setting_left_unset_by_accident() -> None:
    # BASE_CONFIG is a GKE stack: its quota is derived too.
    assert "totalPods" not in BASE_CONFIG["binderhub"].get("limits", {})
    assert _plan().binderhub.limits.total_pods is not None


def test_the_e2e_stack_derives_its_quota_from_the_simulated_nodes() -> None:
    rec = recorded_stack("e2e")
    [release] = [
        r for r in rec.of_type(RELEASE) if str(r.inputs.get("chart", "")).endswith("binderhub")
        or "binderhub/" in str(r.inputs.get("chart", ""))
    ]
    # 2 nodes x min(floor((16 - 1.06) / 0.5), floor((64 - 4.2) GiB / 1 GiB)) = 2 x 29.
    assert user_values(release)["config"]["LaunchQuota"] == {"total_quota": 58}
    assert not [line for line in rec.logs if line.startswith("warn")]
