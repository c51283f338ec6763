"""Every object the Helm releases would create, rendered offline with the real charts
(tools/chart_render.py), checked for every committed stack and both settings of each on/off
switch (tests/rendered/support.py CASES).

These are the bugs a values schema cannot see: the objects the charts' templates make from
our values, and whether they fit together and with the program's raw objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from components.config.cluster import MagnumCluster
from components.config.releases import BinderHubConfig, TlsConfig
from components.releases.monitoring import scrape_jobs
from tests import fast_yaml
from tests.k8s_validate import validate_object
from tests.rbac import RbacModel, Subject
from tests.rendered.objects import (
    Index,
    Obj,
    container_ports,
    ingress_allows,
    labels_match,
    resource_of,
)
from tests.rendered.support import CASES, Case, rendered, require_chart_data
from tools import chart_render


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def _type_token(obj: Obj) -> str:
    group, _, version = obj.api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj.kind}"


def _tls(index: Index) -> TlsConfig:
    assert index.case.cfg.tls is not None, "every release stack sets binder:tls"
    return index.case.cfg.tls


def _binderhub(index: Index) -> BinderHubConfig:
    assert index.case.cfg.binderhub is not None, "every release stack sets binder:binderhub"
    return index.case.cfg.binderhub


def _builtin(obj: Obj, index: Index) -> bool:
    return (obj.group, obj.kind) not in index.crd_scope


# --------------------------------------------------------------------------------------
# Documents and identity
# --------------------------------------------------------------------------------------


def test_every_object_is_whole_and_unique(index: Index) -> None:
    """Each document parsed into an object with apiVersion, kind and name; no two objects
    -- rendered or raw -- share kind, namespace and name (Helm or Pulumi would fail, or
    worse, two owners would fight over one object)."""
    assert index.rendered, "nothing rendered"
    for obj in index.all:
        assert obj.body.get("apiVersion"), obj
        assert obj.body.get("kind"), obj
        assert (obj.body.get("metadata") or {}).get("name"), obj
    counts = Counter(o.key for o in index.all)
    dupes = [str(o) for o in index.all if counts[o.key] > 1]
    assert not dupes, f"objects share kind, namespace and name: {dupes}"


def test_builtin_kinds_validate_strictly(index: Index) -> None:
    """kubernetes-validate, strict (unknown fields are errors), at the stack's version."""
    problems, checked = [], 0
    for obj in index.rendered:
        if not _builtin(obj, index):
            continue
        try:
            validate_object(_type_token(obj), obj.body, index.case.kube_version)
            checked += 1
        except AssertionError as exc:
            problems.append(f"{obj}: {exc}")
    assert not problems, "\n".join(problems)
    assert checked >= 30


def test_custom_resources_validate_against_the_charts_crds(index: Index) -> None:
    """Every custom resource -- rendered, or raw such as the ClusterIssuers -- against the
    schema of the CRD the charts install (cert-manager's templates, traefik's crds/)."""
    schemas = index.crd_schemas
    custom = [o for o in index.all if not _builtin(o, index)]
    unknown = [
        str(o) for o in index.all
        if (o.group, o.kind) not in index.crd_scope and "." in o.group
        and o.group.split(".")[-1] not in ("io", "k8s")
    ]
    assert not unknown, f"custom resources whose CRD no release installs: {unknown}"
    problems = []
    for obj in custom:
        try:
            validate_object(_type_token(obj), obj.body, index.case.kube_version, schemas)
        except AssertionError as exc:
            problems.append(f"{obj}: {exc}")
    assert not problems, "\n".join(problems)
    if index.case.cfg.cert_manager.enabled and _tls(index).source == "letsencrypt":
        assert {o.name for o in custom if o.kind == "ClusterIssuer"} == {
            "letsencrypt-production", "letsencrypt-staging"
        }


def test_strict_crd_schemas_reject_a_misspelt_field(index: Index) -> None:
    """The CRD schemas are made strict: the API server would prune an unknown field."""
    issuers = [o for o in index.raw if o.kind == "ClusterIssuer"]
    if not issuers:
        assert not index.case.cfg.cert_manager.enabled or _tls(index).source != "letsencrypt"
        return
    schemas = index.crd_schemas
    acme = {**issuers[0].body["spec"]["acme"]}
    body: dict[str, Any] = {**issuers[0].body, "spec": {"acme": acme}}
    body["spec"]["acme"]["emial"] = "typo@example.org"
    with pytest.raises(AssertionError, match="emial"):
        validate_object(_type_token(issuers[0]), body, index.case.kube_version, schemas)


