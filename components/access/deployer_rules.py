"""The deploy agent's RBAC rules: what it may do in the release namespaces and cluster-wide.

See docs/access.md for what these rules allow, and why it is not a security boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.access.chart_objects import ChartClusterObjects

#: The API group of RBAC objects.
RBAC_GROUP = "rbac.authorization.k8s.io"

#: Verbs Helm (and Pulumi's server-side apply) use to manage an object's whole life cycle.
#: Not ``deletecollection``: neither tool issues it.
MANAGE = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")

Rule = dict[str, list[str]]


def _rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> Rule:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


#: What the deployer may do in each namespace this program manages: everything a Helm
#: release of BinderHub/JupyterHub, traefik, cert-manager, prometheus, grafana and fluentd
#: creates there, plus the release records Helm keeps as Secrets in the release's namespace.
#: Bound with a RoleBinding per managed namespace, so it grants nothing in kube-system or in
#: other tenants' namespaces.
DEPLOYER_NAMESPACE_RULES: tuple[Rule, ...] = (
    # Helm stores each release revision as a Secret in the release namespace
    # (https://helm.sh/docs/topics/advanced/#storage-backends); charts ship ConfigMaps,
    # Secrets, Services, ServiceAccounts and PVCs (hub DB, prometheus, grafana). Quotas and
    # LimitRanges are the bootstrap's own (binder:namespaces.<ns>.quota/limits).
    # Measured against every object the pinned charts render for every stack
    # (tests/rendered/test_rendered_objects.py test_deployer_rules_no_object_needs): no chart
    # renders a bare Pod (Helm test hooks are never installed), an HPA, a CronJob, a
    # cert-manager Certificate/Issuer (our Ingresses ask cert-manager's ingress-shim, which
    # makes them with its own account) or any traefik.io resource, so the deployer may not
    # write those; it reads Pods, for its logs and the await logic.
    _rule(
        [""],
        [
            "configmaps",
            "secrets",
            "services",
            "serviceaccounts",
            "persistentvolumeclaims",
            "resourcequotas",
            "limitranges",
        ],
        MANAGE,
    ),
    # Read-only: `helm --wait` and Pulumi's await logic follow these; events and logs are
    # what a CI agent shows when a rollout fails. Writing Endpoints is deliberately absent
    # (CVE-2021-25740, also removed from the built-in `edit` role).
    _rule([""], ["pods", "endpoints", "events", "pods/log"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(["events.k8s.io"], ["events"], READ),
    _rule(["apps"], ["deployments", "statefulsets", "daemonsets"], MANAGE),
    _rule(["apps"], ["replicasets", "controllerrevisions"], READ),
    _rule(["batch"], ["jobs"], MANAGE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], MANAGE),
    _rule(["policy"], ["poddisruptionbudgets"], MANAGE),
    # Charts ship Roles/RoleBindings for their own pods (hub, user-scheduler, grafana sidecar).
    _rule([RBAC_GROUP], ["roles", "rolebindings"], MANAGE),
    # ... some with permissions the deployer does not hold (cert-manager's `leases` and
    # `serviceaccounts/token` Roles), which needs `escalate`/`bind` on Roles. Not limited by
    # name: a Role only grants inside its namespace, i.e. inside a managed namespace, where
    # the deployer already controls every ServiceAccount (it creates their pods). Binding a
    # *ClusterRole* from a RoleBinding is checked against `clusterroles`, which is limited
    # to the charts' own names (deployer_cluster_rules).
    _rule([RBAC_GROUP], ["roles"], ["bind", "escalate"]),
)


def _named(
    groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str], names: Sequence[str]
) -> list[Rule]:
    # An EMPTY resourceNames list means "every name": never emit one.
    return [{**_rule(groups, resources, verbs), "resourceNames": sorted(names)}] if names else []


def deployer_cluster_rules(
    managed_namespaces: Sequence[str], charts: ChartClusterObjects
) -> list[Rule]:
    """Cluster-scoped permissions of the deployer, bound with a ClusterRoleBinding.

    ``create`` cannot be limited by name (the name is not known when the request is
    authorized: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources),
    so every kind the charts create cluster-wide is creatable; changing and deleting is limited
    to the names in ``charts``, and to the ``managed_namespaces``.
    """
    admission = "admissionregistration.k8s.io"
    webhooks = ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
    return [
        _rule([""], ["namespaces"], READ),
        # No `create`: a new namespace widens the deployer's own permissions (this role's
        # resourceNames, a RoleBinding in it), which only the admin credentials may do.
        *_named([""], ["namespaces"], ["update", "patch", "delete"], managed_namespaces),
        # cert-manager (crds.enabled) installs CRDs. No `delete`: deleting a CRD deletes every
        # object of that kind in the cluster; Helm keeps CRDs on uninstall.
        _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], (*READ, "create")),
        *_named(
            ["apiextensions.k8s.io"],
            ["customresourcedefinitions"],
            ["update", "patch"],
            charts.crds,
        ),
        # Every chart here ships ClusterRoles and ClusterRoleBindings. Creating is open (see
        # above), but a new ClusterRole may only hold what the deployer holds itself, and a
        # new binding may only refer to a role the deployer holds or may `bind`.
        _rule([RBAC_GROUP], ["clusterroles", "clusterrolebindings"], (*READ, "create")),
        # RBAC escalation prevention lets a subject write a role with permissions it lacks
        # only with `escalate`, and bind one only with `bind`. The charts' roles grant what
        # the deployer does not hold (cluster-wide Secret reads, nodes/proxy, ...), and every
        # chart upgrade rewrites them (at least their labels). So: `escalate`, `bind` and
        # changes ONLY on the charts' own roles -- never cluster-admin, admin/edit/view,
        # system:* or the deployer's own roles. docs/access.md says what this does and does
        # not prevent.
        *_named(
            [RBAC_GROUP],
            ["clusterroles"],
            ["update", "patch", "delete", "bind", "escalate"],
            charts.cluster_roles,
        ),
        *_named(
            [RBAC_GROUP],
            ["clusterrolebindings"],
            ["update", "patch", "delete"],
            charts.cluster_role_bindings,
        ),
        # cert-manager's webhook (the cainjector keeps its CA bundle up to date).
        _rule([admission], webhooks, (*READ, "create")),
        *_named(
            [admission], webhooks, ["update", "patch", "delete"], charts.webhook_configurations
        ),
        # traefik's IngressClass; z2jh's PriorityClasses (scheduling.podPriority); fluentd's;
        # the Let's Encrypt ClusterIssuers. Changed and deleted by name; created under any
        # name as far as RBAC goes (it cannot limit a create), which the admission guard
        # then limits to the same names.
        *(
            rule
            for group, resource, names in (
                ("networking.k8s.io", "ingressclasses", charts.ingress_classes),
                ("scheduling.k8s.io", "priorityclasses", charts.priority_classes),
                ("cert-manager.io", "clusterissuers", charts.cluster_issuers),
            )
            if names
            for rule in (
                _rule([group], [resource], (*READ, "create")),
                *_named([group], [resource], ["update", "patch", "delete"], names),
            )
        ),
    ]
