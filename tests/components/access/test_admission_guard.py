"""The admission guard on the deploy agent: its objects, and its CEL run against requests.

Each allowed and each refused request kind has its own test. The policy evaluated is the one
the bootstrap registers (recorded by the mock engine), with a real CEL evaluator
(tests/admission.py); the objects are validated strictly for the targeted Kubernetes version.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.access.admission_guard import (
    AGGREGATION_LABEL_PREFIX,
    check_names,
    guard_name,
    policy_spec,
)
from components.access.chart_objects import (
    CHART_CLUSTER_OBJECTS,
    ChartClusterObjects,
    chart_cluster_objects,
    enabled_releases,
)
from components.config.base import ConfigError
from tests.admission import BINDING, POLICY, AdmissionPolicy, Decision, Request
from tests.components.access.test_bootstrap import run_bootstrap, stack_config
from tests.k8s_validate import assert_valid_objects
from tests.rbac import RBAC, RbacModel, Subject
from tools.mockrun import Recording

DEPLOYER_USER = "system:serviceaccount:deployer:deployer"
ADMIN_USER = "kubernetes-admin"
CHARTS = chart_cluster_objects(CHART_CLUSTER_OBJECTS)


@pytest.fixture(scope="module")
def rec() -> Recording:
    return run_bootstrap(stack_config())[0]


@pytest.fixture(scope="module")
def guard(rec: Recording) -> AdmissionPolicy:
    return AdmissionPolicy.from_recording(rec)


def binding(kind: str, name: str, subjects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def sa(name: str, namespace: str | None = None) -> dict[str, Any]:
    subject = {"kind": "ServiceAccount", "name": name}
    if namespace is not None:
        subject["namespace"] = namespace
    return subject


def crb(subjects: list[dict[str, Any]], role: str = "prometheus-server") -> Request:
    return Request(
        "CREATE", RBAC, "clusterrolebindings", DEPLOYER_USER,
        object=binding("ClusterRoleBinding", role, subjects, role),
    )


def rb(namespace: str, subjects: list[dict[str, Any]], op: str = "CREATE") -> Request:
    obj = binding("RoleBinding", "hub", subjects, "binderhub-user-scheduler")
    return Request(
        op, RBAC, "rolebindings", DEPLOYER_USER, namespace=namespace, object=obj,
        old_object=obj if op == "UPDATE" else None,
    )


def webhook(resource: str, name: str, op: str = "CREATE") -> Request:
    kind = "Mutating" if resource.startswith("mutating") else "Validating"
    obj = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": f"{kind}WebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [],
    }
    return Request(op, "admissionregistration.k8s.io", resource, DEPLOYER_USER, object=obj,
                   old_object=obj if op == "UPDATE" else None)


def role(
    resource: str, labels: dict[str, str] | None = None, op: str = "UPDATE",
    namespace: str = "", **extra: Any,
) -> Request:
    meta: dict[str, Any] = {"name": "prometheus-server"}
    if labels is not None:
        meta["labels"] = labels
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": meta, "rules": [], **extra}
    old = {**obj, "metadata": {"name": "prometheus-server"}}
    return Request(op, RBAC, resource, DEPLOYER_USER, namespace=namespace, object=obj,
                   old_object=old if op == "UPDATE" else None)


def secret(namespace: str, type_: str, annotations: dict[str, str] | None = None) -> Request:
    meta: dict[str, Any] = {"name": "s", "namespace": namespace}
    if annotations is not None:
        meta["annotations"] = annotations
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": type_}
    return Request("CREATE", "", "secrets", DEPLOYER_USER, namespace=namespace, object=obj)


TOKEN = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"


def allowed(decision: Decision) -> None:
    assert decision.matched
    assert decision.refused == ()


def refused(decision: Decision, check: str) -> None:
    """Refused by exactly the named check (and only it)."""
    assert decision.matched
    messages = dict(zip(check_names(), policy_spec("deployer", "deployer", CHARTS)["validations"],
                        strict=True))
    assert decision.refused == (messages[check]["message"],), decision.refused


# ---- the objects ------------------------------------------------------------------------


def test_the_bootstrap_creates_the_policy_and_its_binding(rec: Recording) -> None:
    component = rec.one("binder:bootstrap:DeployerAdmissionGuard")
    assert rec.by_urn(component.parent).type == "binder:bootstrap:ClusterBootstrap"
    policy = rec.one(POLICY, "bootstrap-admission-guard-policy")
    bound = rec.one(BINDING, "bootstrap-admission-guard-binding")
    assert {policy.parent, bound.parent} == {component.urn}
    name = guard_name("deployer", "deployer")
    assert policy.inputs["metadata"]["name"] == name == bound.inputs["metadata"]["name"]
    assert bound.inputs["spec"] == {"policyName": name, "validationActions": ["Deny"]}
    # The binding names the policy by its output, so Pulumi creates the policy first.
    assert policy.urn in bound.dependencies
    spec = policy.inputs["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConditions"] == [
        {"name": "deploy-agent", "expression": f'request.userInfo.username == "{DEPLOYER_USER}"'}
    ]
    assert spec == policy_spec("deployer", "deployer", CHARTS)


@pytest.mark.parametrize("version", ["1.30", "1.31", "1.33"])
def test_the_policy_objects_pass_strict_validation(rec: Recording, version: str) -> None:
    checked = assert_valid_objects(rec, version, select=lambda r: r.type in (POLICY, BINDING))
    assert len(checked) == 2


def test_names_come_from_chart_objects_of_the_enabled_releases() -> None:
    """One source of truth: the policy's lists are chart_objects' for the stack's releases."""
    cfg = stack_config(monitoring={"enabled": False}, logging={"enabled": False}, users=[])
    rec, _ = run_bootstrap(cfg)
    spec = AdmissionPolicy.from_recording(rec).spec
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    charts = chart_cluster_objects(enabled_releases(cfg))
    assert variables["chartAccounts"] == "[" + ", ".join(
        f'"{a}"' for a in sorted(charts.service_accounts)
    ) + "]"
    assert "monitoring/prometheus-server" not in variables["chartAccounts"]
    assert "binder/hub" in variables["chartAccounts"]
    assert variables["webhookNames"] == '["cert-manager-webhook"]'


