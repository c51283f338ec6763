"""The whole program per committed stack, loaded as the engine loads Pulumi.<stack>.yaml."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from components.config.base import ConfigError
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording, run_stack, stack_config

STACKS = ["e2e", "ebi", "gcp", "local", "staging"]


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> tuple[str, Recording]:
    return request.param, recorded_stack(request.param)


def test_stack_outputs(stack_run: tuple[str, Recording]) -> None:
    stack, rec = stack_run
    assert rec.outputs["cluster_name"] == {
        "e2e": "binder-e2e", "ebi": "binder-ebi", "gcp": "binder-gcp",
        "staging": "binder-staging",
    }.get(stack, "local")
    assert rec.outputs["cluster_endpoint"].startswith("https://")
    assert rec.secret_output("kubeconfig")


def test_every_credential_output_is_secret(stack_run: tuple[str, Recording]) -> None:
    _, rec = stack_run
    for name in rec.outputs:
        if "kubeconfig" in name or "token" in name or "password" in name:
            assert rec.secret_output(name), f"stack output {name} carries a credential"


def test_one_kubernetes_provider_from_the_cluster(stack_run: tuple[str, Recording]) -> None:
    _, rec = stack_run
    provider = rec.one("pulumi:providers:kubernetes")
    # Server-side apply: the charts' controllers co-own fields without update fights.
    assert provider.inputs["enableServerSideApply"] in (True, "true")
    cluster_component = next(r for r in rec.resources if r.type.startswith("binder:cluster"))
    assert provider.parent == cluster_component.urn
    # Every in-cluster object goes through that provider, never the ambient kubeconfig.
    for res in rec.resources:
        if res.type.startswith("kubernetes:") and res.custom:
            assert res.provider.startswith(provider.urn), res.name


def test_secure_values_are_loaded_as_secrets(tmp_path: os.PathLike[str]) -> None:
    """`secure:` entries of a stack file reach the program as secret config."""
    config, secret_keys = stack_config(
        "local", overrides={"binder:kubeconfig": {"secure": "v1:abc"}}
    )
    assert secret_keys == ["binder:kubeconfig"]
    assert config["binder:kubeconfig"] == "test-secret-for-binder-kubeconfig"
    assert json.loads(config["binder:cluster"])["provider"] == "existing"


def test_bad_config_registers_nothing() -> None:
    recording = Recording()
    with pytest.raises(ConfigError, match=r"binder:cluster\.corePool\.machineTyp"):
        run_stack(
            "gcp",
            overrides={
                "binder:cluster": {
                    "provider": "gke", "name": "x",
                    "corePool": {"machineTyp": "e2", "autoscaling": {"maxNodes": 2}},
                    "userPool": {"machineType": "e2", "autoscaling": {"maxNodes": 2}},
                }
            },
            recording=recording,
        )
    assert recording.resources == []


def test_gke_needs_project_before_any_resource() -> None:
    recording = Recording()
    with pytest.raises(ConfigError, match="gcp:project is not set"):
        run_stack("gcp", overrides={"gcp:project": None}, recording=recording)
    assert recording.resources == []


def test_secret_on_a_plain_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="binder:registry is a secret"):
        run_stack("gcp", secrets={"binder:registry": '{"prefix": "x"}'})


def _imported_sdks(forked_renders: list[dict[str, Any]], stack: str) -> set[str]:
    """The provider SDKs a render of ``stack`` loaded, in a process of its own that imported
    neither cloud SDK before it began (tests/forked_renders.py). The render runs the whole
    program, so what it avoids the program avoids too."""
    results = [r for r in forked_renders if r["stack"] == stack]
    assert results, stack
    for result in results:
        assert result["returncode"] == 0, result["stderr"]
    return {m for r in results for m in r["modules"] if m.startswith("pulumi_")}


def test_ebi_never_imports_gcp(forked_renders: list[dict[str, Any]]) -> None:
    sdks = _imported_sdks(forked_renders, "ebi")
    assert "pulumi_openstack" in sdks
    assert "pulumi_gcp" not in sdks


def test_gcp_never_imports_openstack(forked_renders: list[dict[str, Any]]) -> None:
    sdks = _imported_sdks(forked_renders, "gcp")
    assert "pulumi_gcp" in sdks
    assert "pulumi_openstack" not in sdks


# ---- issue 10: releases wait for the nodes that run them ---------------------------------

NODE_TYPES = {
    "ebi": {"openstack:containerinfra/nodeGroup:NodeGroup"},
    "gcp": {"gcp:container/nodePool:NodePool"},
    "staging": {"gcp:container/nodePool:NodePool"},
}


def test_kubernetes_provider_waits_for_every_node_pool(stack_run: tuple[str, Recording]) -> None:
    """Asserted on the registered dependencies: the provider, hence every in-cluster resource
    and release, waits for the pools/groups (on GKE the default pool is deleted at once)."""
    stack, rec = stack_run
    provider = rec.one("pulumi:providers:kubernetes")
    pools = [r for r in rec.resources if r.type in NODE_TYPES.get(stack, set())]
    if stack in ("e2e", "local"):
        assert pools == []
        return
    assert len(pools) == {"ebi": 1, "gcp": 2, "staging": 2}[stack]
    for pool in pools:
        assert pool.urn in provider.dependencies, pool.name


def test_critical_path_runs_through_the_node_pools(stack_run: tuple[str, Recording]) -> None:
    from tools.critical_path import binderhub_release, longest_chain

    stack, rec = stack_run
    path = [r.type for r in longest_chain(rec, binderhub_release(rec))]
    assert path[-1] == "kubernetes:helm.sh/v3:Release"
    # Issue 19: only the links a real API server needs (docs/operations.md, "Deploy order").
    # Issue 21: where Docker Hub images are pulled with an account (all but local), the
    # release also waits for its namespace's pull Secret, so no pod's first pull is anonymous.
    # Issue 20: on GKE (gcp, staging) the nodes' own service account comes before the cluster.
    # Issue 22: and for the site's ConfigMaps, which BinderHub's and the hub's pods mount (one
    # link beside the pull Secret; the only one on local).
    with_pull_secret = stack != "local"
    assert len(path) == {"ebi": 7, "gcp": 7, "staging": 7, "local": 4, "e2e": 4}[stack], path
    assert path[-3] == "kubernetes:core/v1:Namespace"
    assert path[-2] in (
        {"kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap"}
        if with_pull_secret
        else {"kubernetes:core/v1:ConfigMap"}
    )
    if stack not in ("e2e", "local"):
        assert path[0] in {
            "openstack:containerinfra/clusterTemplate:ClusterTemplate",
            "gcp:container/cluster:Cluster",
            "gcp:serviceaccount/account:Account",
            "gcp:compute/address:Address",
            "openstack:networking/floatingIp:FloatingIp",
        }
        assert NODE_TYPES[stack] & set(path), path
        assert path.index("pulumi:providers:kubernetes") > min(
            path.index(t) for t in NODE_TYPES[stack] if t in path
        )