# --------------------------------------------------------------------------------------
# The deploy agent's RBAC
# --------------------------------------------------------------------------------------

WRITE_VERBS = ("create", "update", "patch", "delete")


def _deployer(index: Index) -> Subject:
    cfg = index.case.cfg.deployer
    return Subject("ServiceAccount", cfg.name, cfg.namespace)


def _model(index: Index) -> RbacModel:
    """The program's RBAC, plus the charts' ClusterRoles as they exist once installed."""
    model = RbacModel(index.case.recording)
    for obj in index.rendered:
        if obj.kind == "ClusterRole" and not obj.body.get("aggregationRule"):
            model.cluster_roles.setdefault(obj.name, obj.body.get("rules") or [])
    return model


def _helm_managed(index: Index) -> list[Obj]:
    """Rendered objects the deploy agent creates, changes and deletes: all but the CRDs of
    the charts' crds/ directories, which Helm installs once and never upgrades
    (https://helm.sh/docs/chart_best_practices/custom_resource_definitions/)."""
    crd_dir = {
        crd["metadata"]["name"]
        for release in index.case.releases
        for crd in chart_render.crd_directory_objects(
            chart_render.DEFAULT_CHARTS_DIR / release.chart / release.version
        )
    }
    return [
        o for o in index.rendered
        if not (o.kind == "CustomResourceDefinition" and o.name in crd_dir)
    ]


def _verbs_for(obj: Obj) -> tuple[str, ...]:
    """What Helm does to the object over its life: create, update/patch on upgrades, and
    delete when the chart drops it -- except objects annotated `helm.sh/resource-policy:
    keep`, which Helm never deletes (https://helm.sh/docs/howto/charts_tips_and_tricks/#tell-helm-not-to-uninstall-a-resource)."""
    annotations = (obj.body.get("metadata") or {}).get("annotations") or {}
    if annotations.get("helm.sh/resource-policy") == "keep":
        return ("create", "update", "patch")
    return WRITE_VERBS


def deployer_denials(index: Index) -> list[str]:
    """``<verb> <object>`` for each change of a rendered object the deploy agent may not make."""
    model, deployer = _model(index), _deployer(index)
    denied = []
    for obj in _helm_managed(index):
        group, resource = resource_of(obj, index)
        for verb in _verbs_for(obj):
            if obj.kind in ("ClusterRole", "Role") and verb != "delete":
                ok = model.can_write_role(
                    deployer, verb, obj.name, obj.body.get("rules") or [], obj.namespace
                )
            elif obj.kind in ("ClusterRoleBinding", "RoleBinding") and verb != "delete":
                ref = obj.body["roleRef"]
                ok = model.can_write_binding(
                    deployer, verb, ref["kind"], ref["name"], obj.namespace,
                    name=None if verb == "create" else obj.name,
                )
            else:
                ok = model.can(
                    deployer, verb, resource, group, obj.namespace,
                    name=None if verb == "create" else obj.name,
                )
            if not ok:
                denied.append(f"{verb} {obj}")
    return denied


def test_deployer_may_manage_every_rendered_object(index: Index) -> None:
    """The deploy agent may create, update, patch and delete every object the releases
    render, with one exception by design (docs/access.md "What needs the admin
    credentials"): creating a ClusterRole that grants more than the agent holds needs
    `escalate`, which Kubernetes checks against the request URL's name, which a create has
    not (pkg/registry/rbac/escalation_check.go). The first install of such a role is the
    admin's; every later upgrade (update/patch, by name) is the agent's."""
    if index.case.cfg.deployer.cluster_admin:
        pytest.fail("no committed stack gives the deployer cluster-admin; update this test")
    model, deployer = _model(index), _deployer(index)
    by_design = {
        f"create {o}" for o in index.rendered
        if o.kind == "ClusterRole"
        and not model.holds_all(deployer, o.body.get("rules") or [], None)
    }
    denied = [d for d in deployer_denials(index) if d not in by_design]
    assert not denied, "the deploy agent may not:\n  " + "\n  ".join(denied)