def test_no_guard_when_the_agent_is_cluster_admin() -> None:
    rec, exposed = run_bootstrap(stack_config(deployer={"clusterAdmin": True}))
    assert rec.of_type(POLICY) == []
    assert rec.of_type(BINDING) == []
    assert exposed["component"].admission_guard is None


def test_the_agent_cannot_touch_the_guard(rec: Recording) -> None:
    deployer = Subject("ServiceAccount", "deployer", "deployer")
    rbac = RbacModel(rec)
    name = guard_name("deployer", "deployer")
    for resource in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        for verb in ("create", "update", "patch", "delete"):
            assert not rbac.can(deployer, verb, resource, "admissionregistration.k8s.io",
                                name=name)


def test_an_old_cluster_is_refused_in_the_plan() -> None:
    cluster = {**stack_config().cluster.model_dump(by_alias=True, exclude_none=True)}
    cluster["kubernetesVersion"] = "1.29"
    # The capi-helm chart that is tested with 1.29.
    cluster["template"] = {**cluster["template"], "labels": {
        **cluster["template"]["labels"], "capi_helm_chart_version": "0.10.1"}}
    with pytest.raises(ConfigError, match=r"binder:cluster\.kubernetesVersion: '1\.29' has no "):
        stack_config(cluster=cluster)
    stack_config(cluster=cluster, deployer={"clusterAdmin": True})  # no guard: no need


# ---- requests the policy does not judge -------------------------------------------------


def test_requests_by_anyone_else_are_not_judged(guard: AdmissionPolicy) -> None:
    request = crb([{"kind": "User", "name": "mallory", "apiGroup": RBAC}], role="cluster-admin")
    as_admin = Request(request.operation, request.group, request.resource, ADMIN_USER,
                       object=request.object)
    assert guard.decide(as_admin) == Decision(matched=False)
    # ... including a ServiceAccount of the same name in another namespace.
    other = Request(request.operation, request.group, request.resource,
                    "system:serviceaccount:ci:deployer", object=request.object)
    assert guard.decide(other) == Decision(matched=False)


def test_other_resources_and_deletes_are_not_judged(guard: AdmissionPolicy) -> None:
    configmap = Request("CREATE", "", "configmaps", DEPLOYER_USER, namespace="binder",
                        object={"metadata": {"name": "c"}})
    assert guard.decide(configmap) == Decision(matched=False)
    delete = Request("DELETE", RBAC, "clusterrolebindings", DEPLOYER_USER,
                     old_object=binding("ClusterRoleBinding", "x", [], "x"))
    assert guard.decide(delete) == Decision(matched=False)


