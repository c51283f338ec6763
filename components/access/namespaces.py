"""A managed namespace and its guard rails (ResourceQuota, LimitRange), for the bootstrap.

Plain functions that register children of the :class:`~components.access.bootstrap.
ClusterBootstrap` component, under the names it has always used, so moving them here changed
no URN.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.access.objects import meta
from components.access.pod_security import pod_security_labels
from components.config.access import NamespaceConfig


def managed_namespace(
    parent: pulumi.Resource,
    prefix: str,
    ns: str,
    cfg: NamespaceConfig,
    *,
    pod_security: str,
    kubernetes_version: str,
) -> tuple[k8s.core.v1.Namespace, list[pulumi.Resource]]:
    """The Namespace ``ns`` and its guard rails (quota and limits, if configured).

    It waits for nothing (it used to wait for the deploy agent's ClusterRole, so that the
    agent's own run adding a namespace stopped at the role first). The real engine showed
    that order buys nothing: such a run is refused by the API server at both objects (the
    agent may neither widen its role nor create namespaces) and changes nothing, while every
    first `up` waited for the role before any namespace or release (e2e/tests:
    test_the_deploy_agent_cannot_add_a_namespace)."""
    namespace = k8s.core.v1.Namespace(
        f"{prefix}-ns-{ns}",
        # An explicit name, not auto-naming: releases and users refer to it.
        # Pod Security Admission labels from the planned level, after the configured
        # labels (which may not carry them: NamespaceConfig refuses that).
        # https://kubernetes.io/docs/concepts/security/pod-security-admission/
        metadata=meta(
            ns,
            labels={**cfg.labels, **pod_security_labels(pod_security, kubernetes_version)},
            annotations=cfg.annotations,
        ),
        opts=pulumi.ResourceOptions(parent=parent, protect=cfg.protect),
    )
    # Parented to the component, not the Namespace: children inherit `protect`, and a
    # protected namespace must not make its quota or bindings undeletable.
    in_ns = pulumi.ResourceOptions(parent=parent, depends_on=[namespace])
    guards: list[pulumi.Resource] = []
    if cfg.quota is not None:
        guards.append(
            k8s.core.v1.ResourceQuota(
                f"{prefix}-quota-{ns}",
                metadata=meta("quota", namespace.metadata.name),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=dict(cfg.quota.hard)),
                opts=in_ns,
            )
        )
    if cfg.limits:
        guards.append(
            k8s.core.v1.LimitRange(
                f"{prefix}-limits-{ns}",
                metadata=meta("limits", namespace.metadata.name),
                spec=k8s.core.v1.LimitRangeSpecArgs(
                    limits=[
                        k8s.core.v1.LimitRangeItemArgs(
                            type=item.type,
                            default=item.default,
                            default_request=item.default_request,
                            max=item.max,
                            min=item.min,
                        )
                        for item in cfg.limits
                    ]
                ),
                opts=in_ns,
            )
        )
    return namespace, guards
