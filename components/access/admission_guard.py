"""An admission guard on the deploy agent: a ValidatingAdmissionPolicy and its binding.

RBAC cannot limit *what* a request writes, only which verb on which name: the deploy agent
may create any ClusterRoleBinding whose role it may ``bind``, a webhook configuration of any
name, a role with any rules it may ``escalate``, and a token Secret for any ServiceAccount of
its namespaces (docs/access.md). A ValidatingAdmissionPolicy (``admissionregistration.k8s.io/v1``,
GA in Kubernetes 1.30) judges the object itself with CEL. This one matches only requests made
as the deploy agent's ServiceAccount and refuses, on create and update:

* a RoleBinding/ClusterRoleBinding with a subject other than a chart's own ServiceAccount;
* a Role/ClusterRole the charts do not render, or holding a rule its chart does not render
  for it (a leaked token could otherwise rewrite ``prometheus-server`` to grant everything:
  the red team's three-step path to cluster-admin, issue 20);
* a Role/ClusterRole carrying an ``rbac.authorization.k8s.io/aggregate-to-*`` label (its
  rules would flow into ``view``/``edit``/``admin`` or any other aggregating role), or a
  ClusterRole with an ``aggregationRule`` (it would collect other roles' rules);
* a Mutating/ValidatingWebhookConfiguration the charts do not render, one whose webhooks call
  anything but the chart's own Service (a URL, another Service), or intercept API groups the
  chart's do not (it could otherwise read every Secret written in the cluster);
* any ``kubernetes.io/service-account-token`` Secret (no chart renders one; a planted token
  would outlive the revocation of the agent's own);
* an IngressClass, PriorityClass or ClusterIssuer of a name that is not ours, and a
  ``globalDefault`` PriorityClass (it would take over every pod's priority);
* an update of a Namespace that adds, changes or removes a ``pod-security.kubernetes.io/*``
  label (its RBAC may patch the managed namespaces; their Pod Security levels, which the
  plan's token-reach check relies on, change only with the admin credentials).

The names and rules come from :mod:`components.access.chart_objects` (what the pinned charts
render, :mod:`components.catalog.rendered`; the same source as the deployer's RBAC). The
deployer's RBAC grants nothing on admission policies, so it can neither change nor delete
this guard.

Upstream references:

* https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
  (matchConstraints, matchConditions, variables, validations; ``object``/``oldObject`` are
  null on DELETE/CREATE; ``request.userInfo.username``; ``has()`` for optional fields);
* https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/ (a
  ServiceAccount's user name is ``system:serviceaccount:<namespace>:<name>``);
* https://kubernetes.io/docs/reference/access-authn-authz/rbac/#aggregated-clusterroles;
* a ServiceAccount subject without ``namespace`` in a RoleBinding means the binding's own
  namespace: kubernetes/kubernetes ``pkg/registry/rbac/validation/rule.go`` (appliesToUser).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.access.chart_objects import ChartClusterObjects
from components.access.deployer_rules import RBAC_GROUP
from components.access.objects import MANAGED_BY, TOKEN_SECRET_TYPE
from components.config.access import POD_SECURITY_LABEL_PREFIX

#: The API group and version of the policy objects (GA, and served by default, since 1.30).
ADMISSION_API = "admissionregistration.k8s.io/v1"
#: Oldest Kubernetes minor version that serves ADMISSION_API's ValidatingAdmissionPolicy.
MIN_KUBERNETES = (1, 30)
#: Label keys that aggregate a ClusterRole's rules into others.
AGGREGATION_LABEL_PREFIX = "rbac.authorization.k8s.io/aggregate-to-"

BINDINGS = ("rolebindings", "clusterrolebindings")
ROLES = ("roles", "clusterroles")
WEBHOOKS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
#: Cluster-scoped kinds the agent writes by name: (API group, resource).
NAMED_CLUSTER_KINDS = (
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("networking.k8s.io", "ingressclasses"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("cert-manager.io", "clusterissuers"),
)


def service_account_username(namespace: str, name: str) -> str:
    """The user name the API server gives a ServiceAccount's requests."""
    return f"system:serviceaccount:{namespace}:{name}"