def unneeded_deployer_rules(index: Index) -> set[str]:
    """Each part of the deployer's rules that no object of this case needs: a
    (scope, group/resource, name) with write verbs that no rendered or raw object has, a
    ``resourceNames`` entry no object is called, or ``bind``/``escalate`` that no rendered
    role requires. Read-only rules are needed by Helm's and Pulumi's await logic and the
    agent's logs only if there is something of that kind; they are named too, marked
    ``read``."""
    model, deployer = _model(index), _deployer(index)
    managed = _helm_managed(index) + index.raw
    present = {
        (o.namespace is not None, *resource_of(o, index), o.name) for o in managed
    }
    kinds = {(ns, g, r) for ns, g, r, _ in present}
    roles_needing_escalation = {
        (o.namespace is not None, o.name)
        for o in index.rendered
        if o.kind in ("Role", "ClusterRole")
        and not model.holds_all(deployer, o.body.get("rules") or [], o.namespace)
    }
    managed_ns = sorted({o.namespace for o in managed if o.namespace})
    unneeded = set()
    def rules(namespace: str | None) -> list[dict[str, Any]]:
        # Cluster scope: the ClusterRoleBindings' roles; a namespace: its RoleBindings'.
        return [
            rule
            for b in model.bindings_of(deployer) if b.namespace == namespace
            for rule in model.role_rules(b.role_kind, b.role_name, b.namespace)
        ]

    for namespaced, scope_ns in [(False, None)] + [(True, ns) for ns in managed_ns]:
        for rule in rules(scope_ns):
            if rule.get("nonResourceURLs"):
                continue
            verbs = set(rule["verbs"])
            names = rule.get("resourceNames") or [None]
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    scope = "namespaced" if namespaced else "cluster"
                    if resource.endswith(("/log", "/status")) or "/" in resource:
                        continue  # subresources: read for the agent's own output
                    if verbs <= {"get", "list", "watch"}:
                        if (namespaced, group, resource) not in kinds:
                            unneeded.add(f"{scope} read {group or 'core'}/{resource}")
                        continue
                    if verbs & {"bind", "escalate"} and resource in ("roles", "clusterroles"):
                        if not any(n is None or (namespaced, n) in roles_needing_escalation
                                   for n in names):
                            unneeded.add(f"{scope} bind/escalate {group}/{resource}")
                        if verbs <= {"bind", "escalate"}:
                            continue
                    for name in names:
                        if name is None:
                            if (namespaced, group, resource) not in kinds:
                                unneeded.add(f"{scope} write {group or 'core'}/{resource}")
                        elif (namespaced, group, resource, name) not in present:
                            unneeded.add(f"{scope} write {group or 'core'}/{resource} {name}")
    return unneeded


#: What the deployer may do that no object of ANY case needs, each with the reason it stays.
#: Measured by test_deployer_rules_no_object_needs (the intersection over all cases).
_AWAIT = (
    "read only: Helm's --wait and Pulumi's await logic follow the workloads through these, "
    "and a failed rollout is explained by them (components/bootstrap.py)"
)
KEPT_WITHOUT_AN_OBJECT: dict[str, str] = {
    "namespaced read core/pods": _AWAIT,
    "namespaced read core/endpoints": _AWAIT,
    "namespaced read core/events": _AWAIT,
    "namespaced read events.k8s.io/events": _AWAIT,
    "namespaced read discovery.k8s.io/endpointslices": _AWAIT,
    "namespaced read apps/replicasets": _AWAIT,
    "namespaced read apps/controllerrevisions": _AWAIT,
    # binder:namespaces.<ns>.quota / .limits: raw objects of the bootstrap, which no
    # committed stack sets (tests/components/test_bootstrap.py covers them).
    "namespaced write core/resourcequotas": "binder:namespaces.<ns>.quota (no stack sets one)",
    "namespaced write core/limitranges": "binder:namespaces.<ns>.limits (no stack sets one)",
}


def test_deployer_rules_no_object_needs() -> None:
    """Least privilege, measured: the deployer rules that no case's objects need."""
    require_chart_data()
    per_case = {c.id: unneeded_deployer_rules(Index(rendered(c))) for c in CASES}
    never = set.intersection(*per_case.values())
    assert never == set(KEPT_WITHOUT_AN_OBJECT), (
        "deployer rules no rendered or raw object needs in any case (tighten them, or keep "
        "one in KEPT_WITHOUT_AN_OBJECT with its reason):\n  " + "\n  ".join(sorted(never))
    )


