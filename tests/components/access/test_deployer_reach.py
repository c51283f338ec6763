"""The deploy agent's reach before and after the admission guard and Pod Security labels.

Each path to more power is decided by the same models the other tests use: RBAC with
escalation prevention (tests/rbac.py), the recorded ValidatingAdmissionPolicy evaluated with
real CEL (tests/admission.py), and the recorded Pod Security labels. "Before" is the same
recording judged without the guard (RBAC alone) and with every namespace unlabelled (Pod
Security Admission's default is privileged), which is what the bootstrap created before.
docs/access.md states the result; if this table changes, update it there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.admission import AdmissionPolicy, Request
from tests.components.access.test_bootstrap import run_bootstrap, stack_config
from tests.rbac import RBAC, RbacModel, Subject

DEPLOYER = Subject("ServiceAccount", "deployer", "deployer")
USER = "system:serviceaccount:deployer:deployer"
ADMISSION = "admissionregistration.k8s.io"
EVERYTHING = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def _crb(subject: dict[str, Any]) -> Request:
    obj = {
        "metadata": {"name": "x"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "prometheus-server"},
        "subjects": [subject],
    }
    return Request("CREATE", RBAC, "clusterrolebindings", USER, object=obj)


def _role(labels: dict[str, str], **extra: Any) -> Request:
    obj = {"metadata": {"name": "prometheus-server", "labels": labels}, "rules": EVERYTHING,
           **extra}
    return Request("UPDATE", RBAC, "clusterroles", USER, object=obj,
                   old_object={"metadata": {"name": "prometheus-server"}, "rules": []})


#: name -> (what RBAC must allow, the request the guard judges; None: not an admission matter)
Path = tuple[Callable[[RbacModel], bool], Request | None]
PATHS: dict[str, Path] = {
    "bind a chart ClusterRole to itself": (
        lambda m: m.can_write_binding(DEPLOYER, "create", "ClusterRole", "prometheus-server"),
        _crb({"kind": "ServiceAccount", "name": "deployer", "namespace": "deployer"}),
    ),
    "bind a chart ClusterRole to a person or group": (
        lambda m: m.can_write_binding(DEPLOYER, "create", "ClusterRole", "prometheus-server"),
        _crb({"kind": "Group", "name": "attackers", "apiGroup": RBAC}),
    ),
    "bind a chart ClusterRole to a kube-system ServiceAccount": (
        lambda m: m.can_write_binding(DEPLOYER, "create", "ClusterRole", "prometheus-server"),
        _crb({"kind": "ServiceAccount", "name": "attacker", "namespace": "kube-system"}),
    ),
    "create a webhook configuration of a new name": (
        lambda m: m.can(DEPLOYER, "create", "mutatingwebhookconfigurations", ADMISSION),
        Request("CREATE", ADMISSION, "mutatingwebhookconfigurations", USER,
                object={"metadata": {"name": "intercept-everything"}, "webhooks": []}),
    ),
    "aggregate a rewritten chart role into admin/edit/view": (
        lambda m: m.can_write_role(DEPLOYER, "patch", "prometheus-server", EVERYTHING),
        _role({"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
    ),
    "turn a chart role into an aggregating one (aggregationRule)": (
        lambda m: m.can_write_role(DEPLOYER, "patch", "prometheus-server", EVERYTHING),
        _role({}, aggregationRule={"clusterRoleSelectors": [{"matchLabels": {}}]}),
    ),
    "create a token Secret for a non-chart ServiceAccount": (
        lambda m: m.can(DEPLOYER, "create", "secrets", "", "binder"),
        Request("CREATE", "", "secrets", USER, namespace="binder", object={
            "metadata": {"name": "t", "annotations": {
                "kubernetes.io/service-account.name": "default"}},
            "type": "kubernetes.io/service-account-token"}),
    ),
    "relax a namespace's Pod Security level": (
        lambda m: m.can(DEPLOYER, "patch", "namespaces", "", name="ingress"),
        Request("UPDATE", "", "namespaces", USER,
                object={"metadata": {"name": "ingress", "labels": {
                    "pod-security.kubernetes.io/enforce": "privileged"}}},
                old_object={"metadata": {"name": "ingress", "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted"}}}),
    ),
    # Issue 20: the red team's first step to cluster-admin, closed by pinning each chart
    # role's rules to what its chart renders.
    "rewrite a chart ClusterRole to grant everything": (
        lambda m: m.can_write_role(DEPLOYER, "patch", "prometheus-server", EVERYTHING),
        _role({"app.kubernetes.io/managed-by": "Helm"}),
    ),
    "create a token Secret for a chart ServiceAccount": (
        lambda m: m.can(DEPLOYER, "create", "secrets", "", "monitoring"),
        Request("CREATE", "", "secrets", USER, namespace="monitoring", object={
            "metadata": {"name": "t", "annotations": {
                "kubernetes.io/service-account.name": "prometheus-server"}},
            "type": "kubernetes.io/service-account-token"}),
    ),
    "rewrite the chart's webhook to intercept Secrets elsewhere": (
        lambda m: m.can(DEPLOYER, "update", "validatingwebhookconfigurations", ADMISSION,
                        name="cert-manager-webhook"),
        Request("UPDATE", ADMISSION, "validatingwebhookconfigurations", USER,
                object={"metadata": {"name": "cert-manager-webhook"}, "webhooks": [{
                    "name": "x.example.org", "clientConfig": {"url": "https://x.example.org/"},
                    "rules": [{"apiGroups": [""], "resources": ["secrets"],
                               "apiVersions": ["v1"], "operations": ["CREATE"]}]}]},
                old_object={"metadata": {"name": "cert-manager-webhook"}, "webhooks": []}),
    ),
    # What stays (docs/access.md, "What is left"):
    "run pods as a chart's ServiceAccount": (
        lambda m: m.can_run_pods(DEPLOYER, "monitoring"),
        None,
    ),
}
RESIDUAL = {
    "run pods as a chart's ServiceAccount",
}


@pytest.fixture(scope="module")
def models() -> tuple[RbacModel, AdmissionPolicy]:
    rec, _ = run_bootstrap(stack_config())
    return RbacModel(rec), AdmissionPolicy.from_recording(rec)


def reach(model: RbacModel, guard: AdmissionPolicy | None) -> dict[str, bool]:
    result = {}
    for name, (rbac_allows, request) in PATHS.items():
        admitted = guard is None or request is None or guard.decide(request).allowed
        result[name] = rbac_allows(model) and admitted
    return result


def test_before_the_guard_every_path_is_open(models: tuple[RbacModel, AdmissionPolicy]) -> None:
    model, _ = models
    assert reach(model, None) == dict.fromkeys(PATHS, True)


def test_after_the_guard_only_the_residual_paths_stay(
    models: tuple[RbacModel, AdmissionPolicy],
) -> None:
    model, guard = models
    after = reach(model, guard)
    assert {name for name, open_ in after.items() if open_} == RESIDUAL


def test_every_guarded_path_is_refused_by_the_guard_not_by_rbac(
    models: tuple[RbacModel, AdmissionPolicy],
) -> None:
    """The closed paths are closed by the policy: RBAC alone still allows each of them."""
    model, guard = models
    for name, (rbac_allows, request) in PATHS.items():
        if name in RESIDUAL:
            continue
        assert rbac_allows(model), name
        assert request is not None
        assert guard.decide(request).matched, name
        assert not guard.decide(request).allowed, name


def test_node_reach_before_and_after_pod_security(
    models: tuple[RbacModel, AdmissionPolicy],
) -> None:
    model, _ = models
    works_in = {"binder", "cert-manager", "extra", "ingress", "logging", "monitoring"}
    after = model.node_reach(DEPLOYER)
    assert after == {"binder", "logging", "monitoring"}
    before = RbacModel.__new__(RbacModel)
    before.__dict__.update(model.__dict__)
    before.pod_security = dict.fromkeys(model.pod_security, "privileged")  # no labels
    assert before.node_reach(DEPLOYER) == works_in
