"""The Magnum cluster component on the mock engine: the real inputs it sends."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.cluster.magnum import MagnumKubernetesCluster, MagnumKubernetesClusterArgs
from components.config.cluster import MagnumCluster
from components.config.stack import parse_config
from tests.components.config.test_stack import stack_binder_config, with_change
from tools.mockrun import Recording, run_program


def magnum_config(raw: dict[str, Any] | None = None) -> MagnumCluster:
    cluster = parse_config(raw or stack_binder_config("ebi")).cluster
    assert isinstance(cluster, MagnumCluster)
    return cluster


def record(cluster: MagnumCluster) -> Recording:
    def program() -> None:
        component = MagnumKubernetesCluster("cluster", MagnumKubernetesClusterArgs(config=cluster))
        pulumi.export("kubeconfig", component.kubeconfig)
        pulumi.export("endpoint", component.endpoint)
        pulumi.export("ca", component.ca_data)
        pulumi.export("name", component.name)

    return run_program(program, stack="ebi")


@pytest.fixture(scope="module")
def rec() -> Recording:
    return record(magnum_config())


def test_template(rec: Recording) -> None:
    tpl = rec.one("openstack:containerinfra/clusterTemplate:ClusterTemplate").inputs
    assert tpl["coe"] == "kubernetes"
    assert tpl["image"] == "ubuntu-jammy-kube-v1.36.3"
    assert tpl["masterFlavor"] == "s1.large"
    assert tpl["flavor"] == "s1.jumbo"
    assert tpl["externalNetworkId"] == "ext-net-37"
    assert tpl["keypairId"] == "binder-ebi-admin"
    # The Cluster API drivers have no Docker volume: the Heat-era fields are not sent.
    assert "dockerVolumeSize" not in tpl
    assert "dockerStorageDriver" not in tpl
    assert "volumeDriver" not in tpl
    assert tpl["networkDriver"] == "calico"
    # capi-helm takes the version from the image (kube_version property), not kube_tag.
    assert "kube_tag" not in tpl["labels"]
    assert tpl["labels"]["boot_volume_size"] == "100"
    assert tpl["labels"]["octavia_provider"] == "amphora"


def test_cluster_counts_autoscaling_timeout(rec: Recording) -> None:
    res = rec.one("openstack:containerinfra/cluster:Cluster")
    assert res.inputs["masterCount"] == 3
    assert res.inputs["nodeCount"] == 2
    assert res.inputs["createTimeout"] == 90
    assert res.inputs["mergeLabels"] is True
    assert res.inputs["labels"] == {
        "auto_scaling_enabled": "true", "min_node_count": "2", "max_node_count": "4",
    }
    # The autoscaler owns the count; create_timeout is creation-only but forces replacement.
    assert sorted(res.ignore_changes) == ["createTimeout", "nodeCount"]
    assert res.custom_timeouts == {"create": "90m"}
    template = rec.one("openstack:containerinfra/clusterTemplate:ClusterTemplate")
    assert template.urn in res.dependencies


def test_user_node_group(rec: Recording) -> None:
    group = rec.one("openstack:containerinfra/nodeGroup:NodeGroup", "cluster-user")
    assert group.inputs["role"] == "user"
    assert group.inputs["minNodeCount"] == 1
    assert group.inputs["maxNodeCount"] == 10
    assert "dockerVolumeSize" not in group.inputs
    # Bounds travel as fields (updated in place); as labels they would replace the group.
    assert "min_node_count" not in group.inputs.get("labels", {})
    assert "max_node_count" not in group.inputs.get("labels", {})
    assert group.ignore_changes == ["nodeCount"]
    cluster = rec.one("openstack:containerinfra/cluster:Cluster")
    assert cluster.urn in group.dependencies


def test_everything_protected_by_default(rec: Recording) -> None:
    for res in rec.resources:
        if res.type.startswith("openstack:"):
            assert res.protect, res.name


def test_unprotected_without_autoscaler() -> None:
    raw = with_change("ebi", "cluster.protect", False)
    raw = {**raw, "cluster": {**raw["cluster"], "autoscaling": None}}
    raw["cluster"]["template"]["labels"].pop("auto_scaling_enabled")
    del raw["cluster"]["autoscaling"]
    rec = record(magnum_config(raw))
    cluster = rec.one("openstack:containerinfra/cluster:Cluster")
    assert not cluster.protect
    assert cluster.ignore_changes == ["createTimeout"]  # no autoscaler: the count is ours
    assert "min_node_count" not in cluster.inputs.get("labels", {})


def test_kubeconfig_is_magnums_and_secret(rec: Recording) -> None:
    assert rec.secret_output("kubeconfig")
    assert "server: https://192.0.2.10:6443" in rec.outputs["kubeconfig"]
    assert rec.outputs["endpoint"] == "https://192.0.2.10:6443"
    assert rec.outputs["name"] == "binder-ebi"
    import base64

    assert base64.b64decode(rec.outputs["ca"]).startswith(b"-----BEGIN CERTIFICATE-----")