def _cel_list(items: Sequence[str]) -> str:
    # JSON string literals are valid CEL string literals (double quotes, backslash escapes).
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def _is(resources: Sequence[str]) -> str:
    return f"request.resource.resource in {_cel_list(resources)}"


def _labels_kept(new: str, old: str) -> str:
    """CEL: every Pod Security label of ``new`` is in ``old``, with the same value."""
    prefix = json.dumps(POD_SECURITY_LABEL_PREFIX)
    return (
        f"(!has({new}.metadata.labels) || {new}.metadata.labels.all(k, !k.startsWith({prefix})"
        f" || (has({old}.metadata.labels) && k in {old}.metadata.labels && "
        f"{old}.metadata.labels[k] == {new}.metadata.labels[k])))"
    )


def _covered(rule: str, allowed: str) -> str:
    """CEL: the PolicyRule ``rule`` grants nothing beyond the allowed rule ``allowed`` (a map
    of lists, :func:`components.catalog.rendered.rule_key`): each of its groups, resources,
    verbs and URLs is in ``allowed``'s, and if ``allowed`` names resources, so does ``rule``,
    within them. A wildcard is only covered by the same wildcard."""

    def listed(field: str) -> str:
        return f"(has({rule}.{field}) ? {rule}.{field} : [])"

    return (
        f"{listed('apiGroups')}.all(g, g in {allowed}.apiGroups) && "
        f"{listed('resources')}.all(r, r in {allowed}.resources) && "
        f"{rule}.verbs.all(v, v in {allowed}.verbs) && "
        f"{listed('nonResourceURLs')}.all(u, u in {allowed}.nonResourceURLs) && "
        f"(size({allowed}.resourceNames) == 0 || (size({listed('resourceNames')}) > 0 && "
        f"{listed('resourceNames')}.all(n, n in {allowed}.resourceNames)))"
    )


