"""Pod Security Admission levels of the namespaces the bootstrap creates.

Kubernetes' built-in Pod Security Admission enforces one of three Pod Security Standards per
namespace, chosen by the namespace's ``pod-security.kubernetes.io/<mode>`` labels
(https://kubernetes.io/docs/concepts/security/pod-security-admission/,
https://kubernetes.io/docs/concepts/security/pod-security-standards/):

* ``restricted``: non-root, no privilege escalation, capabilities dropped, a seccomp profile,
  only ordinary volume types -- the default for every namespace here;
* ``baseline``: no privileged containers, host namespaces or ``hostPath`` volumes;
* ``privileged``: anything, including a privileged pod that owns its node (and with it the
  node's kubelet credentials and the token of every pod on that node).

A chart namespace is ``privileged`` only where the pinned chart needs it
(:data:`CHART_NEEDS`, pinned against the charts' sources by
``tests/components/access/test_pod_security.py`` and against the rendered charts by
``tests/rendered/test_access_rendered.py``); ``binder:namespaces.<ns>.podSecurity``
changes the level, and the plan refuses a level below what the namespace's chart needs. An
``edit``/``admin`` grant in a ``privileged`` namespace reaches the node, so
:mod:`components.access.reach` counts it as reaching the deploy agent's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.config.access import POD_SECURITY_LABEL_PREFIX, POD_SECURITY_LEVELS

if TYPE_CHECKING:
    from components.config.access import NamespaceConfig
    from components.config.stack import StackConfig

#: The level of a namespace no chart needs more for.
DEFAULT_LEVEL = "restricted"


@dataclass(frozen=True)
class PodSecurityNeed:
    """The least a chart's pods need in their namespace, and why."""

    level: str
    chart: str
    why: str


#: Chart namespaces that need more than ``restricted``, while their part is enabled. Every
#: level here is ``privileged``: ``baseline`` forbids privileged containers, host namespaces
#: and ``hostPath`` volumes alike, and each of these charts uses at least one of them.
CHART_NEEDS: dict[str, PodSecurityNeed] = {
    "binder": PodSecurityNeed(
        "privileged",
        "binderhub",
        # binderhub templates/container-builder/daemonset.yaml (`privileged: true` for
        # dind/pink; the `host` builder mounts the node's Docker socket by hostPath) and
        # templates/image-cleaner.yaml (hostPath).
        "BinderHub's image builder runs privileged Docker-in-Docker pods (or mounts the "
        "node's Docker socket) and its image cleaner mounts the node's image store",
    ),
    "monitoring": PodSecurityNeed(
        "privileged",
        "prometheus",
        # prometheus-node-exporter values: hostNetwork, hostPID, hostRootFsMount.enabled.
        "prometheus-node-exporter uses the node's network and process namespaces and mounts "
        "its root filesystem",
    ),
    "logging": PodSecurityNeed(
        "privileged",
        "fluentd",
        # fluentd templates/_pod.tpl: hostPath volumes for /var/log.
        "fluentd reads the node's /var/log through hostPath volumes",
    ),
}


def _enabled_needs(cfg: StackConfig) -> dict[str, PodSecurityNeed]:
    enabled = {
        "binder": True,
        "monitoring": cfg.monitoring.enabled,
        "logging": cfg.logging.enabled,
    }
    return {ns: need for ns, need in CHART_NEEDS.items() if enabled[ns]}


def level_rank(level: str) -> int:
    return POD_SECURITY_LEVELS.index(level)


def namespace_levels(cfg: StackConfig) -> dict[str, str]:
    """The Pod Security level of every namespace the bootstrap creates."""
    needs = _enabled_needs(cfg)
    return {ns: _level(ns, ns_cfg, needs) for ns, ns_cfg in sorted(cfg.all_namespaces.items())}


def _level(ns: str, ns_cfg: NamespaceConfig, needs: dict[str, PodSecurityNeed]) -> str:
    if ns_cfg.pod_security is not None:
        return ns_cfg.pod_security
    return needs[ns].level if ns in needs else DEFAULT_LEVEL


def privileged_namespaces(cfg: StackConfig) -> dict[str, str]:
    """Namespaces that admit privileged pods, with why they do."""
    needs = _enabled_needs(cfg)
    found = {}
    for ns, level in namespace_levels(cfg).items():
        if level != "privileged":
            continue
        explicit = cfg.all_namespaces[ns].pod_security is not None
        found[ns] = (
            "its podSecurity is 'privileged'"
            if explicit or ns not in needs
            else f"it is 'privileged' for {needs[ns].chart}"
        )
    return found


def pod_security_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    """The namespace labels that make Pod Security Admission enforce ``level``.

    The version is pinned to the cluster's minor version, so a Kubernetes upgrade does not
    tighten the standard under running workloads unnoticed. ``warn`` repeats the enforced
    level (kubectl/helm show why a pod is refused); ``audit`` records every pod that would
    not pass ``restricted`` in the API server's audit log, which shows what a ``privileged``
    namespace actually uses.
    """
    version = f"v{kubernetes_version}"
    prefix = POD_SECURITY_LABEL_PREFIX
    return {
        f"{prefix}enforce": level,
        f"{prefix}enforce-version": version,
        f"{prefix}warn": level,
        f"{prefix}warn-version": version,
        f"{prefix}audit": DEFAULT_LEVEL,
        f"{prefix}audit-version": version,
    }


def pod_security_problems(cfg: StackConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """A ``podSecurity`` below what the namespace's chart needs would refuse its pods."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    needs = _enabled_needs(cfg)
    for ns, ns_cfg in sorted(cfg.namespaces.items()):
        level = ns_cfg.pod_security
        if level is None or ns not in needs:
            continue
        need = needs[ns]
        if level_rank(level) < level_rank(need.level):
            problems.append(
                (
                    ("namespaces", ns, "podSecurity"),
                    f"'{level}' would refuse the pods of {need.chart}: {need.why}. Use "
                    f"'{need.level}' (or leave podSecurity unset)",
                )
            )
    return problems
