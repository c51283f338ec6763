"""The admission guard on the deploy agent: its objects, and its CEL run against requests.

Each allowed and each refused request kind has its own test. The policy evaluated is the one
the bootstrap registers (recorded by the mock engine), with a real CEL evaluator
(tests/admission.py); the objects are validated strictly for the targeted Kubernetes version.
"""

from __future__ import annotations

import copy
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
    program_objects,
)
from components.config.base import ConfigError
from tests.admission import BINDING, POLICY, AdmissionPolicy, Decision, Request
from tests.components.access.test_bootstrap import run_bootstrap, stack_config
from tests.k8s_validate import assert_valid_objects
from tests.rbac import RBAC, RbacModel, Subject
from tools.mockrun import Recording

DEPLOYER_USER = "system:serviceaccount:deployer:deployer"
ADMIN_USER = "kubernetes-admin"
CHARTS = chart_cluster_objects(enabled_releases(stack_config()), program_objects(stack_config()))
#: The rules the pinned prometheus chart renders for its server's ClusterRole.
PROMETHEUS_SERVER_RULES = [
    {k: v for k, v in rule.items() if v}
    for rule in CHART_CLUSTER_OBJECTS["prometheus"].role_rules["clusterroles//prometheus-server"]
]
HUB_ROLE_RULES = [
    {k: v for k, v in rule.items() if v}
    for rule in CHART_CLUSTER_OBJECTS["binderhub"].role_rules["roles/binder/hub"]
]


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


def webhook(resource: str, name: str, op: str = "CREATE",
            hooks: list[dict[str, Any]] | None = None) -> Request:
    kind = "Mutating" if resource.startswith("mutating") else "Validating"
    obj = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": f"{kind}WebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": hooks or [],
    }
    return Request(op, "admissionregistration.k8s.io", resource, DEPLOYER_USER, object=obj,
                   old_object=obj if op == "UPDATE" else None)


def role(
    resource: str, labels: dict[str, str] | None = None, op: str = "UPDATE",
    namespace: str = "", rules: list[dict[str, Any]] | None = None, name: str = "",
    **extra: Any,
) -> Request:
    """A chart's own role as its chart renders it (``prometheus-server``, or ``hub`` in
    ``binder`` for a Role), with ``labels``, ``rules`` or ``extra`` fields changed."""
    name = name or ("hub" if resource == "roles" else "prometheus-server")
    own = HUB_ROLE_RULES if resource == "roles" else PROMETHEUS_SERVER_RULES
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = labels
    kind = "Role" if resource == "roles" else "ClusterRole"
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
           "metadata": meta, "rules": own if rules is None else rules, **extra}
    old = {**obj, "metadata": {"name": name}, "rules": own}
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
    """One source of truth: the policy's lists are chart_objects' for the stack's releases
    and the program's own objects."""
    cfg = stack_config(monitoring={"enabled": False}, logging={"enabled": False}, users=[])
    rec, _ = run_bootstrap(cfg)
    spec = AdmissionPolicy.from_recording(rec).spec
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    charts = chart_cluster_objects(enabled_releases(cfg), program_objects(cfg))
    assert variables["chartAccounts"] == "[" + ", ".join(
        f'"{a}"' for a in sorted(charts.service_accounts)
    ) + "]"
    assert "monitoring/prometheus-server" not in variables["chartAccounts"]
    assert "binder/hub" in variables["chartAccounts"]
    assert '"cert-manager-webhook"' in variables["webhooks"]
    assert "clusterroles//prometheus-server" not in variables["roleRules"]
    assert "clusterroles//cert-manager-cainjector" in variables["roleRules"]
    crds = ", ".join(f'"customresourcedefinitions/{name}"' for name in (
        "certificaterequests.cert-manager.io", "certificates.cert-manager.io",
        "challenges.acme.cert-manager.io", "clusterissuers.cert-manager.io",
        "issuers.cert-manager.io", "orders.acme.cert-manager.io"))
    assert variables["clusterNames"] == (
        '["clusterissuers/letsencrypt-production", "clusterissuers/letsencrypt-staging", '
        f'{crds}, "ingressclasses/traefik", "priorityclasses/binderhub-default-priority", '
        '"priorityclasses/binderhub-user-placeholder-priority"]'
    )


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
    refused(guard.decide(webhook(resource, "intercept-secrets")), "webhooks")