# ---- bindings -----------------------------------------------------------------------------


def test_allowed_a_chart_cluster_role_binding_to_its_own_account(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(crb([sa("prometheus-server", "monitoring")])))


def test_allowed_a_chart_role_binding_update(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(rb("binder", [sa("hub", "binder")], op="UPDATE")))


def test_allowed_a_role_binding_subject_without_namespace_in_its_own(
    guard: AdmissionPolicy,
) -> None:
    # RBAC reads a missing namespace as the binding's own (rule.go appliesToUser).
    allowed(guard.decide(rb("binder", [sa("hub")])))


def test_allowed_a_binding_without_subjects(guard: AdmissionPolicy) -> None:
    obj = {k: v for k, v in binding("ClusterRoleBinding", "x", [], "x").items() if k != "subjects"}
    allowed(guard.decide(Request("CREATE", RBAC, "clusterrolebindings", DEPLOYER_USER, object=obj)))


def test_refused_a_binding_to_the_agent_itself(guard: AdmissionPolicy) -> None:
    refused(guard.decide(crb([sa("deployer", "deployer")])), "binding-subjects")


@pytest.mark.parametrize("kind", ["User", "Group"])
def test_refused_a_binding_to_a_person_or_group(guard: AdmissionPolicy, kind: str) -> None:
    subject = {"kind": kind, "name": "mallory", "apiGroup": RBAC}
    refused(guard.decide(crb([subject])), "binding-subjects")


def test_refused_a_binding_to_an_account_in_another_namespace(guard: AdmissionPolicy) -> None:
    refused(guard.decide(crb([sa("hub", "kube-system")])), "binding-subjects")
    # A chart account's name in the wrong namespace, by default namespace:
    refused(guard.decide(rb("monitoring", [sa("hub")])), "binding-subjects")


def test_refused_a_binding_to_a_non_chart_account_of_a_managed_namespace(
    guard: AdmissionPolicy,
) -> None:
    refused(guard.decide(rb("binder", [sa("default", "binder")])), "binding-subjects")


def test_refused_one_stranger_among_chart_subjects(guard: AdmissionPolicy) -> None:
    subjects = [sa("hub", "binder"), {"kind": "User", "name": "mallory", "apiGroup": RBAC}]
    refused(guard.decide(rb("binder", subjects, op="UPDATE")), "binding-subjects")


# ---- webhooks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource", ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
)
@pytest.mark.parametrize("op", ["CREATE", "UPDATE"])
def test_allowed_the_charts_webhook_configuration(
    guard: AdmissionPolicy, resource: str, op: str
) -> None:
    allowed(guard.decide(webhook(resource, "cert-manager-webhook", op)))


@pytest.mark.parametrize(
    "resource", ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
)
def test_refused_a_webhook_configuration_of_another_name(
    guard: AdmissionPolicy, resource: str
) -> None:
    refused(guard.decide(webhook(resource, "intercept-secrets")), "webhook-names")


# ---- roles ----------------------------------------------------------------------------------