#: Each check: (name, CEL expression that must be true, message). Every expression starts by
#: narrowing to the resources it is about, so it is true for every other matched request.
_CHECKS: tuple[tuple[str, str, str], ...] = (
    (
        "binding-subjects",
        f"!({_is(BINDINGS)}) || !has(object.subjects) || object.subjects.all(s, "
        "s.kind == 'ServiceAccount' && "
        "((has(s.namespace) && s.namespace != '' ? s.namespace : variables.requestNamespace) "
        "+ '/' + s.name) in variables.chartAccounts)",
        "the deploy agent may bind roles only to the charts' own ServiceAccounts "
        "(components/catalog/rendered.json); bindings to anyone else need the admin "
        "credentials",
    ),
    (
        "role-rules",
        f"!({_is(ROLES)}) || (variables.roleKey in variables.roleRules && "
        "(!has(object.rules) || object.rules.all(rule, "
        f"variables.roleRules[variables.roleKey].exists(a, {_covered('rule', 'a')}))))",
        "the deploy agent may write only the roles the pinned charts render, with their "
        "rules (components/catalog/rendered.json); any other role or rule needs the admin "
        "credentials",
    ),
    (
        "no-aggregation-labels",
        f"!({_is(ROLES)}) || !has(object.metadata.labels) || "
        "!object.metadata.labels.exists(k, "
        f"k.startsWith({json.dumps(AGGREGATION_LABEL_PREFIX)}))",
        f"the deploy agent may not put {AGGREGATION_LABEL_PREFIX}* labels on a role: its "
        "rules would flow into view/edit/admin",
    ),
    (
        "no-aggregation-rule",
        "request.resource.resource != 'clusterroles' || !has(object.aggregationRule)",
        "the deploy agent may not create or change an aggregating ClusterRole (aggregationRule)",
    ),
    (
        "webhooks",
        f"!({_is(WEBHOOKS)}) || (object.metadata.name in variables.webhooks && "
        "(!has(object.webhooks) || object.webhooks.all(w, "
        "has(w.clientConfig.service) && !has(w.clientConfig.url) && "
        "(w.clientConfig.service.namespace + '/' + w.clientConfig.service.name) in "
        "variables.webhooks[object.metadata.name].services && "
        "(!has(w.rules) || w.rules.all(r, !has(r.apiGroups) || r.apiGroups.all(g, "
        "g in variables.webhooks[object.metadata.name].apiGroups))))))",
        "the deploy agent may write only the charts' webhook configurations, calling the "
        "chart's own Service for the API groups the chart renders "
        "(components/catalog/rendered.json)",
    ),
    (
        "no-token-secrets",
        "request.resource.resource != 'secrets' || !has(object.type) || "
        f"object.type != {json.dumps(TOKEN_SECRET_TYPE)}",
        "the deploy agent may not create ServiceAccount token Secrets (no chart needs one, "
        "and a planted token would outlive the revocation of the agent's own)",
    ),
    (
        "named-cluster-objects",
        f"!({_is([r for _, r in NAMED_CLUSTER_KINDS])}) || "
        "(request.resource.resource + '/' + object.metadata.name) in variables.clusterNames",
        "the deploy agent may write only the program's and the charts' own CRDs, "
        "IngressClasses, PriorityClasses and ClusterIssuers (components/catalog/rendered.json, "
        "components/access/chart_objects.py)",
    ),
    (
        # The API server calls a CRD's conversion webhook with every object of that kind it
        # converts (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
        # custom-resource-definition-versioning/#webhook-conversion). No pinned chart's CRD
        # has one: tests/rendered/test_access_rendered.py submits each rendered CRD.
        "no-conversion-webhook",
        "request.resource.resource != 'customresourcedefinitions' || "
        "!has(object.spec.conversion) || !has(object.spec.conversion.strategy) || "
        "object.spec.conversion.strategy != 'Webhook'",
        "the deploy agent may not give a CRD a conversion webhook (the API server would send "
        "it every object of that kind)",
    ),
    (
        "no-default-priority",
        "request.resource.resource != 'priorityclasses' || !has(object.globalDefault) || "
        "!object.globalDefault",
        "the deploy agent may not make a PriorityClass the cluster's default (globalDefault)",
    ),
    (
        # Both directions: no label added or changed, none removed. Map `all` iterates keys.
        "pod-security-labels",
        "request.resource.resource != 'namespaces' || "
        f"({_labels_kept('object', 'oldObject')} && {_labels_kept('oldObject', 'object')})",
        "the deploy agent may not change a namespace's pod-security.kubernetes.io labels; "
        "change binder:namespaces.<ns>.podSecurity and run `pulumi up` with the admin "
        "credentials",
    ),
)


def _cel(value: Any) -> str:
    """A JSON value as a CEL literal (JSON strings, lists and maps are CEL literals)."""
    return json.dumps(value, sort_keys=True)


def policy_spec(
    deployer_namespace: str, deployer_name: str, charts: ChartClusterObjects
) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy's ``spec`` (wire names), for the deploy agent and the
    charts' objects. Pure, so that tests evaluate exactly these CEL expressions."""

    def rule(
        group: str, resources: Sequence[str], operations: Sequence[str] = ("CREATE", "UPDATE")
    ) -> dict[str, Any]:
        return {
            "apiGroups": [group],
            "apiVersions": ["*"],
            "operations": list(operations),
            "resources": list(resources),
        }

    username = service_account_username(deployer_namespace, deployer_name)
    return {
        # An error in an expression refuses the request rather than letting it through.
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                rule(RBAC_GROUP, (*BINDINGS, *ROLES)),
                rule("admissionregistration.k8s.io", WEBHOOKS),
                rule("", ("secrets",)),
                # Its RBAC cannot create namespaces; it may update the managed ones.
                rule("", ("namespaces",), ("UPDATE",)),
                *(rule(group, (resource,)) for group, resource in NAMED_CLUSTER_KINDS),
            ],
        },
        # Only the deploy agent's own requests; everyone else (the admin credentials, the
        # charts' controllers) is not judged by this policy.
        "matchConditions": [
            {
                "name": "deploy-agent",
                "expression": f"request.userInfo.username == {json.dumps(username)}",
            }
        ],
        "variables": [
            # The AdmissionRequest's `namespace` is omitempty: a cluster-scoped request has
            # none, and reading it is an error in the API server ("no such key"), not ''.
            # https://github.com/kubernetes/api/blob/master/admission/v1/types.go
            {"name": "requestNamespace",
             "expression": "has(request.namespace) ? request.namespace : ''"},
            {"name": "chartAccounts", "expression": _cel_list(sorted(charts.service_accounts))},
            {"name": "roleRules", "expression": _cel(dict(charts.role_rules))},
            # Evaluated only where a role is judged: `object` of a role request.
            {
                "name": "roleKey",
                "expression": "request.resource.resource + '/' + variables.requestNamespace "
                "+ '/' + object.metadata.name",
            },
            {"name": "webhooks", "expression": _cel(dict(charts.webhook_targets))},
            {
                "name": "clusterNames",
                "expression": _cel_list(sorted(
                    [f"customresourcedefinitions/{n}" for n in charts.crds]
                    + [f"ingressclasses/{n}" for n in charts.ingress_classes]
                    + [f"priorityclasses/{n}" for n in charts.priority_classes]
                    + [f"clusterissuers/{n}" for n in charts.cluster_issuers]
                )),
            },
        ],
        "validations": [
            {"expression": expression, "message": message, "reason": "Forbidden"}
            for _, expression, message in _CHECKS
        ],
    }


