"""components/access/namespaces.py: a namespace, its Pod Security labels and guard rails."""

from __future__ import annotations

import pulumi

from components.access.namespaces import managed_namespace
from components.config.access import NamespaceConfig
from tools.mockrun import run_program


def test_namespace_with_quota_and_limits_under_the_parent() -> None:
    cfg = NamespaceConfig.model_validate(
        {
            "labels": {"team": "binder"},
            "quota": {"hard": {"pods": 50}},
            "limits": [{"type": "Container", "default": {"cpu": "1"}}],
        }
    )

    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Parent", "boot")
        _, guards = managed_namespace(
            parent,
            "boot",
            "binder",
            cfg,
            pod_security="privileged",
            kubernetes_version="1.33",
        )
        assert len(guards) == 2

    rec = run_program(program)
    ns = rec.one("kubernetes:core/v1:Namespace")
    assert ns.name == "boot-ns-binder"
    labels = ns.inputs["metadata"]["labels"]
    assert labels["team"] == "binder"
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.33"
    quota = rec.one("kubernetes:core/v1:ResourceQuota")
    limits = rec.one("kubernetes:core/v1:LimitRange")
    parent = rec.one("test:index:Parent")
    for guard in (quota, limits):
        # Children of the component, not of the (possibly protected) Namespace.
        assert guard.parent == parent.urn
        assert ns.urn in guard.dependencies
    assert quota.inputs["spec"]["hard"] == {"pods": "50"}


def test_no_guards_without_quota_or_limits() -> None:
    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Parent", "boot")
        _, guards = managed_namespace(
            parent,
            "boot",
            "logging",
            NamespaceConfig(),
            pod_security="restricted",
            kubernetes_version="1.31",
        )
        assert guards == []

    rec = run_program(program)
    assert [r.type for r in rec.resources if r.custom] == ["kubernetes:core/v1:Namespace"]