def hook(service: dict[str, str] | None = None, url: str | None = None,
         groups: tuple[str, ...] = ("cert-manager.io",),
         resources: tuple[str, ...] = ("*/*",)) -> dict[str, Any]:
    client: dict[str, Any] = {}
    if service is not None:
        client["service"] = service
    if url is not None:
        client["url"] = url
    return {"name": "webhook.cert-manager.io", "clientConfig": client, "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "rules": [{"apiGroups": list(groups), "apiVersions": ["v1"],
                       "operations": ["CREATE", "UPDATE"], "resources": list(resources)}]}


CERT_MANAGER_SERVICE = {"namespace": "cert-manager", "name": "cert-manager-webhook"}


@pytest.mark.parametrize(
    "resource", ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
)
def test_allowed_the_charts_webhook_calling_its_own_service(
    guard: AdmissionPolicy, resource: str
) -> None:
    both = ("cert-manager.io", "acme.cert-manager.io")
    allowed(guard.decide(webhook(resource, "cert-manager-webhook", "UPDATE",
                                 [hook(CERT_MANAGER_SERVICE, groups=both)])))


@pytest.mark.parametrize(
    ("what", "hooks"),
    [
        # The red team's variant: the chart's name, rewritten to send Secret writes elsewhere.
        ("core Secrets to the chart's Service",
         [hook(CERT_MANAGER_SERVICE, groups=("",), resources=("secrets",))]),
        ("every group", [hook(CERT_MANAGER_SERVICE, groups=("*",))]),
        ("a URL instead of the Service", [hook(url="https://collector.example.org/")]),
        ("a URL beside the Service",
         [hook({**CERT_MANAGER_SERVICE}, url="https://collector.example.org/")]),
        ("another Service", [hook({"namespace": "binder", "name": "binder"})]),
        ("the chart's Service name in another namespace",
         [hook({"namespace": "binder", "name": "cert-manager-webhook"})]),
        ("one good webhook and one that is not",
         [hook(CERT_MANAGER_SERVICE), hook(CERT_MANAGER_SERVICE, groups=("apps",))]),
    ],
)
def test_refused_the_charts_webhook_rewritten(
    guard: AdmissionPolicy, what: str, hooks: list[dict[str, Any]]
) -> None:
    for resource in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        refused(guard.decide(webhook(resource, "cert-manager-webhook", "UPDATE", hooks)),
                "webhooks")


# ---- roles ----------------------------------------------------------------------------------


def test_allowed_a_chart_role_with_ordinary_labels(guard: AdmissionPolicy) -> None:
    labels = {"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "prometheus-29.27.0"}
    allowed(guard.decide(role("clusterroles", labels)))
    allowed(guard.decide(role("roles", labels, namespace="binder", op="CREATE")))


def test_allowed_a_role_without_labels(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(role("clusterroles", None, op="CREATE")))


def test_allowed_a_chart_role_with_fewer_or_reordered_rules(guard: AdmissionPolicy) -> None:
    allowed(guard.decide(role("clusterroles", rules=PROMETHEUS_SERVER_RULES[::-1])))
    allowed(guard.decide(role("clusterroles", rules=PROMETHEUS_SERVER_RULES[:1])))
    allowed(guard.decide(role("clusterroles", rules=[])))
    first = PROMETHEUS_SERVER_RULES[0]
    narrower = {**first, "verbs": first["verbs"][:1]}
    allowed(guard.decide(role("clusterroles", rules=[narrower])))


EVERYTHING = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}


@pytest.mark.parametrize(
    ("what", "rules"),
    [
        # Step one of the red team's three-step path to cluster-admin (issue 20).
        ("grant everything", [*PROMETHEUS_SERVER_RULES, EVERYTHING]),
        ("read every Secret", [{"apiGroups": [""], "resources": ["secrets"],
                                "verbs": ["get", "list"]}]),
        ("mint tokens", [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                          "verbs": ["create"]}]),
        ("one more verb on its own resources",
         [{**PROMETHEUS_SERVER_RULES[0], "verbs": [*PROMETHEUS_SERVER_RULES[0]["verbs"],
                                                   "delete"]}]),
        ("its resources in another group",
         [{**PROMETHEUS_SERVER_RULES[0], "apiGroups": ["apps"]}]),
        ("a wildcard verb", [{**PROMETHEUS_SERVER_RULES[0], "verbs": ["*"]}]),
        ("every non-resource URL", [{"nonResourceURLs": ["*"], "verbs": ["get"]}]),
        ("impersonation", [{"apiGroups": [""], "resources": ["users", "groups",
                                                           "serviceaccounts"],
                            "verbs": ["impersonate"]}]),
    ],
)
def test_refused_a_chart_cluster_role_holding_a_rule_its_chart_does_not_render(
    guard: AdmissionPolicy, what: str, rules: list[dict[str, Any]]
) -> None:
    for op in ("CREATE", "UPDATE"):
        refused(guard.decide(role("clusterroles", op=op, rules=rules)), "role-rules")


