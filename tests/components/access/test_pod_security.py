"""Pod Security Admission on the namespaces the bootstrap makes: one test per decision.

Which namespaces need more than ``restricted`` is pinned against the pinned charts' sources
(../shared/charts), and so is the claim that the other charts' pods pass ``restricted``.
https://kubernetes.io/docs/concepts/security/pod-security-admission/
https://kubernetes.io/docs/concepts/security/pod-security-standards/
"""

from __future__ import annotations

from typing import Any

import pytest

from components.access.pod_security import (
    CHART_NEEDS,
    namespace_levels,
    pod_security_labels,
)
from components.catalog.charts import (
    BINDERHUB,
    CERT_MANAGER,
    FLUENTD,
    PROMETHEUS,
    RELEASES,
    TRAEFIK,
)
from components.config.base import ConfigError
from tests import fast_yaml
from tests.chart_data import chart_dir, chart_values, helm_values
from tests.components.access.test_bootstrap import run_bootstrap, stack_config
from tests.rbac import RbacModel, Subject
from tests.release_fixtures import file_values
from tools.mockrun import Recording

NS = "kubernetes:core/v1:Namespace"
ENFORCE = "pod-security.kubernetes.io/enforce"


@pytest.fixture(scope="module")
def rec() -> Recording:
    return run_bootstrap(stack_config())[0]


def labels_of(rec: Recording, namespace: str) -> dict[str, str]:
    return rec.one(NS, f"bootstrap-ns-{namespace}").inputs["metadata"]["labels"]


# ---- the labels ---------------------------------------------------------------------------


def test_every_namespace_carries_the_pod_security_labels(rec: Recording) -> None:
    namespaces = [r.inputs["metadata"]["name"] for r in rec.of_type(NS)]
    assert len(namespaces) == 7
    for ns in namespaces:
        labels = labels_of(rec, ns)
        level = labels[ENFORCE]
        # The test stack targets Kubernetes 1.36 (the default).
        assert {k: v for k, v in labels.items() if k.startswith("pod-security.")} == {
            ENFORCE: level,
            "pod-security.kubernetes.io/enforce-version": "v1.36",
            "pod-security.kubernetes.io/warn": level,
            "pod-security.kubernetes.io/warn-version": "v1.36",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "v1.36",
        }, ns
        # The configured labels stay.
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    assert labels_of(rec, "binder")["team"] == "binder"


def test_the_standard_version_follows_the_clusters() -> None:
    labels = pod_security_labels("baseline", "1.31")
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.31"


#: The default decision for each namespace of the test stack (every part enabled).
DEFAULTS = {
    "binder": "privileged",  # BinderHub's dind builder, image cleaner
    "monitoring": "privileged",  # prometheus-node-exporter
    "logging": "privileged",  # fluentd's hostPath /var/log
    "ingress": "restricted",
    "cert-manager": "restricted",
    "deployer": "restricted",
    "extra": "restricted",  # a namespace of the operator's
}


@pytest.mark.parametrize(("namespace", "level"), sorted(DEFAULTS.items()))
def test_default_level(rec: Recording, namespace: str, level: str) -> None:
    assert labels_of(rec, namespace)[ENFORCE] == level


def test_only_chart_namespaces_with_a_need_are_privileged() -> None:
    assert {ns for ns, level in DEFAULTS.items() if level != "restricted"} == set(CHART_NEEDS)


def test_a_namespace_of_ones_own_may_be_set_to_baseline() -> None:
    cfg = stack_config(namespaces={"extra": {"podSecurity": "baseline"}}, users=[])
    assert namespace_levels(cfg)["extra"] == "baseline"
    rec, _ = run_bootstrap(cfg)
    assert labels_of(rec, "extra")[ENFORCE] == "baseline"


def test_a_chart_namespace_may_be_relaxed_beyond_its_need() -> None:
    cfg = stack_config(namespaces={"ingress": {"podSecurity": "baseline"}}, users=[])
    assert namespace_levels(cfg)["ingress"] == "baseline"


@pytest.mark.parametrize("namespace", sorted(CHART_NEEDS))
@pytest.mark.parametrize("level", ["restricted", "baseline"])
def test_a_level_below_the_charts_need_is_refused(namespace: str, level: str) -> None:
    with pytest.raises(ConfigError) as raised:
        stack_config(namespaces={namespace: {"podSecurity": level}}, users=[])
    need = CHART_NEEDS[namespace]
    assert (
        f"binder:namespaces.{namespace}.podSecurity: '{level}' would refuse the pods of "
        f"{need.chart}: {need.why}. Use 'privileged'"
    ) in str(raised.value)


def test_a_switched_off_part_has_no_need() -> None:
    cfg = stack_config(
        monitoring={"enabled": False},
        namespaces={"monitoring": {"podSecurity": "restricted"}},
        users=[],
    )
    assert namespace_levels(cfg)["monitoring"] == "restricted"


def test_pod_security_labels_by_hand_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"labels\.pod-security\.kubernetes\.io/enforce: Pod "
                       r"Security labels are written by the program; .* `podSecurity: "):
        stack_config(namespaces={"extra": {"labels": {ENFORCE: "privileged"}}}, users=[])


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"binder:namespaces\.extra\.podSecurity: must be one "
                       r"of 'restricted', 'baseline' or 'privileged'"):
        stack_config(namespaces={"extra": {"podSecurity": "open"}}, users=[])


# ---- who reaches the nodes (components/access/reach.py) -----------------------------------


