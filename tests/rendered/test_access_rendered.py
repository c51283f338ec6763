"""Pod Security and the admission guard against what the charts really render.

Every committed stack runs on the mock engine; tools/chart_render.py renders each of its Helm
releases with the real pinned charts and the exact values the program passes. Then:

* every pod the charts would create passes the Pod Security level the bootstrap enforces in
  its namespace, and every ``privileged`` namespace holds a pod that needs it;
* every object the deploy agent writes on a chart upgrade that the admission guard judges
  (bindings, roles, webhook configurations, token Secrets) is admitted by the guard, so the
  guard never breaks an upgrade; every ServiceAccount the charts render is one the guard
  knows.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.access.chart_objects import chart_cluster_objects
from components.access.pod_security import CHART_NEEDS
from components.config.access import POD_SECURITY_LEVELS
from tests.admission import AdmissionPolicy, Request
from tests.pod_security_standard import needed_level, pod_specs, unchecked_fields
from tests.rendered.support import CASES, rendered, require_chart_data
from tools.chart_render import DEFAULT_CHARTS_DIR, RenderedRelease, crd_directory_objects
from tools.mockrun import Recording

STACKS = {"ebi": "1.36", "gcp": "1.36", "local": "1.36"}
ENFORCE = "pod-security.kubernetes.io/enforce"
DEPLOYER_USER = "system:serviceaccount:deployer:deployer"
#: Kinds the guard judges: (API group, resource).
JUDGED = {
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "MutatingWebhookConfiguration": (
        "admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    "ValidatingWebhookConfiguration": (
        "admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    "Secret": ("", "secrets"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "customresourcedefinitions"),
    "IngressClass": ("networking.k8s.io", "ingressclasses"),
    "PriorityClass": ("scheduling.k8s.io", "priorityclasses"),
}
CLUSTER_SCOPED = {"ClusterRoleBinding", "ClusterRole", "MutatingWebhookConfiguration",
                  "ValidatingWebhookConfiguration", "CustomResourceDefinition", "IngressClass",
                  "PriorityClass"}


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request: pytest.FixtureRequest) -> tuple[str, Recording, list[RenderedRelease]]:
    require_chart_data()
    case = rendered(next(c for c in CASES if c.id == request.param))
    assert case.kube_version == STACKS[request.param]
    return request.param, case.recording, case.releases


def levels(rec: Recording) -> dict[str, str]:
    return {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"][ENFORCE]
        for r in rec.of_type("kubernetes:core/v1:Namespace")
    }


def _namespace(obj: dict[str, Any], release: RenderedRelease) -> str:
    return obj.get("metadata", {}).get("namespace") or release.namespace


def test_every_rendered_pod_passes_its_namespaces_level(
    stack: tuple[str, Recording, list[RenderedRelease]],
) -> None:
    name, rec, rendered = stack
    enforced = levels(rec)
    checked = 0
    for release in rendered:
        for obj in release.objects:
            for pod in pod_specs(obj):
                where = f"{name}: {release.name} {obj['kind']}/{obj['metadata']['name']}"
                assert unchecked_fields(pod) == [], where
                level, why = needed_level(pod)
                ns = _namespace(obj, release)
                allowed = POD_SECURITY_LEVELS.index(enforced[ns])
                assert POD_SECURITY_LEVELS.index(level) <= allowed, (where, ns, why)
                checked += 1
    assert checked >= 5, checked


def test_every_privileged_namespace_runs_a_pod_that_needs_it(
    stack: tuple[str, Recording, list[RenderedRelease]],
) -> None:
    name, rec, rendered = stack
    needs: dict[str, set[str]] = {}
    for release in rendered:
        for obj in release.objects:
            for pod in pod_specs(obj):
                needs.setdefault(_namespace(obj, release), set()).add(needed_level(pod)[0])
    for ns, level in levels(rec).items():
        if level == "privileged":
            assert ns in CHART_NEEDS, (name, ns)
            assert "privileged" in needs.get(ns, set()), (name, ns, needs.get(ns))
        if "privileged" in needs.get(ns, set()):
            assert level == "privileged", (name, ns)


def test_the_guard_admits_every_upgrade_of_the_charts(
    stack: tuple[str, Recording, list[RenderedRelease]],
) -> None:
    name, rec, rendered = stack
    guard = AdmissionPolicy.from_recording(rec)
    judged: dict[str, int] = {}
    for release in rendered:
        # A chart's crds/ directory is installed once, by the first `helm install` (with the
        # admin credentials), and never upgraded: the agent never writes those CRDs.
        once = {crd["metadata"]["name"] for crd in crd_directory_objects(
            DEFAULT_CHARTS_DIR / release.chart / release.version)}
        for obj in release.objects:
            kind = obj.get("kind")
            if kind not in JUDGED or (kind == "CustomResourceDefinition"
                                      and obj["metadata"]["name"] in once):
                continue
            group, resource = JUDGED[kind]
            ns = "" if kind in CLUSTER_SCOPED else _namespace(obj, release)
            for op in ("CREATE", "UPDATE"):
                request = Request(op, group, resource, DEPLOYER_USER, namespace=ns, object=obj,
                                  old_object=obj if op == "UPDATE" else None)
                decision = guard.decide(request)
                assert decision.matched, (name, kind, obj["metadata"]["name"])
                assert decision.allowed, (name, kind, obj["metadata"]["name"], decision.refused)
            judged[kind] = judged.get(kind, 0) + 1
    # Every stack's charts render cluster-wide bindings and roles. The local stack runs no
    # user placeholders, Fluentd or cert-manager: no PriorityClass and no templated CRD.
    assert {"ClusterRole", "ClusterRoleBinding"} <= set(judged), judged
    if name != "local":  # cert-manager renders its CRDs as templates (crds.enabled)
        assert "PriorityClass" in judged, judged
        assert judged.get("CustomResourceDefinition", 0) == 6, judged


def test_every_rendered_service_account_is_known_to_the_guard(
    stack: tuple[str, Recording, list[RenderedRelease]],
) -> None:
    name, _, rendered = stack
    known = set(chart_cluster_objects(r.name for r in rendered).service_accounts)
    found = {
        f"{_namespace(obj, release)}/{obj['metadata']['name']}"
        for release in rendered
        for obj in release.objects
        if obj.get("kind") == "ServiceAccount"
    }
    assert found, name
    assert found <= known, (name, sorted(found - known))


def test_the_rendered_cluster_objects_are_the_ones_chart_objects_names(
    stack: tuple[str, Recording, list[RenderedRelease]],
) -> None:
    """The deployer's RBAC and the guard name everything the charts render cluster-wide
    (with cert-manager's aggregated roles switched off, its `-cluster-view` is gone). The
    names may list more than one stack renders (`local` runs no user scheduler), never less;
    the test below checks that some case renders each of them."""
    name, _, rendered = stack
    charts = chart_cluster_objects(r.name for r in rendered)

    def names(*kinds: str) -> set[str]:
        return {
            obj["metadata"]["name"]
            for release in rendered
            for obj in release.objects
            if obj.get("kind") in kinds
        }

    assert names("ClusterRole") <= set(charts.cluster_roles), name
    assert names("ClusterRoleBinding") <= set(charts.cluster_role_bindings), name
    assert names("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration") <= set(
        charts.webhook_configurations
    ), name
    assert "cert-manager-cluster-view" not in names("ClusterRole")


def test_every_cluster_object_the_deployer_may_touch_is_rendered_by_some_case() -> None:
    """The converse of the test above, over every case: a name in chart_objects that no
    configuration renders only widens what the deploy agent may create, bind or escalate."""
    from tests.rendered.support import CASES, rendered

    found: dict[str, set[str]] = {}
    releases: set[str] = set()
    for case in CASES:
        for release in rendered(case).releases:
            releases.add(release.name)
            for obj in release.objects:
                found.setdefault(str(obj.get("kind")), set()).add(obj["metadata"]["name"])
    charts = chart_cluster_objects(releases)
    webhooks = found.get("MutatingWebhookConfiguration", set()) | found.get(
        "ValidatingWebhookConfiguration", set()
    )
    assert set(charts.cluster_roles) - found.get("ClusterRole", set()) == set()
    assert set(charts.cluster_role_bindings) - found.get("ClusterRoleBinding", set()) == set()
    assert set(charts.webhook_configurations) - webhooks == set()