# --------------------------------------------------------------------------------------
# Cross-object consistency
# --------------------------------------------------------------------------------------


def _namespace_labels(index: Index, namespace: str) -> dict[str, str]:
    """A namespace's labels: the program's, plus the one the API server sets on every
    namespace (kubernetes.io/metadata.name, since 1.21)."""
    labels = {"kubernetes.io/metadata.name": namespace}
    for ns in index.find("Namespace", namespace):
        labels.update((ns.body.get("metadata") or {}).get("labels") or {})
    return labels


def _pods_behind(index: Index, service: Obj) -> list[tuple[Obj, Mapping[str, Any]]]:
    selector = service.body["spec"].get("selector") or {}
    return [
        (owner, pod) for owner, pod in index.pods()
        if owner.namespace == service.namespace and selector
        and labels_match({"matchLabels": selector}, (pod.get("metadata") or {}).get("labels") or {})
    ]


def _target_ports(service: Obj, pod: Mapping[str, Any]) -> list[int]:
    names = container_ports(pod)
    ports = []
    for port in service.body["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        ports.append(names[target] if isinstance(target, str) else int(target))
    return ports


#: The port each scraped server serves its metrics on: JupyterHub's hub (z2jh
#: hub.deployment containerPort `http` 8081, /hub/metrics) and BinderHub (8585, /metrics).
METRICS_PORTS = {"hub": 8081, "binder": 8585}


def test_scrape_jobs_find_their_services_and_may_reach_them(index: Index) -> None:
    if not index.case.cfg.monitoring.enabled:
        assert not [r for r in index.case.releases if r.chart == "prometheus"]
        return
    binder_ns = index.release("binderhub").namespace
    prometheus = index.release("prometheus")
    [(_, prom_pod)] = [
        (o, p) for o, p in index.pods()
        if o.kind in ("Deployment", "StatefulSet") and o.name == "prometheus-server"
    ]
    prom_labels = prom_pod["metadata"]["labels"]
    policies = [o for o in index.rendered if o.kind == "NetworkPolicy" and o.namespace == binder_ns]
    jobs = scrape_jobs(binder_ns)
    assert jobs
    config = index.one("ConfigMap", "prometheus-server", prometheus.namespace)
    assert all(job["job_name"] in config.body["data"]["prometheus.yml"] for job in jobs)
    for job in jobs:
        [sd] = job["kubernetes_sd_configs"]
        assert sd["role"] == "endpointslice"
        [keep] = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
        assert keep["source_labels"] == ["__meta_kubernetes_service_name"]
        services = [
            o for o in index.rendered
            if o.kind == "Service" and o.namespace in sd["namespaces"]["names"]
            and o.name == keep["regex"]
        ]
        assert len(services) == 1, f"job {job['job_name']} selects {services}"
        [service] = services
        pods = _pods_behind(index, service)
        assert pods, f"job {job['job_name']}: Service {service.name} selects no rendered pods"
        for owner, pod in pods:
            # endpointslice discovery makes one target per Service port: each must be the
            # metrics port, or Prometheus scrapes something that is not a metrics endpoint.
            assert _target_ports(service, pod) == [METRICS_PORTS[service.name]], (
                f"job {job['job_name']} would scrape {owner} on {_target_ports(service, pod)}"
            )
            assert ingress_allows(
                policies, pod["metadata"]["labels"], METRICS_PORTS[service.name],
                container_ports(pod), _namespace_labels(index, prometheus.namespace),
                prom_labels, same_namespace=prometheus.namespace == binder_ns,
            ), f"NetworkPolicies block Prometheus from {owner} port {METRICS_PORTS[service.name]}"


def test_binderhub_reaches_the_hub(index: Index) -> None:
    """config.BinderHub.hub_url_local names the hub Service and port; the binder pod has the
    label the hub's NetworkPolicy admits."""
    binder = index.release("binderhub")
    [(owner, binder_pod)] = [
        (o, p) for o, p in index.pods() if o.kind == "Deployment" and o.name == "binder"
    ]
    # BinderHub reads its config from this Secret (binderhub chart templates/secret.yaml,
    # files/binderhub_config.py), not from the Helm values directly.
    secret = index.one("Secret", "binder-secret", binder.namespace)
    binder_values = fast_yaml.safe_load(secret.body["stringData"]["values.yaml"])
    url = binder_values["config"]["BinderHub"]["hub_url_local"]
    scheme, _, rest = url.partition("://")
    host, _, port_path = rest.partition(":")
    port = int(port_path.split("/")[0])
    assert scheme == "http"
    service = index.one("Service", host, binder.namespace)
    assert port in [p["port"] for p in service.body["spec"]["ports"]]
    [(_, hub_pod)] = _pods_behind(index, service)
    [target] = [
        t for p, t in zip(service.body["spec"]["ports"], _target_ports(service, hub_pod),
                          strict=True) if p["port"] == port
    ]
    policies = [
        o for o in index.rendered if o.kind == "NetworkPolicy" and o.namespace == binder.namespace
    ]
    assert ingress_allows(
        policies, hub_pod["metadata"]["labels"], target, container_ports(hub_pod),
        _namespace_labels(index, binder.namespace), binder_pod["metadata"]["labels"],
        same_namespace=True,
    ), f"the hub's NetworkPolicy blocks {owner} on port {target}"


#: Labels the kubelet puts on every node (https://kubernetes.io/docs/reference/labels-annotations-taints/).
WELL_KNOWN_NODE_LABELS = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
USER_TAINT = {"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}


def _tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, str]) -> bool:
    for t in tolerations or []:
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint["value"]:
            return True
    return False