def test_refused_a_chart_role_holding_a_rule_its_chart_does_not_render(
    guard: AdmissionPolicy,
) -> None:
    # The hub may manage user pods and their Secrets; not DaemonSets (privileged, every node).
    rules = [*HUB_ROLE_RULES, {"apiGroups": ["apps"], "resources": ["daemonsets"],
                               "verbs": ["create"]}]
    refused(guard.decide(role("roles", namespace="binder", rules=rules)), "role-rules")


def test_a_resource_name_limit_cannot_be_dropped(guard: AdmissionPolicy) -> None:
    """A chart rule limited to names (cert-manager's leader-election lease) may not lose the
    limit: a rule without resourceNames covers every name."""
    key = "roles/cert-manager/cert-manager:leaderelection"
    named = [r for r in CHART_CLUSTER_OBJECTS["cert-manager"].role_rules[key]
             if r["resourceNames"]]
    assert named, "the chart limits its leader-election lease by name"
    rule = {k: v for k, v in named[0].items() if v and k != "resourceNames"}
    request = role("roles", namespace="cert-manager", name="cert-manager:leaderelection",
                   op="CREATE", rules=[rule])
    refused(guard.decide(request), "role-rules")
    allowed(guard.decide(role("roles", namespace="cert-manager", op="CREATE",
                              name="cert-manager:leaderelection",
                              rules=[{k: v for k, v in named[0].items() if v}])))


@pytest.mark.parametrize(
    ("resource", "namespace", "name"),
    [
        ("clusterroles", "", "backdoor"),
        ("clusterroles", "", "cluster-admin"),
        ("clusterroles", "", "binder:deployer:deployer"),
        ("roles", "binder", "backdoor"),
        # A chart's Role name, in a namespace its chart does not render it in.
        ("roles", "monitoring", "hub"),
    ],
)
def test_refused_a_role_no_chart_renders(
    guard: AdmissionPolicy, resource: str, namespace: str, name: str
) -> None:
    refused(guard.decide(role(resource, op="CREATE", namespace=namespace, name=name, rules=[])),
            "role-rules")


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


@pytest.mark.parametrize(
    ("namespace", "annotations"),
    [
        # Step two of the red team's path: a token for the chart's own ServiceAccount, which
        # the agent could then read (step three) and keep after its own token is revoked.
        ("monitoring", {SA_NAME: "prometheus-server"}),
        ("binder", {SA_NAME: "hub"}),
        ("binder", {SA_NAME: "default"}),
        ("logging", {SA_NAME: "hub"}),
        ("binder", None),
        ("binder", {"other": "x"}),
    ],
)
def test_refused_every_token_secret(
    guard: AdmissionPolicy, namespace: str, annotations: dict[str, str] | None
) -> None:
    refused(guard.decide(secret(namespace, TOKEN, annotations)), "no-token-secrets")


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


# ---- the program's and the charts' cluster-scoped objects ---------------------------------


def cluster_object(resource: str, name: str, op: str = "CREATE", **spec: Any) -> Request:
    group, kind = {
        "ingressclasses": ("networking.k8s.io", "IngressClass"),
        "priorityclasses": ("scheduling.k8s.io", "PriorityClass"),
        "clusterissuers": ("cert-manager.io", "ClusterIssuer"),
        "customresourcedefinitions": ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }[resource]
    obj = {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": name}, **spec}
    return Request(op, group, resource, DEPLOYER_USER, object=obj,
                   old_object=obj if op == "UPDATE" else None)


@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("ingressclasses", "traefik"),
        ("priorityclasses", "binderhub-default-priority"),
        ("priorityclasses", "binder-node-critical"),
        ("clusterissuers", "letsencrypt-staging"),
        ("clusterissuers", "letsencrypt-production"),
        ("customresourcedefinitions", "certificates.cert-manager.io"),
    ],
)
def test_allowed_our_own_cluster_objects(guard: AdmissionPolicy, resource: str, name: str) -> None:
    for op in ("CREATE", "UPDATE"):
        allowed(guard.decide(cluster_object(resource, name, op, value=1000)
                             if resource == "priorityclasses"
                             else cluster_object(resource, name, op)))


