"""The GKE cluster component on the mock engine: the real inputs it sends."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.cluster.gke import AUTH_PLUGIN, GkeKubernetesCluster, GkeKubernetesClusterArgs
from components.config.base import ConfigError
from components.config.cluster import GkeCluster
from components.config.stack import parse_config
from tests import fast_yaml
from tests.components.config.test_stack import stack_binder_config, with_change
from tools.mockrun import Recording, run_program


def gke_config(raw: dict[str, Any] | None = None) -> GkeCluster:
    cluster = parse_config(raw or stack_binder_config("gcp")).cluster
    assert isinstance(cluster, GkeCluster)
    return cluster


def record(cluster: GkeCluster) -> Recording:
    def program() -> None:
        component = GkeKubernetesCluster(
            "cluster",
            GkeKubernetesClusterArgs(config=cluster, project="proj-1", location="europe-west1"),
        )
        pulumi.export("kubeconfig", component.kubeconfig)
        pulumi.export("endpoint", component.endpoint)
        pulumi.export("ca", component.ca_data)

    return run_program(program, stack="gcp")


@pytest.fixture(scope="module")
def rec() -> Recording:
    return record(gke_config())


def test_default_pool_removed_and_channel(rec: Recording) -> None:
    cluster = rec.one("gcp:container/cluster:Cluster")
    assert cluster.inputs["removeDefaultNodePool"] is True
    assert cluster.inputs["initialNodeCount"] == 1
    assert cluster.inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert cluster.inputs["minMasterVersion"] == "1.36"
    assert cluster.inputs["location"] == "europe-west1"
    assert cluster.inputs["workloadIdentityConfig"] == {"workloadPool": "proj-1.svc.id.goog"}


def test_network_and_private_nodes(rec: Recording) -> None:
    cluster = rec.one("gcp:container/cluster:Cluster").inputs
    assert cluster["network"] == "binder-vpc"
    assert cluster["subnetwork"] == "binder-europe-west1"
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "binder-pods",
        "servicesSecondaryRangeName": "binder-services",
    }
    assert cluster["privateClusterConfig"] == {
        "enablePrivateNodes": True,
        "enablePrivateEndpoint": False,
        "masterIpv4CidrBlock": "172.16.0.32/28",
    }


def test_pools_labels_taints_autoscaling(rec: Recording) -> None:
    core = rec.one("gcp:container/nodePool:NodePool", "cluster-core").inputs
    user = rec.one("gcp:container/nodePool:NodePool", "cluster-user").inputs
    assert core["nodeConfig"]["labels"] == {"hub.jupyter.org/node-purpose": "core"}
    assert user["nodeConfig"]["labels"] == {"hub.jupyter.org/node-purpose": "user"}
    # The taint z2jh's user pods tolerate by default, and only on the user pool.
    assert user["nodeConfig"]["taints"] == [
        {"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NO_SCHEDULE"}
    ]
    assert core["nodeConfig"].get("taints", []) == []
    assert core["autoscaling"]["totalMinNodeCount"] == 1
    assert core["autoscaling"]["totalMaxNodeCount"] == 3
    assert user["autoscaling"]["totalMinNodeCount"] == 0
    assert user["autoscaling"]["totalMaxNodeCount"] == 20
    assert user["nodeConfig"]["machineType"] == "n2-highmem-4"
    assert user["nodeConfig"]["diskSizeGb"] == 200
    assert user["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_protected_and_autoscaler_owns_counts(rec: Recording) -> None:
    for res in rec.of_type("gcp:container/nodePool:NodePool"):
        assert res.protect
        assert sorted(res.ignore_changes) == ["initialNodeCount", "nodeCount"]
    cluster = rec.one("gcp:container/cluster:Cluster")
    assert cluster.protect
    assert cluster.inputs["deletionProtection"] is True
    # Pools hang off the component, and wait for the cluster they join.
    component = rec.one("binder:cluster_gke:GkeKubernetesCluster")
    for res in rec.of_type("gcp:container/nodePool:NodePool"):
        assert res.parent == component.urn
        assert cluster.urn in res.dependencies


def test_cloud_nat_for_private_nodes() -> None:
    rec = record(gke_config(with_change("gcp", "cluster.network.cloudNat", True)))
    router = rec.one("gcp:compute/router:Router")
    nat = rec.one("gcp:compute/routerNat:RouterNat")
    assert router.inputs["region"] == "europe-west1"
    assert router.inputs["network"] == "binder-vpc"
    assert nat.inputs["router"] == router.inputs["name"]
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert router.protect
    assert nat.protect


def test_no_nat_when_the_vpc_has_one(rec: Recording) -> None:
    assert rec.of_type("gcp:compute/routerNat:RouterNat") == []  # the example's VPC has one


def test_google_groups_and_version_floor(rec: Recording) -> None:
    cluster = rec.one("gcp:container/cluster:Cluster")
    assert cluster.inputs["authenticatorGroupsConfig"] == {
        "securityGroup": "gke-security-groups@example.org"
    }
    # Only the deleted default pool's creation settings are ignored. Raising
    # kubernetesVersion must reach GKE: the floor is not ignored.
    assert sorted(cluster.ignore_changes) == ["initialNodeCount", "nodeConfig"]


def test_region_of_a_zonal_location() -> None:
    from components.cluster.gke import gcp_region

    assert gcp_region("europe-west1-b") == "europe-west1"
    assert gcp_region("europe-west1") == "europe-west1"
    assert gcp_region("us-central1-a") == "us-central1"


def test_throwaway_stack_is_unprotected() -> None:
    rec = record(gke_config(with_change("gcp", "cluster.protect", False)))
    for type_ in ("gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool"):
        for res in rec.of_type(type_):
            assert not res.protect
    assert rec.one("gcp:container/cluster:Cluster").inputs["deletionProtection"] is False


def test_public_nodes_have_no_private_config() -> None:
    rec = record(gke_config(with_change("gcp", "cluster.network.privateNodes", False)))
    assert "privateClusterConfig" not in rec.one("gcp:container/cluster:Cluster").inputs
    assert rec.of_type("gcp:compute/router:Router") == []  # public nodes need no NAT


def test_kubeconfig_uses_auth_plugin_and_is_secret(rec: Recording) -> None:
    assert rec.secret_output("kubeconfig")
    kubeconfig = fast_yaml.safe_load(rec.outputs["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert set(user) == {"exec"}, "no static token or client certificate"
    assert user["exec"]["command"] == AUTH_PLUGIN
    assert "installHint" in user["exec"]
    cluster = kubeconfig["clusters"][0]["cluster"]
    assert cluster["server"] == "https://203.0.113.10"
    assert cluster["certificate-authority-data"] == rec.outputs["ca"]
    assert rec.outputs["endpoint"] == "https://203.0.113.10"
    assert kubeconfig["current-context"] == "gke_proj-1_europe-west1_binder-gcp"
    provider = rec.one("pulumi:providers:kubernetes")
    assert provider.wire["kubeconfig"]["value"] == rec.outputs["kubeconfig"]
    assert rec.outputs_wire["kubeconfig"] != rec.outputs["kubeconfig"]  # wrapped as secret


# ---- node identity (issue 20) ------------------------------------------------------------


def test_nodes_run_as_a_dedicated_least_privilege_account(rec: Recording) -> None:
    """Never the Compute Engine default account (often Editor on the project): an account of
    the stack's own with GKE's node role only; the same for the short-lived default pool."""
    (account,) = rec.of_type("gcp:serviceaccount/account:Account")
    assert account.inputs["accountId"] == "binder-gcp-nodes"
    assert account.inputs["project"] == "proj-1"
    email = "binder-gcp-nodes@proj-1.iam.gserviceaccount.com"
    roles = {r.inputs["role"]: r.inputs["member"]
             for r in rec.of_type("gcp:projects/iAMMember:IAMMember")}
    assert roles == {"roles/container.defaultNodeServiceAccount": f"serviceAccount:{email}"}
    cluster = rec.one("gcp:container/cluster:Cluster").inputs
    assert cluster["nodeConfig"]["serviceAccount"] == email
    pools = rec.of_type("gcp:container/nodePool:NodePool")
    assert len(pools) == 2
    for pool in pools:
        assert pool.inputs["nodeConfig"]["serviceAccount"] == email
        assert pool.inputs["nodeConfig"]["oauthScopes"] == [
            "https://www.googleapis.com/auth/cloud-platform"]


def test_a_node_account_of_your_own_is_used_as_given() -> None:
    email = "gke-nodes@proj-1.iam.gserviceaccount.com"
    rec = record(gke_config(with_change("gcp", "cluster.nodeServiceAccount", email)))
    assert rec.of_type("gcp:serviceaccount/account:Account") == []
    assert rec.of_type("gcp:projects/iAMMember:IAMMember") == []
    for pool in rec.of_type("gcp:container/nodePool:NodePool"):
        assert pool.inputs["nodeConfig"]["serviceAccount"] == email


def test_the_compute_engine_default_account_is_refused() -> None:
    from components.config.base import ConfigError

    bad = with_change("gcp", "cluster.nodeServiceAccount",
                      "123456789012-compute@developer.gserviceaccount.com")
    with pytest.raises(ConfigError, match="Editor grant reaches the whole project"):
        parse_config(bad)


def test_an_account_id_is_valid_for_any_cluster_name() -> None:
    for name, expected in (("binder-gcp", "binder-gcp-nodes"), ("9b", "n9b-nodes"),
                           ("a" * 40, "a" * 24 + "-nodes")):
        cluster = gke_config(with_change("gcp", "cluster.name", name))
        assert cluster.node_account_id == expected
        assert 6 <= len(expected) <= 30


@pytest.mark.parametrize(("key", "ack", "words"), [
    ("dataplaneV2", "acceptNoNetworkPolicies", "GKE would enforce no NetworkPolicy"),
    ("workloadIdentity", "acceptNodeMetadataExposure", "node service account's token"),
])
def test_turning_off_a_protection_must_be_acknowledged(key: str, ack: str, words: str) -> None:
    from components.config.base import ConfigError

    off = with_change("gcp", f"cluster.{key}", False)
    with pytest.raises(ConfigError) as info:
        parse_config(off)
    assert words in str(info.value)
    assert f"set {ack}: true" in str(info.value)
    acknowledged = with_change("gcp", f"cluster.{ack}", True)
    acknowledged["cluster"][key] = False
    assert getattr(parse_config(acknowledged).cluster, "accept_no_network_policies"
                   if key == "dataplaneV2" else "accept_node_metadata_exposure") is True
# ---- maintenance: when GKE upgrades, and how it drains (issue 21, item 6) --------------


def test_upgrades_only_in_the_weekly_window(rec: Recording) -> None:
    policy = rec.one("gcp:container/cluster:Cluster").inputs["maintenancePolicy"]
    assert policy == {
        "recurringWindow": {
            "startTime": "2025-01-06T01:00:00Z",
            "endTime": "2025-01-06T07:00:00Z",
            "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
        }
    }


def test_pools_surge_a_new_node_before_draining_one(rec: Recording) -> None:
    for pool in ("cluster-core", "cluster-user"):
        settings = rec.one("gcp:container/nodePool:NodePool", pool).inputs["upgradeSettings"]
        assert settings == {"strategy": "SURGE", "maxSurge": 1, "maxUnavailable": 0}


@pytest.mark.parametrize(
    ("window", "message"),
    [
        # GKE: at least 48 hours in any 32 days, counting windows of 4 hours or more.
        ({"start": "01:00", "hours": 5, "days": ["SA", "SU"]}, "40 hours"),
        ({"start": "01:00", "hours": 3, "days": ["MO", "TU", "WE", "TH", "FR"]}, "4"),
        ({"start": "25:00", "hours": 6, "days": ["SA"]}, "maintenanceWindow.start"),
    ],
)
def test_a_window_gke_would_refuse_is_refused(window: dict[str, Any], message: str) -> None:
    raw = with_change("gcp", "cluster.maintenanceWindow", window)
    with pytest.raises(ConfigError, match=message):
        gke_config(raw)


def test_an_upgrade_that_cannot_move_is_refused() -> None:
    raw = with_change("gcp", "cluster.userPool.upgrade", {"maxSurge": 0, "maxUnavailable": 0})
    with pytest.raises(ConfigError, match="could never upgrade"):
        gke_config(raw)
