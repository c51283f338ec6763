"""ClusterBootstrap on Pulumi's mock engine: namespaces, the deployer, users, ordering, RBAC.

The component runs for real (typed SDK arguments, real Outputs); the mock engine records what
`pulumi up` would send. Every raw object is validated strictly for the targeted Kubernetes
version, and the RBAC it creates is evaluated with tests/rbac.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pytest

from components.access.bootstrap import ClusterBootstrap, ClusterBootstrapArgs
from components.access.chart_objects import (
    CHART_CLUSTER_OBJECTS,
    chart_cluster_objects,
    enabled_releases,
    program_objects,
)
from components.access.deployer_rules import DEPLOYER_NAMESPACE_RULES, deployer_cluster_rules
from components.access.objects import kubeconfig_yaml, object_slug
from components.access.reach import check_access
from components.config.access import DEFAULT_NAMESPACES
from components.config.base import ConfigError
from components.config.stack import StackConfig, parse_config
from tests import fast_yaml
from tests.k8s_validate import assert_valid_objects
from tests.rbac import RBAC, NotModelledError, RbacModel, Subject
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording, plaintext_leaks, run_program

NS = "kubernetes:core/v1:Namespace"
SA = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
CR = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CRB = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
RB = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"

ENDPOINT = "https://192.0.2.10:6443"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n").decode()

CLUSTER = {"provider": "magnum", "name": "test", "template": {
    "image": "fcos", "masterFlavor": "m", "flavor": "f", "externalNetwork": "ext",
    "keypair": "k",
    # People and groups log in through Keystone (config refuses them otherwise).
    "labels": {"keystone_auth_enabled": "true", "capi_helm_chart_version": "0.27.0"},
}}
USERS = [
    # Cluster-wide admin/edit reach every Secret, the deployer's token included: allowed only
    # when acknowledged (docs/access.md).
    {"name": "binder-admins", "kind": "Group", "role": "admin", "mayReadDeployerToken": True},
    # view in `binder` reads pod specs, which carry the users' hub tokens: acknowledged.
    {"name": "support", "kind": "Group", "role": "view", "namespaces": ["binder", "monitoring"],
     "mayReadCredentials": True},
    # edit in `binder`, which admits privileged pods (BinderHub's dind), reaches the nodes.
    {"name": "alice", "kind": "User", "role": "edit", "namespaces": ["binder", "extra"],
     "mayReadDeployerToken": True},
    {"name": "bob", "kind": "User", "role": "edit", "mayReadDeployerToken": True},
    {"name": "ci-robot", "kind": "ServiceAccount", "role": "edit", "namespaces": ["extra"]},
    {"name": "dave", "kind": "User", "role": "edit", "namespaces": ["extra"]},
    {"name": "metrics-reader", "kind": "ServiceAccount", "role": "binder-metrics"},
]
NAMESPACES = {
    "binder": {
        "labels": {"team": "binder"},
        "annotations": {"owner": "binder-admins@example.org"},
        "quota": {"hard": {"requests.cpu": 40, "requests.memory": "160Gi", "pods": 300}},
        "limits": [
            {"type": "Container", "default": {"cpu": 1, "memory": "2Gi"},
             "defaultRequest": {"cpu": "250m", "memory": "1Gi"}},
        ],
        "protect": True,
    },
    "extra": {},
}


def stack_config(**overrides: Any) -> StackConfig:
    raw: dict[str, Any] = {
        "cluster": CLUSTER,
        "namespaces": NAMESPACES,
        "users": USERS,
        "customRoles": ["binder-metrics"],
    }
    raw.update(overrides)
    cfg = parse_config(raw)
    check_access(cfg)  # as the plan does after parsing
    return cfg


def run_bootstrap(cfg: StackConfig) -> tuple[Recording, dict[str, Any]]:
    """Run the component alone; return the recording and what the component exposed."""
    exposed: dict[str, Any] = {}

    def program() -> None:
        cluster = type(
            "Cluster",
            (),
            {
                "name": pulumi.Output.from_input("test"),
                "endpoint": pulumi.Output.from_input(ENDPOINT),
                "ca_data": pulumi.Output.from_input(CA),
            },
        )()
        bootstrap = ClusterBootstrap("bootstrap", ClusterBootstrapArgs.from_stack(cfg, cluster))
        exposed["component"] = bootstrap
        exposed["ready"] = {
            ns: [r._name for r in bootstrap.ready_for(ns)] for ns in bootstrap.namespaces
        }
        pulumi.export("deployer_kubeconfig", bootstrap.deployer_kubeconfig)
        for user, kubeconfig in bootstrap.user_kubeconfigs.items():
            pulumi.export(f"user_kubeconfig_{user}", kubeconfig)

    return run_program(program), exposed


@pytest.fixture(scope="module")
def run() -> tuple[Recording, dict[str, Any]]:
    return run_bootstrap(stack_config())


@pytest.fixture(scope="module")
def rec(run: tuple[Recording, dict[str, Any]]) -> Recording:
    return run[0]


@pytest.fixture(scope="module")
def rbac(rec: Recording) -> RbacModel:
    return RbacModel(rec)


DEPLOYER = Subject("ServiceAccount", "deployer", "deployer")
#: The default namespaces of the parts on by default: Harbor (binder:harbor) is off unless asked
#: for (its namespace: tests/components/releases/test_harbor.py).
ON_BY_DEFAULT = {ns for ns in DEFAULT_NAMESPACES if ns != "harbor"}
MANAGED = sorted({*ON_BY_DEFAULT, "extra"})
#: Where the deployer works: not its own namespace (its and the ServiceAccount users' tokens).
DEPLOYER_WORKS_IN = [ns for ns in MANAGED if ns != "deployer"]


def urn_names(rec: Recording, urns: list[str]) -> set[str]:
    return {rec.by_urn(u).name for u in urns}


# --------------------------------------------------------------------------------------
# Namespaces
# --------------------------------------------------------------------------------------


def test_every_namespace_is_created_with_its_explicit_name(rec: Recording) -> None:
    names = {r.inputs["metadata"]["name"] for r in rec.of_type(NS)}
    assert names == set(MANAGED)
    for r in rec.of_type(NS):
        # Explicit name: no Pulumi auto-naming suffix, so releases can refer to it.
        assert r.name == f"bootstrap-ns-{r.inputs['metadata']['name']}"


def test_namespaces_wait_for_nothing(rec: Recording) -> None:
    """Issue 19: the namespaces no longer wait for the deployer's ClusterRole (issue 4 put
    them after it). On a real API server a run by the deploy agent that adds a namespace is
    refused at both objects and changes nothing (e2e/tests: the deploy agent cannot add a
    namespace), so the link only delayed every first `up`."""
    role = rec.one(CR, "bootstrap-deployer-cluster-role")
    assert role.dependencies == []
    assert rec.of_type(NS)
    for r in rec.of_type(NS):
        assert r.dependencies == [], r.name
    admin_rec, _ = run_bootstrap(stack_config(deployer={"clusterAdmin": True}))
    assert admin_rec.of_type(NS), "the namespaces are still created"
    assert all(r.dependencies == [] for r in admin_rec.of_type(NS))


def test_namespace_labels_annotations_and_protect(rec: Recording) -> None:
    binder = rec.one(NS, "bootstrap-ns-binder")
    meta = binder.inputs["metadata"]
    assert meta["labels"]["team"] == "binder"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "pulumi"
    assert meta["annotations"] == {"owner": "binder-admins@example.org"}
    assert binder.protect is True
    assert rec.one(NS, "bootstrap-ns-extra").protect is False
    # protect is NOT inherited by the namespace's quota and bindings (they stay removable).
    assert [r.name for r in rec.resources if r.protect] == ["bootstrap-ns-binder"]


def test_quota_and_limit_range(rec: Recording) -> None:
    quota = rec.one("kubernetes:core/v1:ResourceQuota")
    assert quota.inputs["metadata"]["namespace"] == "binder"
    assert quota.inputs["spec"]["hard"] == {
        "requests.cpu": "40", "requests.memory": "160Gi", "pods": "300"
    }
    limits = rec.one("kubernetes:core/v1:LimitRange")
    assert limits.inputs["metadata"]["namespace"] == "binder"
    assert limits.inputs["spec"]["limits"] == [
        {
            "type": "Container",
            "default": {"cpu": "1", "memory": "2Gi"},
            "defaultRequest": {"cpu": "250m", "memory": "1Gi"},
        }
    ]
    for guard in (quota, limits):
        assert "bootstrap-ns-binder" in urn_names(rec, guard.dependencies)
    # Only namespaces that ask for guard rails get them.
    assert len(rec.of_type("kubernetes:core/v1:ResourceQuota")) == 1


def test_ready_for_names_the_namespace_and_its_guard_rails(
    run: tuple[Recording, dict[str, Any]],
) -> None:
    _, exposed = run
    assert exposed["ready"]["binder"] == [
        "bootstrap-ns-binder", "bootstrap-quota-binder", "bootstrap-limits-binder"
    ]
    assert exposed["ready"]["extra"] == ["bootstrap-ns-extra"]
    with pytest.raises(KeyError, match="binder:namespaces"):
        exposed["component"].ready_for("kube-system")


# --------------------------------------------------------------------------------------
# The deployer: ServiceAccount, token, kubeconfig
# --------------------------------------------------------------------------------------


def test_deployer_service_account_and_token_secret(rec: Recording) -> None:
    account = rec.one(SA, "bootstrap-deployer-sa")
    assert account.inputs["metadata"]["name"] == "deployer"
    assert account.inputs["metadata"]["namespace"] == "deployer"
    assert account.inputs["automountServiceAccountToken"] is False
    assert "bootstrap-ns-deployer" in urn_names(rec, account.dependencies)

    token = rec.one(SECRET, "bootstrap-deployer-token")
    assert token.inputs["type"] == "kubernetes.io/service-account-token"
    assert token.inputs["metadata"]["name"] == "deployer-token-1"
    assert token.inputs["metadata"]["namespace"] == "deployer"
    assert token.inputs["metadata"]["annotations"] == {
        "kubernetes.io/service-account.name": "deployer"
    }
    # The token controller deletes tokens of accounts that do not exist: SA first.
    assert "bootstrap-deployer-sa" in urn_names(rec, token.dependencies)
    assert "data" not in token.inputs
    assert "stringData" not in token.inputs


def parse_kubeconfig(text: str) -> dict[str, Any]:
    doc = fast_yaml.safe_load(text)
    assert doc["apiVersion"] == "v1"
    assert doc["kind"] == "Config"
    context = {c["name"]: c["context"] for c in doc["contexts"]}[doc["current-context"]]
    cluster = {c["name"]: c["cluster"] for c in doc["clusters"]}[context["cluster"]]
    user = {u["name"]: u["user"] for u in doc["users"]}[context["user"]]
    return {"context": context, "cluster": cluster, "user": user}


def test_deployer_kubeconfig_is_a_secret_usable_as_is(rec: Recording) -> None:
    assert rec.secret_output("deployer_kubeconfig")
    config = parse_kubeconfig(rec.outputs["deployer_kubeconfig"])
    assert config["cluster"] == {"server": ENDPOINT, "certificate-authority-data": CA}
    # The token the mock token controller put in the Secret's data.token, base64-decoded.
    assert config["user"] == {"token": "mock-token-bootstrap-deployer-token"}
    assert config["context"]["namespace"] == "deployer"


def test_tokens_appear_nowhere_in_plaintext(rec: Recording) -> None:
    tokens = [
        "mock-token-bootstrap-deployer-token",
        "mock-token-bootstrap-user-ci-robot-token",
        "mock-token-bootstrap-user-metrics-reader-token",
    ]
    for r in rec.resources:
        assert list(plaintext_leaks(r.wire, tokens)) == [], r.name
    assert list(plaintext_leaks(rec.outputs_wire, tokens)) == []


def test_kubeconfig_yaml_without_ca_relies_on_public_trust() -> None:
    doc = fast_yaml.safe_load(
        kubeconfig_yaml(
            cluster_name="c", endpoint="https://k.example.org", ca_data="", user="u",
            token="t", namespace=None,
        )
    )
    assert doc["clusters"][0]["cluster"] == {"server": "https://k.example.org"}
    assert "namespace" not in doc["contexts"][0]["context"]


def test_bumping_token_generation_renames_the_secret_under_the_same_pulumi_name() -> None:
    rec, _ = run_bootstrap(stack_config(deployer={"tokenGeneration": 2}))
    token = rec.one(SECRET, "bootstrap-deployer-token")
    # Same logical name, new metadata.name: Pulumi replaces it (create new, delete old).
    assert token.inputs["metadata"]["name"] == "deployer-token-2"


# --------------------------------------------------------------------------------------
# The deployer's RBAC: least privilege by evaluation
# --------------------------------------------------------------------------------------


def test_deployer_is_bound_to_no_cluster_admin_by_default(rec: Recording, rbac: RbacModel) -> None:
    refs = {b.role_name for b in rbac.bindings_of(DEPLOYER)}
    assert "cluster-admin" not in refs
    assert refs == {"binder:deployer:deployer", "binder:deployer:deployer:namespaced"}
    # No wildcard anywhere in the deployer's rules.
    for role in refs:
        for rule in rbac.cluster_roles[role]:
            for key in ("verbs", "apiGroups", "resources"):
                assert "*" not in rule[key], (role, rule)


def test_deployer_namespaced_rules_are_bound_only_in_managed_namespaces(
    rbac: RbacModel,
) -> None:
    bound = [
        b.namespace
        for b in rbac.bindings_of(DEPLOYER)
        if b.role_name == "binder:deployer:deployer:namespaced"
    ]
    # Only RoleBindings (never a ClusterRoleBinding), one per managed namespace but its own.
    assert None not in bound
    assert sorted(str(ns) for ns in bound) == DEPLOYER_WORKS_IN


#: What `helm upgrade` of this project's charts, and managing the bootstrap itself, needs.
DEPLOYER_NEEDS = [
    # Helm release records (Secrets in the release namespace), chart workloads and config.
    ("create", "secrets", "", "binder"),
    ("list", "secrets", "", "cert-manager"),
    ("patch", "deployments", "apps", "binder"),
    ("create", "daemonsets", "apps", "binder"),  # dind, image puller
    ("create", "statefulsets", "apps", "monitoring"),
    ("create", "jobs", "batch", "cert-manager"),  # startupapicheck, hooks
    ("create", "persistentvolumeclaims", "", "binder"),
    ("create", "networkpolicies", "networking.k8s.io", "binder"),
    ("create", "ingresses", "networking.k8s.io", "binder"),
    ("create", "poddisruptionbudgets", "policy", "binder"),
    ("create", "roles", RBAC, "binder"),
    ("create", "rolebindings", RBAC, "binder"),
    ("watch", "pods", "", "binder"),
    ("get", "pods/log", "", "binder"),
    ("update", "resourcequotas", "", "binder"),
    ("update", "limitranges", "", "binder"),
    ("create", "roles", RBAC, "cert-manager"),
    ("escalate", "roles", RBAC, "cert-manager"),  # cert-manager's leases/tokenrequest Roles
    # Cluster-scoped objects the charts ship: creating them (changing them: by name, below).
    ("create", "customresourcedefinitions", "apiextensions.k8s.io", None),
    ("create", "clusterroles", RBAC, None),
    ("create", "clusterrolebindings", RBAC, None),
    ("create", "validatingwebhookconfigurations", "admissionregistration.k8s.io", None),
    ("create", "mutatingwebhookconfigurations", "admissionregistration.k8s.io", None),
    ("create", "ingressclasses", "networking.k8s.io", None),
    ("create", "priorityclasses", "scheduling.k8s.io", None),
    ("create", "clusterissuers", "cert-manager.io", None),
    ("list", "namespaces", "", None),
]


@pytest.mark.parametrize(("verb", "resource", "group", "namespace"), DEPLOYER_NEEDS)
def test_deployer_can_do_what_the_releases_need(
    rbac: RbacModel, verb: str, resource: str, group: str, namespace: str | None
) -> None:
    assert rbac.can(DEPLOYER, verb, resource, group, namespace)


def test_deployer_manages_only_the_namespaces_it_works_in(rbac: RbacModel) -> None:
    for ns in DEPLOYER_WORKS_IN:
        assert rbac.can(DEPLOYER, "patch", "namespaces", "", None, name=ns)
        assert rbac.can(DEPLOYER, "delete", "namespaces", "", None, name=ns)
    for ns in ("deployer", "kube-system", "default", "someone-else"):
        assert not rbac.can(DEPLOYER, "delete", "namespaces", "", None, name=ns)
        assert not rbac.can(DEPLOYER, "update", "namespaces", "", None, name=ns)
    # A new namespace widens the deployer's own permissions: the admin credentials add it.
    assert not rbac.can(DEPLOYER, "create", "namespaces")


FORBIDDEN = [
    ("get", "secrets", "", "kube-system"),
    ("list", "secrets", "", "someone-else"),
    ("create", "pods", "", "kube-system"),
    ("create", "deployments", "apps", "kube-system"),
    ("create", "rolebindings", RBAC, "kube-system"),
    ("create", "pods/exec", "", "binder"),
    ("create", "endpoints", "", "binder"),
    ("delete", "customresourcedefinitions", "apiextensions.k8s.io", None),
    ("update", "nodes", "", None),
    ("delete", "persistentvolumes", "", None),
    ("impersonate", "users", "", None),
    ("impersonate", "serviceaccounts", "", "binder"),
    ("approve", "signers", "certificates.k8s.io", None),
    ("create", "certificatesigningrequests", "certificates.k8s.io", None),
    ("deletecollection", "secrets", "", "binder"),
    ("create", "serviceaccounts/token", "", "binder"),
    # Its own namespace holds its token and the ServiceAccount users' tokens.
    ("get", "secrets", "", "deployer"),
    ("list", "secrets", "", "deployer"),
    ("create", "secrets", "", "deployer"),
    ("create", "pods", "", "deployer"),
    ("create", "serviceaccounts", "", "deployer"),
    ("create", "rolebindings", RBAC, "deployer"),
    # Changing cluster-scoped objects other than the charts' own (names asked: None).
    ("patch", "customresourcedefinitions", "apiextensions.k8s.io", None),
    ("update", "clusterroles", RBAC, None),
    ("patch", "clusterrolebindings", RBAC, None),
    ("patch", "mutatingwebhookconfigurations", "admissionregistration.k8s.io", None),
    ("escalate", "clusterroles", RBAC, None),  # i.e. creating a role with more than it holds
    ("bind", "clusterroles", RBAC, None),
    # No rendered object of any stack is one of these (tests/rendered: least privilege,
    # measured): Helm creates no bare Pods, and cert-manager's ingress-shim, not the deployer,
    # makes the Certificates.
    ("create", "pods", "", "binder"),
    ("delete", "pods", "", "binder"),
    ("create", "certificates", "cert-manager.io", "binder"),
    ("create", "issuers", "cert-manager.io", "binder"),
    ("create", "ingressroutes", "traefik.io", "ingress"),
    ("create", "horizontalpodautoscalers", "autoscaling", "binder"),
    ("create", "cronjobs", "batch", "binder"),
]


@pytest.mark.parametrize(("verb", "resource", "group", "namespace"), FORBIDDEN)
def test_deployer_cannot_do_what_it_does_not_need(
    rbac: RbacModel, verb: str, resource: str, group: str, namespace: str | None
) -> None:
    assert not rbac.can(DEPLOYER, verb, resource, group, namespace)


#: Chart objects of the default test stack (every part enabled).
CHARTS = chart_cluster_objects(CHART_CLUSTER_OBJECTS, program_objects(stack_config()))


def test_bind_escalate_and_changes_only_on_the_charts_own_cluster_objects(
    rbac: RbacModel,
) -> None:
    """Issue 1: every cluster-scoped rule that is not read/create names its objects."""
    rules = rbac.cluster_roles["binder:deployer:deployer"]
    for rule in rules:
        risky = set(rule["verbs"]) - {"get", "list", "watch", "create"}
        harmless = set(rule["resources"]) <= {"ingressclasses", "priorityclasses", "clusterissuers"}
        if risky and not harmless:
            assert rule.get("resourceNames"), rule
    by_resource = {
        (resource, verb): rule.get("resourceNames")
        for rule in rules
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for verb in ("bind", "escalate", "update", "patch", "delete"):
        assert by_resource[("clusterroles", verb)] == sorted(CHARTS.cluster_roles)
    for verb in ("update", "patch", "delete"):
        assert by_resource[("clusterrolebindings", verb)] == sorted(CHARTS.cluster_role_bindings)
        assert by_resource[("validatingwebhookconfigurations", verb)] == ["cert-manager-webhook"]
    assert ("delete", "customresourcedefinitions") not in by_resource
    # Namespaced roles: bind/escalate only where the namespaced role is bound.
    namespaced = rbac.cluster_roles["binder:deployer:deployer:namespaced"]
    assert {"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["bind", "escalate"]} in [
        {k: v for k, v in r.items() if v} for r in namespaced
    ]
    assert not [r for r in namespaced if "clusterroles" in r["resources"]]


#: Roles no deploy agent may hand out or rewrite, whatever the charts.
NEVER = ["cluster-admin", "admin", "edit", "view", "system:node", "system:controller:token-cleaner",
         "binder:deployer:deployer", "binder:deployer:deployer:namespaced", "someone-elses-role"]


@pytest.mark.parametrize("role", NEVER)
def test_deployer_cannot_bind_or_escalate_roles_the_charts_do_not_ship(
    rbac: RbacModel, role: str
) -> None:
    assert role not in CHARTS.cluster_roles
    for namespace in (None, "binder", "kube-system"):
        assert not rbac.can(DEPLOYER, "bind", "clusterroles", RBAC, namespace, name=role)
    assert not rbac.can(DEPLOYER, "escalate", "clusterroles", RBAC, None, name=role)
    for verb in ("update", "patch", "delete"):
        assert not rbac.can(DEPLOYER, verb, "clusterroles", RBAC, None, name=role)


def test_deployer_cannot_make_itself_cluster_admin(rbac: RbacModel) -> None:
    """Issue 1, modelled with escalation prevention (tests/rbac.py)."""
    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    # bind cluster-admin: no `bind` on it, and it does not hold all of cluster-admin.
    assert not rbac.may_bind(DEPLOYER, "ClusterRole", "cluster-admin")
    # ... so it can neither create a ClusterRoleBinding to it (create is not name-limited,
    # the bind check is) nor a RoleBinding to it in a namespace it manages.
    assert rbac.can(DEPLOYER, "create", "clusterrolebindings", RBAC)
    assert not rbac.can_write_binding(DEPLOYER, "create", "ClusterRole", "cluster-admin")
    assert not rbac.can_write_binding(DEPLOYER, "create", "ClusterRole", "cluster-admin", "binder")
    # Nor repoint its own binding, nor rewrite its own role or a built-in one.
    assert not rbac.can_write_binding(
        DEPLOYER, "update", "ClusterRole", "cluster-admin", name="binder:deployer:deployer"
    )
    for role in ("binder:deployer:deployer", "cluster-admin", "edit"):
        assert not rbac.can_write_role(DEPLOYER, "patch", role, everything)
    # A brand-new ClusterRole may hold only what the deployer holds: no `*`.
    assert not rbac.can_write_role(DEPLOYER, "create", "new-role", everything)
    own = rbac.cluster_roles["binder:deployer:deployer"][:2]
    assert rbac.can_write_role(DEPLOYER, "create", "new-role", own)
    # Nothing it can act as holds more either: it reaches no ServiceAccount of the program.
    assert rbac.tokens_reachable(DEPLOYER) == set()


def test_the_residual_path_docs_access_md_describes(rbac: RbacModel) -> None:
    """What RBAC alone does NOT prevent: upgrading the charts means rewriting their
    ClusterRoles, so the deployer may escalate and bind those, and RBAC cannot say with which
    rules. Rewriting one to grant everything is refused by the admission guard instead (its
    role-rules check; tests/components/access/test_deployer_reach.py). If this ever fails,
    update docs/access.md ("How the RBAC checks make this hold")."""
    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    assert rbac.can_write_role(DEPLOYER, "patch", "prometheus-server", everything)
    assert rbac.can_write_binding(DEPLOYER, "create", "ClusterRole", "prometheus-server")


def test_chart_object_names_follow_the_pinned_release_names() -> None:
    from components.catalog.charts import NAMESPACES

    assert set(CHART_CLUSTER_OBJECTS) == {
        "binderhub", "traefik", "cert-manager", "prometheus", "grafana", "fluentd", "cryptnono"
    }
    assert CHART_CLUSTER_OBJECTS["traefik"].cluster_roles == (f"traefik-{NAMESPACES['ingress']}",)
    # node-exporter renders a ClusterRole only with kubeRBACProxy.enabled (off here).
    assert CHART_CLUSTER_OBJECTS["prometheus"].cluster_roles == (
        "prometheus-kube-state-metrics", "prometheus-server"
    )
    assert "monitoring/prometheus-prometheus-node-exporter" in (
        CHART_CLUSTER_OBJECTS["prometheus"].service_accounts
    )
    # The image cleaner's ClusterRole is not rendered since issue 21 turned it off with dind
    # (on every committed stack); a pink/host stack would render it again.
    assert set(CHART_CLUSTER_OBJECTS["binderhub"].cluster_roles) == {"binderhub-user-scheduler"}
    assert CHART_CLUSTER_OBJECTS["grafana"].cluster_role_bindings == (
        "grafana-clusterrolebinding",
    )
    certs = CHART_CLUSTER_OBJECTS["cert-manager"]
    assert "cert-manager-controller-certificates" in certs.cluster_role_bindings
    assert "cert-manager-edit" in certs.cluster_roles  # aggregated, never bound
    assert "cert-manager-edit" not in certs.cluster_role_bindings
    for objects in CHART_CLUSTER_OBJECTS.values():
        for name in (*objects.cluster_roles, *objects.cluster_role_bindings):
            assert not name.startswith(("system:", "binder:")), name
            assert name not in ("cluster-admin", "admin", "edit", "view")
    # Issue 20: only what some stack renders (not every account z2jh could make).
    accounts = {a for o in CHART_CLUSTER_OBJECTS.values() for a in o.service_accounts}
    for unrendered in ("hook-image-awaiter", "hook-image-puller", "continuous-image-puller",
                       "autohttps"):
        assert f"binder/{unrendered}" not in accounts


def test_only_enabled_releases_widen_the_deployer() -> None:
    cfg = stack_config(
        certManager={"enabled": False}, monitoring={"enabled": False}, logging={"enabled": False},
        ingress={"controller": "none"}, users=[],
    )
    assert enabled_releases(cfg) == ["binderhub"]
    rec, _ = run_bootstrap(cfg)
    names = {
        name
        for rule in RbacModel(rec).cluster_roles["binder:deployer:deployer"]
        for name in rule.get("resourceNames") or []
    }
    assert "binderhub-user-scheduler" in names
    assert not [n for n in names if n.startswith(("cert-manager", "prometheus", "traefik"))]
    # No part means no name list at all, never an empty one (which would mean "every name").
    rules = RbacModel(rec).cluster_roles["binder:deployer:deployer"]
    assert all(r.get("resourceNames") != [] for r in rules)
    assert not [r for r in rules if "customresourcedefinitions" in r["resources"]
                and "patch" in r["verbs"]]


def test_rule_tables_are_what_the_cluster_roles_carry(rbac: RbacModel) -> None:
    def strip(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if v} for r in rules]

    assert strip(rbac.cluster_roles["binder:deployer:deployer:namespaced"]) == strip(
        [dict(r) for r in DEPLOYER_NAMESPACE_RULES]
    )
    assert strip(rbac.cluster_roles["binder:deployer:deployer"]) == strip(
        deployer_cluster_rules(DEPLOYER_WORKS_IN, CHARTS)
    )


def test_cluster_admin_only_when_config_asks() -> None:
    rec, _ = run_bootstrap(stack_config(deployer={"clusterAdmin": True}))
    rbac = RbacModel(rec)
    assert [b.role_name for b in rbac.bindings_of(DEPLOYER)] == ["cluster-admin"]
    assert rbac.can(DEPLOYER, "delete", "customresourcedefinitions", "apiextensions.k8s.io")
    # No least-privilege roles are left lying around.
    assert not [r for r in rec.of_type(CR) if "deployer" in r.inputs["metadata"]["name"]]


# --------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------


def test_user_bindings_reference_exactly_the_builtin_or_declared_roles(
    rec: Recording, rbac: RbacModel
) -> None:
    expected = {
        ("Group", "binder-admins"): {(None, "admin")},
        ("Group", "support"): {("binder", "view"), ("monitoring", "view")},
        ("User", "alice"): {("binder", "edit"), ("extra", "edit")},
        ("User", "bob"): {(None, "edit")},
        ("ServiceAccount", "ci-robot"): {("extra", "edit")},
        ("ServiceAccount", "metrics-reader"): {(None, "binder-metrics")},
    }
    for (kind, name), bindings in expected.items():
        subject = Subject(kind, name, "deployer" if kind == "ServiceAccount" else None)
        found = {(b.namespace, b.role_name) for b in rbac.bindings_of(subject)}
        assert found == bindings, (kind, name)
        for b in rbac.bindings_of(subject):
            assert b.role_kind == "ClusterRole"
    # The built-in roles are referenced, never (re)defined or shadowed by the program.
    defined = {r.inputs["metadata"]["name"] for r in rec.of_type(CR)}
    assert not defined & {"admin", "edit", "view", "cluster-admin", "binder-metrics"}
    # User/Group subjects carry the RBAC API group, as the API requires.
    for r in [*rec.of_type(RB), *rec.of_type(CRB)]:
        for s in r.inputs["subjects"]:
            assert s.get("apiGroup") == (None if s["kind"] == "ServiceAccount" else RBAC)


def test_a_view_user_cannot_read_secrets(rbac: RbacModel) -> None:
    support = Subject("Group", "support")
    assert rbac.can(support, "list", "pods", "", "binder")  # it is a working view binding
    for ns in [*MANAGED, "kube-system", None]:
        for verb in ("get", "list", "watch"):
            assert not rbac.can(support, verb, "secrets", "", ns), (verb, ns)


def test_an_edit_user_cannot_change_rbac(rbac: RbacModel) -> None:
    for subject in (
        Subject("User", "alice"),
        Subject("User", "bob"),  # cluster-wide edit
        Subject("ServiceAccount", "ci-robot", "deployer"),
    ):
        assert rbac.can(subject, "create", "deployments", "apps", "extra")
        for ns in [*MANAGED, None]:
            for resource in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"):
                for verb in ("create", "update", "patch", "delete", "bind", "escalate"):
                    assert not rbac.can(subject, verb, resource, RBAC, ns), (subject, verb, ns)


def test_admin_user_may_manage_rbac_in_namespaces_but_not_quotas(rbac: RbacModel) -> None:
    admins = Subject("Group", "binder-admins")
    assert rbac.can(admins, "create", "rolebindings", RBAC, "binder")
    assert not rbac.can(admins, "update", "resourcequotas", "", "binder")


def test_unmodelled_builtin_questions_fail_loudly(rbac: RbacModel) -> None:
    with pytest.raises(NotModelledError):
        rbac.can(Subject("Group", "support"), "get", "configmaps", "", "binder")
    # A custom role's rules are not the program's: token reach cannot be guessed either.
    with pytest.raises(NotModelledError):
        rbac.tokens_reachable(Subject("ServiceAccount", "metrics-reader", "deployer"))


# ---- issue 2: who can obtain whose token --------------------------------------------------

SA_USERS = {
    Subject("ServiceAccount", "ci-robot", "deployer"),
    Subject("ServiceAccount", "metrics-reader", "deployer"),
}


def test_the_model_knows_the_token_secrets(rbac: RbacModel) -> None:
    assert rbac.token_secrets[DEPLOYER] == [("deployer", "deployer-token-1")]
    assert set(rbac.token_secrets) == {DEPLOYER, *SA_USERS}


@pytest.mark.parametrize(
    "subject",
    [
        Subject("Group", "support"),  # view in binder, monitoring
        Subject("User", "dave"),  # edit in extra
        Subject("ServiceAccount", "ci-robot", "deployer"),  # edit in extra
        DEPLOYER,  # works everywhere but in its own namespace
    ],
)
def test_no_unacknowledged_grant_reaches_a_token(rbac: RbacModel, subject: Subject) -> None:
    assert rbac.tokens_reachable(subject) == set()
    assert rbac.reaches(subject) == set()
    # ... and so not the deployer's powers either (one step further than `can`).
    assert not rbac.can(subject, "get", "secrets", "", "deployer", name="deployer-token-1")


@pytest.mark.parametrize(
    "subject", [Subject("Group", "binder-admins"), Subject("User", "bob")]
)
def test_acknowledged_cluster_wide_grants_do_reach_the_deployer(
    rbac: RbacModel, subject: Subject
) -> None:
    """What `mayReadDeployerToken: true` accepts, shown by the model: cluster-wide admin/edit
    reads the token Secrets and so acts as the deployer and the ServiceAccount users."""
    reached = rbac.tokens_reachable(subject)
    assert reached == {DEPLOYER, *SA_USERS}
    # One step further: through the token it gets what only the deployer holds.
    assert rbac.can(DEPLOYER, "escalate", "clusterroles", RBAC, name="traefik-ingress")


def test_an_edit_grant_in_the_deployer_namespace_would_reach_it() -> None:
    # Config refuses it unless acknowledged (tests/components/config/test_access.py); the model
    # shows
    # why: edit there reads the token Secret, and could also mint a new one or run a pod.
    users = [{"name": "carol", "role": "edit", "namespaces": ["deployer"],
              "mayReadDeployerToken": True}]
    rec, _ = run_bootstrap(stack_config(users=users))
    rbac = RbacModel(rec)
    carol = Subject("User", "carol")
    assert rbac.can(carol, "get", "secrets", "", "deployer", name="deployer-token-1")
    assert rbac.tokens_reachable(carol) == {DEPLOYER}


def test_service_account_users_get_their_own_token_and_kubeconfig(rec: Recording) -> None:
    for user, namespace in (("ci-robot", "extra"), ("metrics-reader", None)):
        account = rec.one(SA, f"bootstrap-user-{user}-sa")
        assert account.inputs["metadata"] == {
            "name": user,
            "namespace": "deployer",
            "labels": account.inputs["metadata"]["labels"],
        }
        token = rec.one(SECRET, f"bootstrap-user-{user}-token")
        assert token.inputs["metadata"]["annotations"] == {
            "kubernetes.io/service-account.name": user
        }
        assert f"bootstrap-user-{user}-sa" in urn_names(rec, token.dependencies)
        output = f"user_kubeconfig_{user}"
        assert rec.secret_output(output)
        config = parse_kubeconfig(rec.outputs[output])
        assert config["user"] == {"token": f"mock-token-bootstrap-user-{user}-token"}
        assert config["context"].get("namespace") == namespace
    # People and groups authenticate elsewhere (OIDC, Keystone, Google): no kubeconfig.
    assert sorted(k for k in rec.outputs if k.startswith("user_kubeconfig_")) == [
        "user_kubeconfig_ci-robot", "user_kubeconfig_metrics-reader"
    ]


def test_user_bindings_wait_for_their_namespace(rec: Recording) -> None:
    for r in rec.of_type(RB):
        namespace = r.inputs["metadata"]["namespace"]
        assert f"bootstrap-ns-{namespace}" in urn_names(rec, r.dependencies), r.name


def test_object_names_of_email_identities_are_safe_and_distinct() -> None:
    assert object_slug("ci-robot") == "ci-robot"
    a, b = object_slug("a.b@example.org"), object_slug("a-b@example.org")
    assert a != b
    assert a.startswith("a-b-example-org-")


# ---- issue 3: resource names are unambiguous ------------------------------------------------

COLLIDING = {
    "namespaces": {**NAMESPACES, "b-c": {}, "c": {}},
    # Named `<prefix>-user-<slug>-<namespace>`, both were `bootstrap-user-a-b-c`.
    "users": [
        *USERS,
        {"name": "a", "kind": "User", "role": "view", "namespaces": ["b-c"]},
        {"name": "a-b", "kind": "User", "role": "view", "namespaces": ["c"]},
    ],
}


def test_the_mock_engine_refuses_a_duplicate_urn_like_the_real_one() -> None:
    import pulumi_kubernetes as k8s

    def program() -> None:
        for ns in ("x", "y"):
            k8s.core.v1.Namespace("same", metadata={"name": ns})

    recording = Recording()
    with pytest.raises(AssertionError, match=r"Duplicate resource URN '.*::same'"):
        run_program(program, recording=recording)
    assert [r.name for r in recording.resources] == ["same"]


def test_users_whose_old_binding_names_collided_each_get_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tools import mockrun

    aliases: dict[str, list[str]] = {}
    register = mockrun._RecordingMonitor.RegisterResource

    def spy(self: Any, request: Any) -> Any:
        # Name aliases only (the provider adds type aliases for older API versions).
        aliases[request.name] = [a.spec.name for a in request.aliases if a.spec.name]
        return register(self, request)

    monkeypatch.setattr(mockrun._RecordingMonitor, "RegisterResource", spy)
    rec, _ = run_bootstrap(stack_config(**COLLIDING))
    bindings = {
        r.name: (r.inputs["metadata"]["namespace"], r.inputs["subjects"][0]["name"])
        for r in rec.of_type(RB)
        if r.inputs["subjects"][0]["name"] in ("a", "a-b")
    }
    assert bindings == {"bootstrap-user-a:b-c": ("b-c", "a"), "bootstrap-user-a-b:c": ("c", "a-b")}
    # The old, ambiguous name is an alias only where it was unique (here: nowhere) ...
    assert aliases["bootstrap-user-a:b-c"] == aliases["bootstrap-user-a-b:c"] == []
    # ... and existing stacks keep their other bindings instead of re-creating them.
    assert aliases["bootstrap-user-support:binder"] == ["bootstrap-user-support-binder"]
    # Every URN of the default stack is unique too (the monitor would have raised).
    urns = [r.urn for r in rec.resources]
    assert len(urns) == len(set(urns))


# --------------------------------------------------------------------------------------
# Strict schemas
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.31", "1.33"])
def test_every_object_passes_strict_kubernetes_validation(rec: Recording, version: str) -> None:
    checked = assert_valid_objects(rec, version)
    kinds = {name.split(" ")[0].rpartition(":")[2] for name in checked}
    assert kinds == {
        "Namespace", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret",
        "ClusterRole", "ClusterRoleBinding", "RoleBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    }


# --------------------------------------------------------------------------------------
# The whole program (__main__.py) with the committed stacks
# --------------------------------------------------------------------------------------

STACK_VERSIONS = {"ebi": "1.31", "gcp": "1.33", "local": "1.33"}


@pytest.fixture(scope="module", params=sorted(STACK_VERSIONS))
def stack(request: pytest.FixtureRequest) -> tuple[str, Recording]:
    return request.param, recorded_stack(request.param)


def test_program_bootstraps_the_cluster(stack: tuple[str, Recording]) -> None:
    name, rec = stack
    component = rec.one("binder:bootstrap:ClusterBootstrap")
    ours = [r for r in rec.resources if r.parent == component.urn]
    expected = {
        "ebi": ON_BY_DEFAULT,
        "gcp": ON_BY_DEFAULT,
        # cert-manager, monitoring and logging are off there: no namespaces for them.
        "local": {"binder", "ingress", "deployer"},
    }[name]
    assert {r.inputs["metadata"]["name"] for r in ours if r.type == NS} == expected
    assert rec.one(SA, "bootstrap-deployer-sa").parent == component.urn
    assert rec.secret_output("deployer_kubeconfig")
    config = parse_kubeconfig(rec.outputs["deployer_kubeconfig"])
    assert config["cluster"]["server"] == rec.outputs["cluster_endpoint"]
    ca = base64.b64decode(config["cluster"]["certificate-authority-data"]).decode()
    assert ca.startswith("-----BEGIN CERTIFICATE-----") or name == "local"
    assert config["user"] == {"token": "mock-token-bootstrap-deployer-token"}
    assert "cluster-admin" not in {b.role_name for b in RbacModel(rec).bindings_of(DEPLOYER)}


def test_program_exports_one_secret_kubeconfig_per_service_account_user(
    stack: tuple[str, Recording],
) -> None:
    name, rec = stack
    expected = {"ebi": ["user_kubeconfig_grafana-exporter"], "gcp": [], "local": []}[name]
    assert sorted(k for k in rec.outputs if k.startswith("user_kubeconfig_")) == expected
    for output in expected:
        assert rec.secret_output(output)


def test_bootstrap_objects_of_the_program_validate_strictly(
    stack: tuple[str, Recording],
) -> None:
    # For the version the stack targets (ebi: 1.31). The other components' objects are
    # validated by their own tests with the same helper.
    name, rec = stack
    component = rec.one("binder:bootstrap:ClusterBootstrap")
    guard = rec.one("binder:bootstrap:DeployerAdmissionGuard")
    assert guard.parent == component.urn
    ours = {component.urn, guard.urn}
    checked = assert_valid_objects(
        rec, STACK_VERSIONS[name], select=lambda r: r.parent in ours
    )
    assert len(checked) == len([r for r in rec.resources if r.parent in ours and r.custom])


def test_only_namespaces_and_their_guard_rails_are_waited_on(stack: tuple[str, Recording]) -> None:
    """Releases depend on `ready_for(ns)`, never on the whole bootstrap or on user access."""
    _, rec = stack
    component = rec.one("binder:bootstrap:ClusterBootstrap")
    bootstrap_urns = {component.urn} | {r.urn for r in rec.resources if r.parent == component.urn}
    allowed = {
        r.urn
        for r in rec.resources
        if r.parent == component.urn
        and r.type in (NS, "kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:LimitRange")
    }
    for r in rec.resources:
        if r.urn in bootstrap_urns:
            continue
        waited = set(r.dependencies) & bootstrap_urns
        assert waited <= allowed, (r.name, urn_names(rec, sorted(waited - allowed)))
    for r in rec.resources:
        if r.type == NS and r.parent == component.urn:
            assert r.dependencies == [], r.name


def test_bad_user_config_fails_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import mockrun

    made: list[Recording] = []

    def recording() -> Recording:
        made.append(Recording())
        return made[-1]

    monkeypatch.setattr(mockrun, "Recording", recording)
    bad_users = [{"name": "ops", "kind": "Group", "role": "operator"}]
    with pytest.raises(ConfigError, match=r"binder:users\[0\]\.role: unknown role 'operator'"):
        mockrun.run_stack("gcp", overrides={"binder:users": bad_users})
    assert len(made) == 1
    assert made[0].resources == []


def test_gke_group_subjects_need_google_groups_for_rbac() -> None:
    gke = {
        "provider": "gke", "name": "test", "securityGroup": "gke-security-groups@example.org",
        "corePool": {"machineType": "e2", "autoscaling": {"minNodes": 1, "maxNodes": 2}},
        "userPool": {"machineType": "e2", "autoscaling": {"minNodes": 0, "maxNodes": 2}},
    }
    users = [{"name": "ops@example.org", "kind": "Group", "role": "view",
              "mayReadCredentials": True}]
    rec, _ = run_bootstrap(parse_config({"cluster": gke, "users": users}))
    subjects = [
        s
        for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        for s in r.inputs.get("subjects", [])
        if s["name"] == "ops@example.org"
    ]
    assert subjects == [{"kind": "Group", "name": "ops@example.org", "apiGroup": RBAC}]
    # Without Google Groups for RBAC the Group would match nobody: refused up front.
    del gke["securityGroup"]
    with pytest.raises(ConfigError, match=r"binder:users\[0\]\.kind"):
        parse_config({"cluster": gke, "users": users})


def test_every_release_waits_for_its_namespace(stack: tuple[str, Recording]) -> None:
    """Ordering: a Helm release depends, explicitly, on the Namespace it installs into."""
    _, rec = stack
    namespaces = {r.inputs["metadata"]["name"]: r.urn for r in rec.of_type(NS)}
    for release in rec.of_type("kubernetes:helm.sh/v3:Release"):
        target = release.inputs["namespace"]
        assert target in namespaces, (release.name, target)
        assert namespaces[target] in release.dependencies, release.name