@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("ingressclasses", "nginx"),
        ("priorityclasses", "system-cluster-critical"),
        ("priorityclasses", "backdoor"),
        ("clusterissuers", "letsencrypt"),
        ("clusterissuers", "backdoor-ca"),
        # Traefik's CRDs come from its crds/ directory: installed once, never by the agent.
        ("customresourcedefinitions", "ingressroutes.traefik.io"),
        ("customresourcedefinitions", "backdoors.example.org"),
    ],
)
def test_refused_cluster_objects_that_are_not_ours(
    guard: AdmissionPolicy, resource: str, name: str
) -> None:
    refused(guard.decide(cluster_object(resource, name)), "named-cluster-objects")


def test_refused_a_default_priority_class(guard: AdmissionPolicy) -> None:
    """A globalDefault PriorityClass would set every new pod's priority, cluster-wide."""
    request = cluster_object("priorityclasses", "binderhub-default-priority", "UPDATE",
                             value=1000, globalDefault=True)
    refused(guard.decide(request), "no-default-priority")
    allowed(guard.decide(cluster_object("priorityclasses", "binderhub-default-priority",
                                        value=1000, globalDefault=False)))


# ---- the red team's findings, as tests --------------------------------------------------


def test_the_three_step_path_to_cluster_admin_is_refused_at_its_first_two_steps(
    guard: AdmissionPolicy,
) -> None:
    """Issue 20: (1) rewrite the prometheus-server ClusterRole to grant everything, (2) create
    a service-account-token Secret for prometheus-server, (3) read it. Step three needs the
    first two (the agent may read Secrets in monitoring, where Helm keeps its records)."""
    refused(guard.decide(role("clusterroles", rules=[EVERYTHING])), "role-rules")
    refused(guard.decide(secret("monitoring", TOKEN, {SA_NAME: "prometheus-server"})),
            "no-token-secrets")


def _sa_user(namespace: str, name: str) -> dict[str, Any]:
    return {"kind": "User", "name": f"system:serviceaccount:{namespace}:{name}", "apiGroup": RBAC}


