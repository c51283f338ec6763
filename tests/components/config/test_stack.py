"""Config parsing, with no mocks: every bad input gives one clear message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pydantic import ValidationError

from components.config.base import ConfigError
from components.config.cluster import ExistingCluster, GkeCluster, MagnumCluster
from components.config.stack import StackConfig, parse_config
from tests import fast_yaml
from tests.conftest import REPO


def stack_binder_config(stack: str) -> dict[str, Any]:
    """The ``binder:`` keys of a committed stack file, as a plain mapping."""
    doc = fast_yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return {
        key.split(":", 1)[1]: value
        for key, value in doc["config"].items()
        if key.startswith("binder:")
    }


def with_change(stack: str, path: str, value: Any) -> dict[str, Any]:
    """A copy of the stack's config with ``path`` (dotted, [n] for lists) set or deleted."""
    raw = copy.deepcopy(stack_binder_config(stack))
    node: Any = raw
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    elif last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return raw


class _Delete:
    """Marks a key to remove. A fixed repr: test ids made from it must be the same in every
    process (pytest-xdist's workers compare their collections)."""

    def __repr__(self) -> str:
        return "<delete>"


_DELETE = _Delete()


@pytest.mark.parametrize("stack", ["e2e", "ebi", "gcp", "local", "staging"])
def test_committed_stacks_parse(stack: str) -> None:
    cfg = parse_config(stack_binder_config(stack))
    assert isinstance(cfg, StackConfig)
    expected = {
        "e2e": ExistingCluster, "ebi": MagnumCluster, "gcp": GkeCluster, "local": ExistingCluster,
        "staging": GkeCluster,
    }[stack]
    assert isinstance(cfg.cluster, expected)


def test_models_are_frozen() -> None:
    cfg = parse_config(stack_binder_config("gcp"))
    with pytest.raises(ValidationError, match="frozen"):
        cfg.cluster.name = "other"  # type: ignore[misc]


def test_clusters_are_protected_unless_said_otherwise() -> None:
    """The safe default: a stack file that says nothing about protect gets protection."""
    for stack in ("ebi", "gcp"):
        raw = with_change(stack, "cluster.protect", _DELETE)
        cluster = parse_config(raw).cluster
        assert cluster.protect is True, stack
    gke = parse_config(with_change("gcp", "cluster.protect", _DELETE)).cluster
    assert isinstance(gke, GkeCluster)
    assert gke.deletion_protection is None  # follows protect (see cluster_gke.py)
    # Nothing is created for an existing cluster, so there is nothing to protect.
    assert parse_config(stack_binder_config("local")).cluster.protect is False


def test_magnum_defaults_and_labels_are_strings() -> None:
    cfg = parse_config(stack_binder_config("ebi"))
    assert isinstance(cfg.cluster, MagnumCluster)
    labels = cfg.cluster.template.labels
    assert labels["auto_scaling_enabled"] == "true"  # YAML `true`, Magnum wants "true"
    assert labels["boot_volume_size"] == "100"
    # capi-helm: the openstack-cluster chart labels a group's nodes with its name.
    assert cfg.cluster.user_node_selector == {"capi.stackhpc.com/node-group": "user"}
    assert not cfg.cluster.user_nodes_tainted


def test_gke_user_pool_is_tainted() -> None:
    cfg = parse_config(stack_binder_config("gcp"))
    assert cfg.cluster.has_user_pool
    assert cfg.cluster.user_nodes_tainted
    assert cfg.cluster.user_node_selector == {"hub.jupyter.org/node-purpose": "user"}


def test_default_namespaces_follow_the_enabled_parts() -> None:
    cfg = parse_config(stack_binder_config("gcp"))
    assert set(cfg.all_namespaces) == {
        "binder", "ingress", "cert-manager", "monitoring", "logging", "deployer",
    }
    # The local stack switches cert-manager, monitoring and logging off: no namespaces.
    cfg = parse_config(stack_binder_config("local"))
    assert set(cfg.all_namespaces) == {"binder", "ingress", "deployer"}
    raw = with_change("local", "ingress", {"controller": "none"})
    raw["namespaces"] = {"monitoring": {"labels": {"team": "ops"}}}
    cfg = parse_config(raw)
    assert set(cfg.all_namespaces) == {"binder", "deployer", "monitoring"}  # declared wins