def test_allowed_a_chart_role_with_ordinary_labels(guard: AdmissionPolicy) -> None:
    labels = {"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "prometheus-29.27.0"}
    allowed(guard.decide(role("clusterroles", labels)))
    allowed(guard.decide(role("roles", labels, namespace="binder", op="CREATE")))


def test_allowed_a_role_without_labels(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(role("clusterroles", None, op="CREATE")))


@pytest.mark.parametrize("target", ["view", "edit", "admin", "cluster-reader"])
@pytest.mark.parametrize("op", ["CREATE", "UPDATE"])
def test_refused_an_aggregation_label_on_a_cluster_role(
    guard: AdmissionPolicy, target: str, op: str
) -> None:
    labels = {"app": "x", f"{AGGREGATION_LABEL_PREFIX}{target}": "true"}
    refused(guard.decide(role("clusterroles", labels, op=op)), "no-aggregation-labels")


def test_refused_an_aggregation_label_on_a_role(guard: AdmissionPolicy) -> None:
    labels = {f"{AGGREGATION_LABEL_PREFIX}edit": "true"}
    refused(guard.decide(role("roles", labels, namespace="binder")), "no-aggregation-labels")


def test_refused_an_aggregation_rule(guard: AdmissionPolicy) -> None:
    # It would collect the rules of every ClusterRole it selects, cluster-admin's included.
    rule = {"clusterRoleSelectors": [{"matchLabels": {"kubernetes.io/bootstrapping":
                                                      "rbac-defaults"}}]}
    refused(guard.decide(role("clusterroles", {}, aggregationRule=rule)), "no-aggregation-rule")


# ---- token Secrets -----------------------------------------------------------------------


def test_allowed_ordinary_secrets(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(secret("binder", "helm.sh/release.v1")))
    allowed(guard.decide(secret("binder", "Opaque", {SA_NAME: "default"})))
    untyped = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    # (the API server defaults `type` to Opaque; a missing one must not break the check)
    allowed(guard.decide(Request("CREATE", "", "secrets", DEPLOYER_USER, namespace="binder",
                                 object=untyped)))


def test_allowed_a_token_secret_for_a_chart_account(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(secret("binder", TOKEN, {SA_NAME: "hub"})))


def test_refused_a_token_secret_for_another_account(guard: AdmissionPolicy) -> None:
    refused(guard.decide(secret("binder", TOKEN, {SA_NAME: "default"})), "token-secrets")


def test_refused_a_token_secret_for_a_chart_account_in_another_namespace(
    guard: AdmissionPolicy,
) -> None:
    refused(guard.decide(secret("logging", TOKEN, {SA_NAME: "hub"})), "token-secrets")


def test_refused_a_token_secret_without_its_account(guard: AdmissionPolicy) -> None:
    refused(guard.decide(secret("binder", TOKEN)), "token-secrets")
    refused(guard.decide(secret("binder", TOKEN, {"other": "x"})), "token-secrets")


# ---- namespaces: their Pod Security labels -------------------------------------------------

PSA = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "v1.33",
}


def ns_update(old_labels: dict[str, str] | None, new_labels: dict[str, str] | None) -> Request:
    def ns(labels: dict[str, str] | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": "ingress"}
        if labels is not None:
            meta["labels"] = labels
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}

    return Request("UPDATE", "", "namespaces", DEPLOYER_USER, object=ns(new_labels),
                   old_object=ns(old_labels))


def test_allowed_a_namespace_update_that_keeps_its_pod_security_labels(
    guard: AdmissionPolicy,
) -> None:
    allowed(guard.decide(ns_update(PSA, {**PSA, "helm.sh/owner": "x"})))
    allowed(guard.decide(ns_update({"team": "a"}, {"team": "b"})))
    allowed(guard.decide(ns_update(None, {"team": "b"})))


def test_refused_a_changed_pod_security_level(guard: AdmissionPolicy) -> None:
    relaxed = {**PSA, "pod-security.kubernetes.io/enforce": "privileged"}
    refused(guard.decide(ns_update(PSA, relaxed)), "pod-security-labels")


def test_refused_a_removed_pod_security_label(guard: AdmissionPolicy) -> None:
    # Without `enforce`, Pod Security Admission falls back to privileged.
    refused(guard.decide(ns_update(PSA, {"pod-security.kubernetes.io/enforce-version": "v1.33"})),
            "pod-security-labels")
    refused(guard.decide(ns_update(PSA, None)), "pod-security-labels")


def test_refused_an_added_pod_security_label(guard: AdmissionPolicy) -> None:
    refused(guard.decide(ns_update(PSA, {**PSA, "pod-security.kubernetes.io/warn": "baseline"})),
            "pod-security-labels")
    refused(guard.decide(ns_update(None, PSA)), "pod-security-labels")


# ---- the CEL evaluator itself ------------------------------------------------------------


def test_the_evaluator_reports_an_expression_error_as_a_refusal() -> None:
    """failurePolicy Fail: an erroring expression refuses; never a silent pass."""
    spec = policy_spec("deployer", "deployer", ChartClusterObjects())
    spec["validations"] = [{"expression": "object.nosuchfield == 'x'", "message": "m"}]
    decision = AdmissionPolicy(spec).decide(secret("binder", TOKEN))
    assert decision.matched
    assert not decision.allowed
    assert decision.refused[0].startswith("error:")
