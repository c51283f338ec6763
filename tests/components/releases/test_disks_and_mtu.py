"""Disks and MTU (issue 21, item 5): the image cleaner never in a cordon-and-wipe loop,
BuildKit's cache against the user nodes' disk, Prometheus' retention size below its volume, and
dind's MTU per stack no larger than the pod network's. Chart and cleaner facts are pinned
against the pinned charts here."""

from __future__ import annotations

from typing import Any

import pytest

from components.catalog import charts
from components.config.service import BuilderConfig
from components.releases.builder import (
    builder_problems,
    cache_gib,
    dind_mtu,
    image_cleaner_values,
    user_node_disk,
)
from components.releases.monitoring import RETENTION_SHARE, retention_size
from tests.chart_data import chart_dir, chart_values, release_problems
from tests.release_fixtures import BASE_CONFIG, RELEASE, config, user_values
from tests.stack_runs import recorded_stack

MAGNUM: dict[str, Any] = {
    "provider": "magnum",
    "name": "t",
    "template": {
        "image": "ubuntu-jammy-kube-v1.36.3", "osDistro": "ubuntu", "masterFlavor": "m",
        "flavor": "f", "externalNetwork": "ext", "keypair": "k",
        "labels": {"capi_helm_chart_version": "0.27.0", "boot_volume_size": "100"},
    },
    "nodeGroups": [{"name": "user", "purpose": "user"}],
}
EXISTING = {"provider": "existing", "name": "t"}


def _release(stack: str, chart: str) -> dict[str, Any]:
    rec = recorded_stack(stack)
    [release] = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == chart]
    return user_values(release)


# ---- MTU -----------------------------------------------------------------------------


def test_each_stack_gives_dind_the_pod_networks_mtu() -> None:
    for stack, mtu in (("ebi", 1400), ("gcp", 1460)):
        args = _release(stack, "binderhub")["dind"]["daemonset"]["extraArgs"]
        assert f"--mtu={mtu}" in args, stack


def test_the_chart_passes_extra_args_to_dockerd() -> None:
    template = chart_dir(charts.BINDERHUB) / "templates/container-builder/daemonset.yaml"
    text = template.read_text()
    assert "- dockerd" in text
    assert "$daemonset.extraArgs" in text


def test_magnum_needs_an_mtu_below_its_overlay() -> None:
    cfg = config(cluster=MAGNUM)
    [problem] = builder_problems(BuilderConfig(), cfg.cluster)
    assert "binder:binderhub.builder.mtu: not set" in problem
    assert "openstack network show" in problem
    assert builder_problems(BuilderConfig(mtu=1450), cfg.cluster) == []
    [too_big] = builder_problems(BuilderConfig(mtu=1500), cfg.cluster)
    assert "(1500)" in too_big
    assert "at most 1450" in too_big


def test_gke_defaults_to_the_vpc_default_mtu() -> None:
    gke = config().cluster
    assert dind_mtu(BuilderConfig(), gke) == 1460
    assert dind_mtu(BuilderConfig(mtu=1500), gke) == 1500  # a VPC set to 1500
    assert dind_mtu(BuilderConfig(), config(cluster=EXISTING).cluster) is None


# ---- BuildKit's cache against the disk ------------------------------------------------


def test_the_cache_may_take_at_most_half_a_user_nodes_disk() -> None:
    small = {**BASE_CONFIG["cluster"]}
    small["userPool"] = {**small["userPool"], "diskSizeGb": 80}
    cluster = config(cluster=small).cluster
    [problem] = builder_problems(BuilderConfig(cache_size="50GB"), cluster)
    # One message naming both keys.
    assert "binder:binderhub.builder.cacheSize (50GB)" in problem
    assert "binder:cluster.userPool.diskSizeGb (80 GB)" in problem
    assert builder_problems(BuilderConfig(cache_size="40GB"), cluster) == []
    magnum = config(cluster=MAGNUM).cluster
    assert user_node_disk(magnum) == (100, "binder:cluster.template.labels.boot_volume_size")
    assert user_node_disk(config(cluster=EXISTING).cluster) is None  # unknown: not checked


def test_cache_units_are_dockers_powers_of_1024() -> None:
    assert cache_gib("50GB") == 50
    assert cache_gib("512MB") == 0.5
    assert cache_gib("1TB") == 1024


# ---- the image cleaner ----------------------------------------------------------------


def test_the_image_cleaner_is_off_where_the_pruner_manages_dind() -> None:
    assert _release("ebi", "binderhub")["imageCleaner"] == {"enabled": False}
    assert _release("gcp", "binderhub")["imageCleaner"] == {"enabled": False}


def test_other_builders_clean_in_absolute_terms_and_cordon_only_with_a_user_pool() -> None:
    gke = config().cluster  # user pool, 100 GB disks by default
    values = image_cleaner_values("pink", BuilderConfig(), gke)
    assert values["cordon"] is True
    assert values["imageGCThresholdType"] == "absolute"
    assert values["imageGCThresholdHigh"] == 50 * 10**9
    assert values["imageGCThresholdHigh"] > 2**30  # the cleaner refuses less than 1 GB
    # A single-node partner cluster: never cordon its only node; its disk is unknown.
    single = image_cleaner_values("pink", BuilderConfig(), config(cluster=EXISTING).cluster)
    assert single == {"enabled": True, "cordon": False}
    assert release_problems(charts.BINDERHUB, {"imageCleaner": values}) == []


def test_the_charts_image_cleaner_settings() -> None:
    cleaner = chart_values(charts.BINDERHUB)["imageCleaner"]
    assert cleaner["image"]["tag"] == "1.0.0-beta.3"  # the cleaner.py the docstring cites
    assert {"cordon", "imageGCThresholdType", "imageGCThresholdHigh"} <= set(cleaner)
    text = (chart_dir(charts.BINDERHUB) / "templates/image-cleaner.yaml").read_text()
    assert "DOCKER_IMAGE_CLEANER_THRESHOLD_TYPE" in text


# ---- Prometheus -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["ebi", "gcp"])
def test_prometheus_stops_growing_below_its_volume(stack: str) -> None:
    server = _release(stack, "prometheus")["server"]
    volume_gib = 50  # helm_configs/base/prometheus.yaml server.persistentVolume.size
    assert server["retentionSize"] == f"{int(volume_gib * RETENTION_SHARE)}GB"
    assert chart_values(charts.PROMETHEUS)["server"]["retentionSize"] == ""
    assert retention_size("50Gi") == "40GB"
    assert retention_size(None) is None