def _spec_args(
    spec: dict[str, Any],
) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs:
    """:func:`policy_spec` as the SDK's typed arguments (the same wire object)."""
    v1 = k8s.admissionregistration.v1
    return v1.ValidatingAdmissionPolicySpecArgs(
        failure_policy=spec["failurePolicy"],
        match_constraints=v1.MatchResourcesArgs(
            resource_rules=[
                v1.NamedRuleWithOperationsArgs(
                    api_groups=rule["apiGroups"],
                    api_versions=rule["apiVersions"],
                    operations=rule["operations"],
                    resources=rule["resources"],
                )
                for rule in spec["matchConstraints"]["resourceRules"]
            ]
        ),
        match_conditions=[
            v1.MatchConditionArgs(name=c["name"], expression=c["expression"])
            for c in spec["matchConditions"]
        ],
        variables=[
            v1.VariableArgs(name=v["name"], expression=v["expression"]) for v in spec["variables"]
        ],
        validations=[
            v1.ValidationArgs(expression=v["expression"], message=v["message"], reason=v["reason"])
            for v in spec["validations"]
        ],
    )


def check_names() -> list[str]:
    """The names of the checks, in the order of ``spec.validations``."""
    return [name for name, _, _ in _CHECKS]


def guard_name(deployer_namespace: str, deployer_name: str) -> str:
    """Name of the policy and its binding: a DNS subdomain (no ``:``), unique per agent."""
    return f"binder-{deployer_namespace}-{deployer_name}-guard"


@dataclass(frozen=True)
class DeployerAdmissionGuardArgs:
    """Inputs of :class:`DeployerAdmissionGuard`."""

    deployer_namespace: str
    deployer_name: str
    chart_objects: ChartClusterObjects
    """What the enabled releases' charts own (:func:`chart_cluster_objects`)."""


class DeployerAdmissionGuard(pulumi.ComponentResource):
    """The ValidatingAdmissionPolicy and its binding that limit the deploy agent's writes."""

    policy: k8s.admissionregistration.v1.ValidatingAdmissionPolicy
    binding: k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding

    def __init__(
        self,
        name: str,
        args: DeployerAdmissionGuardArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("binder:bootstrap:DeployerAdmissionGuard", name, None, opts)
        object_name = guard_name(args.deployer_namespace, args.deployer_name)
        metadata = k8s.meta.v1.ObjectMetaArgs(name=object_name, labels=dict(MANAGED_BY))
        self.policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-policy",
            metadata=metadata,
            spec=_spec_args(
                policy_spec(args.deployer_namespace, args.deployer_name, args.chart_objects)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-binding",
            metadata=metadata,
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=self.policy.metadata.name,
                # Deny: refuse the request (not only warn or audit).
                validation_actions=["Deny"],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"policy": self.policy.metadata.name})