def _required_terms(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return list(required.get("nodeSelectorTerms") or [])


def _may_run_on(pod_spec: Mapping[str, Any], node_labels: Mapping[str, str], tainted: bool) -> bool:
    """Whether the scheduler may put the pod on a node with ``node_labels`` (and the user
    taint, if ``tainted``)."""
    if tainted and not _tolerates(pod_spec.get("tolerations") or [], USER_TAINT):
        return False
    selector = pod_spec.get("nodeSelector") or {}
    node_labels = {**WELL_KNOWN_NODE_LABELS, **node_labels}
    if any(node_labels.get(k) != v for k, v in selector.items()):
        return False
    terms = _required_terms(pod_spec)
    return not terms or any(
        labels_match({"matchExpressions": t.get("matchExpressions") or []}, node_labels)
        for t in terms
    )


def _user_pod_spec(index: Index) -> dict[str, Any]:
    """The scheduling part of a user pod as KubeSpawner makes it from the hub's values
    (z2jh files/hub/jupyterhub_config.py: node_selector from singleuser.nodeSelector;
    tolerations from scheduling.userPods.tolerations + singleuser.extraTolerations; a
    required node affinity on hub.jupyter.org/node-purpose=user when
    scheduling.userPods.nodeAffinity.matchNodePurpose is `require`)."""
    values = index.hub_values()
    single, scheduling = values["singleuser"], values["scheduling"]
    terms = list((single.get("extraNodeAffinity") or {}).get("required") or [])
    if scheduling["userPods"]["nodeAffinity"]["matchNodePurpose"] == "require":
        terms.append({"matchExpressions": [
            {"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}
        ]})
    spec: dict[str, Any] = {
        "nodeSelector": single.get("nodeSelector") or {},
        "tolerations": list(scheduling["userPods"].get("tolerations") or [])
        + list(single.get("extraTolerations") or []),
    }
    if terms:
        spec["affinity"] = {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }}
    return spec


def test_user_pods_land_on_the_user_pool(index: Index) -> None:
    cluster = index.case.cfg.cluster
    user_labels = cluster.user_node_selector
    specs = {"user pods": _user_pod_spec(index)}
    for owner, pod in index.pods():
        if owner.name == "user-placeholder":
            specs[str(owner)] = pod["spec"]
    if not cluster.has_user_pool:
        for what, spec in specs.items():
            assert _may_run_on(spec, {}, tainted=False), f"{what} cannot run on any node"
        return
    tainted = cluster.user_nodes_tainted
    for what, spec in specs.items():
        assert _may_run_on(spec, user_labels, tainted), f"{what} cannot run on the user pool"
        assert not _may_run_on(spec, {}, tainted=False), f"{what} may run on core nodes too"


#: Pods meant for every node, user nodes included: per-node agents (log shipping, metrics,
#: image cleaning and the build daemon where builds run).
PER_NODE = frozenset({"DaemonSet"})


#: Labels of the nodes core pods are meant for, per provider: GKE's core pool
#: (components/cluster/gke.py labels it hub.jupyter.org/node-purpose=core) and Magnum's
#: default worker group, labelled by the configured driver
#: (MagnumCluster.default_worker_selector, from components/config/magnum_drivers.py).
CORE_NODE_LABELS = {
    "gke": {"hub.jupyter.org/node-purpose": "core"},
    "existing": {},
}


def _core_labels(cluster: Any) -> dict[str, str]:
    if isinstance(cluster, MagnumCluster):
        return cluster.default_worker_selector
    return CORE_NODE_LABELS[cluster.provider]


def test_core_pods_stay_off_user_nodes(index: Index) -> None:
    cluster = index.case.cfg.cluster
    # User pods and, with a user pool, builds (test_builds_run_on_user_nodes_only) stay off.
    on_user_nodes = {"user-placeholder"} | (BUILD_DAEMONS if cluster.has_user_pool else set())
    unplaceable = [
        str(owner) for owner, pod in index.pods()
        if owner.name not in on_user_nodes
        and not _may_run_on(pod["spec"], _core_labels(cluster), tainted=False)
    ]
    assert not unplaceable, f"core pods no core node can take: {unplaceable}"
    if not cluster.has_user_pool:
        return
    strays = [
        str(owner) for owner, pod in index.pods()
        if owner.kind not in PER_NODE and owner.name != "user-placeholder"
        and _may_run_on(pod["spec"], cluster.user_node_selector, cluster.user_nodes_tainted)
    ]
    assert not strays, "core pods the scheduler may put on user nodes:\n  " + "\n  ".join(strays)


#: The pods that run (or serve) builds: the chart's dind and image cleaner and the program's
#: BuildKit pruner; build pods themselves are made by BinderHub (checked from its config).
BUILD_DAEMONS = frozenset({
    "binderhub-dind", "binderhub-pink", "binderhub-image-cleaner", "binder-buildkit-pruner"
})
#: Which of them run, per builder: dind with the program's pruner (the chart's image cleaner
#: off: components/releases/builder.py image_cleaner_values), pink with the image cleaner.
DAEMONS_OF = {
    "dind": {"binderhub-dind", "binder-buildkit-pruner"},
    "pink": {"binderhub-pink", "binderhub-image-cleaner"},
}

#: The tolerations BinderHub gives every build pod (binderhub/build.py at the pinned chart's
#: commit, KubernetesBuildExecutor.submit:
#: https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/build.py#L557-L573).
BUILD_POD_TOLERATIONS = [
    {"key": key, "operator": "Equal", "value": "user", "effect": "NoSchedule"}
    for key in ("hub.jupyter.org/dedicated", "hub.jupyter.org_dedicated")
]


def test_builds_run_on_user_nodes_only(index: Index) -> None:
    """Issue 21: privileged builds (dind, the build pods) and the daemons beside them never
    share a node with the hub and its Secrets, wherever a user pool exists."""
    cluster = index.case.cfg.cluster
    binder = index.one("Secret", "binder-secret", index.release("binderhub").namespace)
    config = fast_yaml.safe_load(binder.body["stringData"]["values.yaml"])["config"]
    specs = {
        "build pods": {
            "nodeSelector": config["BinderHub"].get("build_node_selector") or {},
            "tolerations": BUILD_POD_TOLERATIONS,
        }
    }
    running = set()
    for owner, pod in [*index.pods(), *_raw_pods(index)]:
        if owner.name in BUILD_DAEMONS:
            specs[str(owner)] = pod["spec"]
            running.add(owner.name)
    assert running == DAEMONS_OF[_binderhub(index).image_builder_type]
    if not cluster.has_user_pool:
        for what, spec in specs.items():
            assert _may_run_on(spec, {}, tainted=False), f"{what} cannot run on any node"
        return
    for what, spec in specs.items():
        assert _may_run_on(spec, cluster.user_node_selector, cluster.user_nodes_tainted), what
        assert not _may_run_on(spec, _core_labels(cluster), tainted=False), (
            f"{what} may run on core nodes, beside the hub"
        )


def _raw_pods(index: Index) -> list[tuple[Obj, Mapping[str, Any]]]:
    return [(o, o.body["spec"]["template"]) for o in index.raw if o.kind == "DaemonSet"]


def test_ingress_hosts_and_tls(index: Index) -> None:
    cfg, tls_cfg = index.case.cfg, _tls(index)
    hosts = {_binderhub(index).host, _binderhub(index).hub_host}
    if cfg.monitoring.enabled and cfg.monitoring.grafana_host:
        hosts.add(cfg.monitoring.grafana_host)
    ingresses = [o for o in index.all if o.kind == "Ingress"]
    assert ingresses
    seen = set()
    for ing in ingresses:
        spec = ing.body["spec"]
        rule_hosts = {r["host"] for r in spec.get("rules") or []}
        assert rule_hosts, f"{ing} has a rule without a host"
        assert rule_hosts <= hosts, f"{ing} serves hosts {rule_hosts - hosts} not configured"
        seen |= rule_hosts
        assert spec.get("ingressClassName") == cfg.ingress.class_name, ing
        annotations = ing.body["metadata"].get("annotations") or {}
        tls = spec.get("tls") or []
        if tls_cfg.source == "none":
            assert not tls, f"{ing} asks for TLS with tls.source none"
            assert "cert-manager.io/cluster-issuer" not in annotations
            continue
        assert {h for t in tls for h in t.get("hosts") or []} == rule_hosts, ing
        for entry in tls:
            assert entry.get("secretName"), f"{ing}: TLS without a secret"
        if tls_cfg.source == "letsencrypt":
            assert annotations.get("cert-manager.io/cluster-issuer") == (
                f"letsencrypt-{tls_cfg.issuer}"
            ), ing
            issuer = index.find("ClusterIssuer", f"letsencrypt-{tls_cfg.issuer}")
            assert issuer, f"{ing} names an issuer that does not exist"
        else:  # institution: the Secret the program stores from the given certificate
            for entry in tls:
                assert index.find("Secret", entry["secretName"], ing.namespace), ing
    assert seen == hosts, f"configured hosts without an Ingress: {hosts - seen}"


# --------------------------------------------------------------------------------------
# References and images
# --------------------------------------------------------------------------------------

#: What every cluster provides in every namespace or cluster-wide, so the charts may refer
#: to it without creating it: each namespace's `default` ServiceAccount and `kube-root-ca.crt`
#: ConfigMap (https://kubernetes.io/docs/concepts/security/service-accounts/#default-service-accounts,
#: https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#root-ca-certificate-configmap)
#: and the two built-in PriorityClasses
#: (https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/).
CLUSTER_PROVIDES: dict[str, set[tuple[str, str]]] = {
    "any": {
        ("ServiceAccount", "default"),
        ("ConfigMap", "kube-root-ca.crt"),
        ("PriorityClass", "system-cluster-critical"),
        ("PriorityClass", "system-node-critical"),
    },
    # GKE's StorageClasses (https://cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/gce-pd-csi-driver).
    "gke": {("StorageClass", "standard-rwo"), ("StorageClass", "standard"),
            ("StorageClass", "premium-rwo")},
    # The Cinder CSI StorageClass our ebi values name (helm_configs/ebi/*.yaml); docs/releases.md
    # says it must exist in a Magnum cluster with the `cinder_csi_enabled` label. The
    # cloud-provider-openstack example that defines this name:
    # https://github.com/kubernetes/cloud-provider-openstack/blob/master/examples/cinder-csi-plugin/nginx.yaml
    # NOT verified against Magnum's driver source here: a site without it must create it.
    "magnum": {("StorageClass", "csi-sc-cinderplugin")},
    "existing": set(),
}


def _references(obj: Obj, pod: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """``(kind, name, optional)`` of what a pod template refers to by name."""
    spec = pod.get("spec") or {}
    refs: list[tuple[str, str, bool]] = [
        ("ServiceAccount", spec.get("serviceAccountName") or "default", False)
    ]
    if spec.get("priorityClassName"):
        refs.append(("PriorityClass", spec["priorityClassName"], False))
    refs += [("Secret", s["name"], False) for s in spec.get("imagePullSecrets") or []]
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            refs.append(("Secret", volume["secret"]["secretName"],
                         bool(volume["secret"].get("optional"))))
        if "configMap" in volume:
            refs.append(("ConfigMap", volume["configMap"]["name"],
                         bool(volume["configMap"].get("optional"))))
        if "persistentVolumeClaim" in volume:
            refs.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"],
                         False))
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                if key in source:
                    refs.append((kind, source[key]["name"], bool(source[key].get("optional"))))
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if key in source:
                    refs.append((kind, source[key]["name"], bool(source[key].get("optional"))))
        for env_from in container.get("envFrom") or []:
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if key in env_from:
                    refs.append((kind, env_from[key]["name"],
                                 bool(env_from[key].get("optional"))))
    return refs