@pytest.mark.parametrize("role", ["edit", "admin"])
def test_a_grant_where_privileged_pods_run_reaches_the_nodes(role: str) -> None:
    user = {"name": "carol", "role": role, "namespaces": ["binder"]}
    with pytest.raises(ConfigError) as raised:
        stack_config(users=[user])
    assert (
        f"binder:users[0]: '{role}' in 'binder' can run privileged pods there (it is "
        "'privileged' for binderhub), which take over their node"
    ) in str(raised.value)
    # Acknowledged, it is accepted -- and the RBAC model shows the path.
    rec, _ = run_bootstrap(stack_config(users=[{**user, "mayReadDeployerToken": True}]))
    assert RbacModel(rec).node_reach(Subject("User", "carol")) == {"binder"}


def test_an_explicitly_privileged_namespace_counts_too() -> None:
    users = [{"name": "carol", "role": "edit", "namespaces": ["extra"]}]
    with pytest.raises(ConfigError, match=r"'edit' in 'extra' can run privileged pods there "
                       r"\(its podSecurity is 'privileged'\)"):
        stack_config(namespaces={"extra": {"podSecurity": "privileged"}}, users=users)


@pytest.mark.parametrize("level", ["restricted", "baseline"])
def test_edit_where_privileged_pods_are_refused_does_not_reach_the_nodes(level: str) -> None:
    users = [{"name": "carol", "role": "edit", "namespaces": ["extra"]}]
    rec, _ = run_bootstrap(stack_config(namespaces={"extra": {"podSecurity": level}},
                                        users=users))
    rbac = RbacModel(rec)
    assert rbac.can(Subject("User", "carol"), "create", "pods", "", "extra")
    assert rbac.node_reach(Subject("User", "carol")) == set()


def test_view_never_reaches_the_nodes(rec: Recording) -> None:
    rbac = RbacModel(rec)
    assert rbac.node_reach(Subject("Group", "support")) == set()  # view in binder, monitoring


# ---- the charts' needs, pinned against their sources --------------------------------------


def _template(pin: Any, *parts: str) -> str:
    return chart_dir(pin).joinpath("templates", *parts).read_text()


def test_binderhub_needs_privileged() -> None:
    builder = _template(BINDERHUB, "container-builder", "daemonset.yaml")
    assert "privileged: true" in builder  # dind / pink
    assert "hostPath:" in builder  # their sockets on the node (and the `host` builder's)
    assert "hostPath:" in _template(BINDERHUB, "image-cleaner.yaml")


def test_node_exporter_needs_privileged() -> None:
    exporter = chart_dir(PROMETHEUS) / "charts" / "prometheus-node-exporter" / "values.yaml"
    values = fast_yaml.safe_load(exporter.read_text())
    # baseline forbids host namespaces and hostPath volumes.
    assert values["hostNetwork"] is True
    assert values["hostPID"] is True
    assert values["hostRootFsMount"]["enabled"] is True
    assert helm_values(PROMETHEUS, {})["prometheus-node-exporter"]["enabled"] is True


def test_fluentd_needs_privileged() -> None:
    pod = _template(FLUENTD, "_pod.tpl")
    assert "hostPath:\n    path: /var/log" in pod


def _restricted_problems(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """What the ``restricted`` standard checks on a pod/container security context."""
    problems = []
    if not (container.get("runAsNonRoot") or pod.get("runAsNonRoot")):
        problems.append("runAsNonRoot")
    seccomp = (container.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile")
    if container.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation")
    if "ALL" not in (container.get("capabilities") or {}).get("drop", []):
        problems.append("capabilities.drop ALL")
    if container.get("privileged"):
        problems.append("privileged")
    return problems


def _with_our_values(pin: Any) -> dict[str, Any]:
    """The chart's values under every stack's values files (the program adds no security
    settings; test_our_values_never_touch_security_settings checks that)."""
    merged: dict[str, Any] = {}
    for stack in ("ebi", "gcp", "local"):
        for layer in file_values(stack)[pin.release]:
            merged = {**merged, **(layer or {})}
    return helm_values(pin, merged)


def test_traefik_passes_restricted() -> None:
    values = _with_our_values(TRAEFIK)
    assert _restricted_problems(values["podSecurityContext"], values["securityContext"]) == []
    assert not values.get("hostNetwork")


@pytest.mark.parametrize("part", ["", "webhook", "cainjector", "startupapicheck"])
def test_cert_manager_passes_restricted(part: str) -> None:
    values = _with_our_values(CERT_MANAGER)
    scope = values[part] if part else values
    assert _restricted_problems(scope["securityContext"], scope["containerSecurityContext"]) == []


def test_our_values_never_touch_security_settings() -> None:
    """The claims above hold for the charts' defaults; no values file of ours changes them."""
    keys = ("securityContext", "podSecurityContext", "containerSecurityContext", "hostNetwork",
            "hostPID", "privileged", "hostPath")

    def found(value: Any, path: str = "") -> list[str]:
        if isinstance(value, dict):
            return [
                hit for k, v in value.items()
                for hit in ([f"{path}{k}"] if k in keys else []) + found(v, f"{path}{k}.")
            ]
        if isinstance(value, list):
            return [hit for item in value for hit in found(item, path)]
        return []

    for stack in ("ebi", "gcp", "local"):
        layers = file_values(stack)
        for pin in RELEASES:
            for layer in layers[pin.release]:
                assert found(layer or {}) == [], (stack, pin.release)
    assert chart_values(TRAEFIK)  # the data these tests read is there
