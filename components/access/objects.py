"""Small builders shared by the access components: object metadata, role references, rules,
DNS-safe object names and the kubeconfig of a ServiceAccount token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.access.deployer_rules import RBAC_GROUP, Rule
from components.config.access import (
    identity_slug,
)

TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"  # noqa: S105 (a type, not a secret)
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "binder"}


def object_slug(name: str) -> str:
    """A DNS-label-safe form of an identity (``alice@example.org`` -> ``alice-example-org-…``).

    When the mapping loses information, a short hash keeps distinct identities distinct
    (:func:`components.config.stack.identity_slug`, which ``load_config`` checks for clashes).
    """
    return identity_slug(name)


def kubeconfig_yaml(
    *,
    cluster_name: str,
    endpoint: str,
    ca_data: str,
    user: str,
    token: str,
    namespace: str | None,
) -> str:
    """A self-contained kubeconfig with a bearer token (usable by kubectl/helm/pulumi as is).

    https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
    """
    cluster: dict[str, Any] = {"server": endpoint}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    context: dict[str, Any] = {"cluster": cluster_name, "user": user}
    if namespace:
        context["namespace"] = namespace
    context_name = f"{user}@{cluster_name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context_name, "context": context}],
        "current-context": context_name,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


def meta(
    name: pulumi.Input[str],
    namespace: pulumi.Input[str] | None = None,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
    labels: Mapping[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**MANAGED_BY, **(labels or {})},
        annotations=dict(annotations) if annotations else None,
    )


def cluster_role_ref(name: pulumi.Input[str]) -> k8s.rbac.v1.RoleRefArgs:
    return k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=name)


def policy_rules(rules: Sequence[Rule]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=rule["apiGroups"],
            resources=rule["resources"],
            verbs=rule["verbs"],
            resource_names=rule.get("resourceNames"),
        )
        for rule in rules
    ]