def test_every_reference_exists(index: Index) -> None:
    """Every ServiceAccount, Secret, ConfigMap, PVC, PriorityClass and StorageClass a
    rendered object names is rendered, a raw object of the program, or something the
    cluster itself provides (CLUSTER_PROVIDES, per provider)."""
    provider = index.case.cfg.cluster.provider
    provided = CLUSTER_PROVIDES["any"] | CLUSTER_PROVIDES[provider]
    missing = []

    def check(owner: Obj, kind: str, name: str, cluster_scoped: bool = False) -> None:
        if (kind, name) in provided:
            return
        if not index.find(kind, name, None if cluster_scoped else owner.namespace):
            missing.append(f"{owner} refers to {kind} {name}")

    for owner, pod in index.pods():
        for kind, name, optional in _references(owner, pod):
            if not optional:
                check(owner, kind, name, cluster_scoped=kind == "PriorityClass")
    for obj in index.rendered:
        claims = []
        if obj.kind == "PersistentVolumeClaim":
            claims.append(obj.body["spec"])
        if obj.kind == "StatefulSet":
            claims += [t["spec"] for t in obj.body["spec"].get("volumeClaimTemplates") or []]
        for claim in claims:
            if claim.get("storageClassName"):
                check(obj, "StorageClass", claim["storageClassName"], cluster_scoped=True)
        if obj.kind in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.body.get("subjects") or []:
                if subject["kind"] == "ServiceAccount":
                    ns = subject.get("namespace") or obj.namespace
                    if not index.find("ServiceAccount", subject["name"], ns) and (
                        "ServiceAccount", subject["name"]
                    ) not in provided:
                        missing.append(f"{obj} binds ServiceAccount {ns}/{subject['name']}")
    assert not missing, "\n".join(missing)