BAD_INPUTS = [
    pytest.param(
        "gcp", "cluster", _DELETE,
        ["binder:cluster: missing; add it to the stack's settings file"], id="missing-cluster",
    ),
    pytest.param(
        "gcp", "clustr", {"provider": "gke"},
        ["binder:clustr", "unknown key", "known keys are", "fix its spelling"], id="top-level-typo",
    ),
    pytest.param(
        "gcp", "cluster.corePool.autoscaling.minNode", 1,
        ["binder:cluster.corePool.autoscaling.minNode", "unknown key"], id="nested-typo",
    ),
    pytest.param(
        "ebi", "cluster.nodeCount", "two",
        ["binder:cluster.nodeCount", "must be a whole number"], id="wrong-type",
    ),
    pytest.param(
        "gcp", "cluster.userPool.autoscaling", {"minNodes": 5, "maxNodes": 2},
        ["binder:cluster.userPool.autoscaling", "minNodes (5) is greater than maxNodes (2)",
         "set minNodes <= maxNodes"], id="gke-min-gt-max",
    ),
    pytest.param(
        "ebi", "cluster.nodeGroups[0].autoscaling", {"minNodes": 3, "maxNodes": 1},
        ["binder:cluster.nodeGroups[0].autoscaling", "greater than maxNodes"],
        id="magnum-min-gt-max",
    ),
    pytest.param(
        "gcp", "cluster.provider", "aks",
        ["binder:cluster.provider", "'aks' is not a provider", "'magnum', 'gke', 'existing'"],
        id="unknown-provider",
    ),
    pytest.param(
        "gcp", "cluster.provider", _DELETE,
        ["binder:cluster", "provider", "magnum"], id="missing-provider",
    ),
    pytest.param(
        "ebi", "cluster.template.image", _DELETE,
        ["binder:cluster.template.image: missing"], id="missing-nested-key",
    ),
    pytest.param(
        "ebi", "cluster.template.labels.kube_tag", "v1.29.3",
        ["binder:cluster", "kube_tag", "kube_version property"], id="kube-tag-on-capi-helm",
    ),
    pytest.param(
        "ebi", "cluster.nodeGroups", [{"name": "user"}, {"name": "user"}],
        ["binder:cluster", "duplicate names ['user']"], id="duplicate-node-groups",
    ),
    pytest.param(
        "gcp", "cluster.kubernetesVersion", "latest",
        ["binder:cluster.kubernetesVersion", "'1.36'"], id="bad-k8s-version",
    ),
    pytest.param(
        "gcp", "cluster.name", "Binder_GCP",
        ["binder:cluster.name", "must be a DNS label"], id="name-not-dns-label",
    ),
    pytest.param(
        "gcp", "cluster.releaseChannel", "NIGHTLY",
        ["binder:cluster.releaseChannel", "'RAPID'"], id="bad-release-channel",
    ),
    pytest.param(
        "gcp", "cluster.corePool.autoscaling.minNodes", -1,
        ["binder:cluster.corePool.autoscaling.minNodes", "must be at least 0"],
        id="negative-min",
    ),
    pytest.param(
        "gcp", "cluster.userPool.labels", {"hub.jupyter.org/node-purpose": "core"},
        ["binder:cluster.userPool.labels", "set by the program"], id="purpose-label-override",
    ),
    pytest.param(
        "gcp", "cluster.network.cloudNat", _DELETE,
        ["binder:cluster.network", "privateNodes needs egress", "cloudNat"],
        id="private-nodes-without-egress-decision",
    ),
    pytest.param(
        "gcp", "cluster.securityGroup", _DELETE,
        ["binder:users[1].kind", "Google Groups for RBAC", "binder:cluster.securityGroup"],
        id="gke-group-no-rbac",
    ),
    pytest.param(
        "ebi", "cluster.template.labels.keystone_auth_enabled", "false",
        ["binder:users[0].kind", "a Group matches only if", "keystone_auth_enabled"],
        id="magnum-people-no-keystone",
    ),
    pytest.param(
        "gcp", "tls", {"source": "letsencrypt", "email": "ops-at-example.org"},
        ["binder:tls.email", "must be an email address"], id="bad-acme-email",
    ),
]


@pytest.mark.parametrize(("stack", "path", "value", "expected"), BAD_INPUTS)
def test_bad_input_is_one_clear_error(
    stack: str, path: str, value: Any, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_change(stack, path, value))
    message = str(info.value)
    assert message.startswith("Invalid stack configuration:")
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "Traceback" not in message
    # A ConfigError is a RunError: the Pulumi CLI shows its message without a traceback.
    assert isinstance(info.value, pulumi.RunError)


def test_errors_never_echo_values() -> None:
    """A value typed into the wrong key may be a secret: messages name keys, not values."""
    leaked = "s3cr3t-value-typed-in-the-wrong-place"
    raw = with_change("gcp", "cluster.corePool.machineType", {"nested": leaked})
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert leaked not in str(info.value)
    assert "binder:cluster.corePool.machineType" in str(info.value)


def test_several_problems_are_reported_together() -> None:
    raw = with_change("gcp", "cluster.corePool.autoscaling.minNode", 1)
    raw["monitoring"]["enabeld"] = True
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert "binder:cluster.corePool.autoscaling.minNode" in str(info.value)
    assert "binder:monitoring.enabeld" in str(info.value)


def test_kubeconfig_path_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from components.config.cluster import resolve_kubeconfig_path

    monkeypatch.setenv("HOME", str(tmp_path))
    cluster = parse_config(with_change("local", "cluster.kubeconfigPath", "~/kc")).cluster
    assert isinstance(cluster, ExistingCluster)
    assert resolve_kubeconfig_path(cluster) == tmp_path / "kc"