#: Attempts to get past the guard that must fail, each with the check that stops it: kept as
#: tests so that no later change reopens one. (request builder, check)
BYPASSES: list[tuple[str, Any, str]] = [
    ("a User named like a chart ServiceAccount",
     lambda: crb([_sa_user("monitoring", "prometheus-server")]), "binding-subjects"),
    ("the group of every ServiceAccount of a namespace",
     lambda: crb([{"kind": "Group", "name": "system:serviceaccounts:monitoring",
                   "apiGroup": RBAC}]), "binding-subjects"),
    ("the group of every ServiceAccount",
     lambda: crb([{"kind": "Group", "name": "system:serviceaccounts", "apiGroup": RBAC}]),
     "binding-subjects"),
    ("a ClusterRoleBinding subject without a namespace",
     lambda: crb([sa("prometheus-server")]), "binding-subjects"),
    ("a subject with an empty namespace in a ClusterRoleBinding",
     lambda: crb([sa("prometheus-server", "")]), "binding-subjects"),
    ("a ServiceAccount of the same name in kube-system",
     lambda: crb([sa("prometheus-server", "kube-system")]), "binding-subjects"),
    ("a subject kind in lower case", lambda: crb([{"kind": "serviceaccount",
                                                   "name": "prometheus-server",
                                                   "namespace": "monitoring"}]),
     "binding-subjects"),
    ("a chart account named with a path",
     lambda: crb([sa("monitoring/prometheus-server", "")]), "binding-subjects"),
    ("an unrendered z2jh account (the image puller)",
     lambda: rb("binder", [sa("hook-image-puller", "binder")]), "binding-subjects"),
    ("an unrendered z2jh account (autohttps)",
     lambda: rb("binder", [sa("autohttps", "binder")]), "binding-subjects"),
    ("a chart role rewritten to grant everything",
     lambda: role("clusterroles", rules=[EVERYTHING]), "role-rules"),
    ("a new ClusterRole with no rules, bound later",
     lambda: role("clusterroles", op="CREATE", name="later", rules=[]), "role-rules"),
    ("a chart ClusterRole's rules under a new name",
     lambda: role("clusterroles", op="CREATE", name="prometheus-server-2"), "role-rules"),
    ("a role aggregated into admin",
     lambda: role("clusterroles", {f"{AGGREGATION_LABEL_PREFIX}admin": "true"}),
     "no-aggregation-labels"),
    ("an aggregating ClusterRole",
     lambda: role("clusterroles", aggregationRule={"clusterRoleSelectors": [{}]}),
     "no-aggregation-rule"),
    ("a webhook named like the chart's, calling out",
     lambda: webhook("validatingwebhookconfigurations", "cert-manager-webhook", "UPDATE",
                     [hook(url="https://collector.example.org/")]), "webhooks"),
    ("a webhook intercepting Secrets",
     lambda: webhook("mutatingwebhookconfigurations", "cert-manager-webhook", "UPDATE",
                     [hook(CERT_MANAGER_SERVICE, groups=("",), resources=("secrets",))]),
     "webhooks"),
    ("a webhook of a new name",
     lambda: webhook("mutatingwebhookconfigurations", "cert-manager-webhook-2"), "webhooks"),
    ("a token Secret for the agent's own account",
     lambda: secret("deployer", TOKEN, {SA_NAME: "deployer"}), "no-token-secrets"),
    ("a token Secret for a chart account",
     lambda: secret("cert-manager", TOKEN, {SA_NAME: "cert-manager"}), "no-token-secrets"),
    ("a Pod Security level relaxed",
     lambda: ns_update(PSA, {**PSA, "pod-security.kubernetes.io/enforce": "privileged"}),
     "pod-security-labels"),
    ("a Pod Security label removed", lambda: ns_update(PSA, {}), "pod-security-labels"),
    ("an IngressClass made the default for every Ingress",
     lambda: cluster_object("ingressclasses", "nginx",
                            metadata={"name": "nginx", "annotations": {
                                "ingressclass.kubernetes.io/is-default-class": "true"}}),
     "named-cluster-objects"),
    ("a PriorityClass above everything",
     lambda: cluster_object("priorityclasses", "override", value=2000000000),
     "named-cluster-objects"),
    ("a ClusterIssuer of our own CA",
     lambda: cluster_object("clusterissuers", "internal-ca", spec={"ca": {"secretName": "x"}}),
     "named-cluster-objects"),
    ("a CRD of a new name",
     lambda: cluster_object("customresourcedefinitions", "collectors.example.org"),
     "named-cluster-objects"),
    ("a chart CRD converted by a webhook that calls out",
     lambda: cluster_object("customresourcedefinitions", "certificates.cert-manager.io",
                            "UPDATE", spec={"conversion": {"strategy": "Webhook", "webhook": {
                                "clientConfig": {"url": "https://collector.example.org/"},
                                "conversionReviewVersions": ["v1"]}}}),
     "no-conversion-webhook"),
    ("a default PriorityClass of our name",
     lambda: cluster_object("priorityclasses", "binder-node-critical", value=1,
                            globalDefault=True), "no-default-priority"),
]


@pytest.mark.parametrize(("what", "request_of", "check"), BYPASSES, ids=[b[0] for b in BYPASSES])
def test_a_bypass_attempt_is_refused(
    guard: AdmissionPolicy, what: str, request_of: Any, check: str
) -> None:
    refused(guard.decide(request_of()), check)


def test_the_model_refuses_what_the_api_server_refuses_in_a_policy(rec: Recording) -> None:
    """A variable named like a CEL reserved word is refused by the API server ("must be a
    valid CEL identifier"): the first real-engine run of a variable called `namespace`."""
    from tests.admission import CEL_RESERVED

    assert "namespace" in CEL_RESERVED
    (policy,) = rec.of_type(POLICY)
    spec = copy.deepcopy(policy.inputs["spec"])
    spec["variables"][0]["name"] = "namespace"
    with pytest.raises(ValueError, match="not a valid CEL identifier"):
        AdmissionPolicy(spec)