def _git_placeholder_tags(index: Index, release_chart: str) -> set[str]:
    """Image tags that are placeholders BY RULE because the chart comes from its git source,
    not from a release (shared/charts/README.md, "Release-time changes that are not
    reproduced"): chartpress writes `set-by-chartpress` in git, and a chart whose
    Chart.yaml says so (version `0.0.1-set.by.chartpress`) gets its real tags at publication;
    cert-manager's git Chart.yaml has appVersion `v0.0.0`, its images' default tag, which its
    release tool replaces."""
    release = index.release(release_chart)
    root = chart_render.DEFAULT_CHARTS_DIR / release.chart / release.version
    tags = set()
    for chart_yaml in [root / "Chart.yaml", *root.glob("charts/*/Chart.yaml")]:
        meta = fast_yaml.safe_load(chart_yaml.read_text())
        if "set.by.chartpress" in str(meta.get("version")):
            tags.add("set-by-chartpress")
        if str(meta.get("appVersion")) == "v0.0.0":
            tags.add("v0.0.0")
    return tags


def _tag(image: str) -> str | None:
    """The tag of an image reference; None when it has none (a digest pins it too)."""
    if "@sha256:" in image:
        return "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def test_no_image_is_untagged_or_latest(index: Index) -> None:
    bad, checked = [], 0
    for owner, pod in index.pods():
        spec = pod.get("spec") or {}
        allowed = _git_placeholder_tags(index, _chart_of(index, owner))
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            tag = _tag(container["image"])
            checked += 1
            if tag in (None, "latest", ""):
                bad.append(f"{owner}: {container['image']}")
            elif tag in ("set-by-chartpress", "v0.0.0") and tag not in allowed:
                bad.append(f"{owner}: {container['image']} (placeholder of another chart)")
    assert checked
    assert not bad, "images without a pinned tag:\n  " + "\n  ".join(bad)


def _chart_of(index: Index, obj: Obj) -> str:
    [release] = [r for r in index.case.releases if r.name == obj.release]
    return release.chart
