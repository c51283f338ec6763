"""Abuse limits of a public Binder (``binder:binderhub.limits``) and the check that a user pod
fits a user node.

BinderHub's launch quotas: ``LaunchQuota.total_quota`` (the global pod quota; the old
``BinderHub.pod_quota`` is deprecated), ``BinderHub.per_repo_quota`` and
``per_repo_quota_higher``; repository providers' ``banned_specs`` and ``high_quota_specs``
(binderhub/app.py, quota.py and repoproviders.py at the pinned chart's commit,
https://github.com/jupyterhub/binderhub/tree/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub).
They are set on ``RepoProvider``, the base class of every provider: traitlets applies a
parent class's configuration section to its subclasses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from components.config.cluster import ClusterBase, GkeCluster
from components.config.releases import BinderHubConfig
from components.config.service import LaunchLimits, byte_spec_value, quantity_value

GIB = 2**30
MIB = 2**20


def limits_values(limits: LaunchLimits) -> dict[str, Any]:
    """The binderhub chart's ``config:`` for the limits."""
    config: dict[str, Any] = {
        "BinderHub": {
            "per_repo_quota": limits.per_repo,
            "per_repo_quota_higher": limits.per_repo_higher,
        },
        "RepoProvider": {
            "banned_specs": list(limits.banned_specs),
            "high_quota_specs": list(limits.high_quota_specs),
        },
    }
    if limits.total_pods is not None:
        config["LaunchQuota"] = {"total_quota": limits.total_pods}
    return {"config": config}


# --------------------------------------------------------------------------------------
# Does a user pod fit a user node?
# --------------------------------------------------------------------------------------

#: GiB of memory per vCPU of GCE's predefined machine types, by family and kind.
#: https://cloud.google.com/compute/docs/general-purpose-machines and
#: https://cloud.google.com/compute/docs/compute-optimized-machines
_GIB_PER_CPU = {
    "standard": 4.0,
    "highmem": 8.0,
    "highcpu": 1.0,
}
_N1_GIB_PER_CPU = {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9}
#: E2 shared-core types: (vCPUs, GiB).
_E2_SHARED = {"e2-micro": (2, 1.0), "e2-small": (2, 2.0), "e2-medium": (2, 4.0)}


def gce_machine(machine_type: str) -> tuple[float, float] | None:
    """``(vCPUs, bytes of memory)`` of a predefined GCE machine type; None if unknown
    (a custom type, or a family whose shape we do not know)."""
    if machine_type in _E2_SHARED:
        cpus, gib = _E2_SHARED[machine_type]
        return float(cpus), gib * GIB
    match = re.fullmatch(
        r"(e2|n1|n2|n2d|n4|c2|c2d|c3|c3d|c4|t2d)-(standard|highmem|highcpu)-(\d+)", machine_type
    )
    if not match:
        return None
    family, kind, count = match.groups()
    per_cpu = _N1_GIB_PER_CPU if family == "n1" else _GIB_PER_CPU
    cpus = int(count)
    return float(cpus), cpus * per_cpu[kind] * GIB


def gke_allocatable(cpus: float, memory: float) -> tuple[float, float]:
    """What GKE leaves to pods on a node of ``cpus`` and ``memory`` bytes: its documented
    kubelet/system reservations and the 100 MiB eviction threshold.
    https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations
    """
    reserved: float
    if memory < GIB:
        reserved = 255.0 * MIB
    else:
        reserved = 0.0
        for upper, share in ((4, 0.25), (8, 0.20), (16, 0.10), (128, 0.06)):
            lower = {4: 0, 8: 4, 16: 8, 128: 16}[upper]
            reserved += max(0.0, min(memory, upper * GIB) - lower * GIB) * share
        reserved += max(0.0, memory - 128 * GIB) * 0.02
    cpu_reserved = 0.0
    for lower, upper, share in ((0, 1, 0.06), (1, 2, 0.01), (2, 4, 0.005)):
        cpu_reserved += max(0.0, min(cpus, upper) - lower) * share
    cpu_reserved += max(0.0, cpus - 4) * 0.0025
    return cpus - cpu_reserved, memory - reserved - 100 * MIB


def user_node_allocatable(
    cluster: ClusterBase, limits: LaunchLimits
) -> tuple[float, float, str] | None:
    """``(cpus, memory bytes, where it comes from)`` a user node offers to pods, if known:
    ``limits.userNode`` if given, else a GKE user pool's predefined machine type."""
    if limits.user_node is not None:
        return (
            limits.user_node.cpu,
            quantity_value(limits.user_node.memory),
            "binder:binderhub.limits.userNode",
        )
    if isinstance(cluster, GkeCluster):
        machine = gce_machine(cluster.user_pool.machine_type)
        if machine is not None:
            cpus, memory = gke_allocatable(*machine)
            return cpus, memory, f"userPool.machineType {cluster.user_pool.machine_type}"
    return None


def _requests(values: Mapping[str, Any], *path: str) -> tuple[float, float]:
    node: Any = values
    for key in path:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    requests = node if isinstance(node, Mapping) else {}
    cpu = quantity_value(requests["cpu"]) if "cpu" in requests else 0.0
    memory = quantity_value(requests["memory"]) if "memory" in requests else 0.0
    return cpu, memory


def user_pod_problems(
    hub: BinderHubConfig,
    cluster: ClusterBase,
    *,
    daemon_requests: Sequence[tuple[str, float, float]],
) -> list[str]:
    """Why a user pod would not fit a user node next to the DaemonSets every node runs
    (``daemon_requests``: name, CPUs, bytes); empty if it fits or the node size is unknown."""
    node = user_node_allocatable(cluster, hub.limits)
    if node is None:
        return []
    cpus, memory, source = node
    daemon_cpu = sum(cpu for _, cpu, _ in daemon_requests)
    daemon_memory = sum(mem for _, _, mem in daemon_requests)
    names = ", ".join(name for name, _, _ in daemon_requests) or "no DaemonSets"
    free_cpu, free_memory = cpus - daemon_cpu, memory - daemon_memory
    resources = hub.user_resources
    problems = []
    for what, cpu in (("guarantee", resources.cpu.guarantee), ("limit", resources.cpu.limit)):
        if float(cpu) > free_cpu:
            problems.append(
                f"  binder:binderhub.userResources.cpu.{what} ({float(cpu):g}) does not fit a "
                f"user node: {source} leaves {cpus:.2f} CPUs to pods, {daemon_cpu:.2f} of them "
                f"requested by {names}, so {free_cpu:.2f} for a user pod; lower it or use "
                "larger user nodes"
            )
    for what, text in (
        ("guarantee", resources.memory.guarantee),
        ("limit", resources.memory.limit),
    ):
        need = byte_spec_value(text)
        if need > free_memory:
            problems.append(
                f"  binder:binderhub.userResources.memory.{what} ({text}) does not fit a user "
                f"node: {source} leaves {memory / GIB:.1f} GiB to pods, "
                f"{daemon_memory / GIB:.1f} GiB of them requested by {names}, so "
                f"{free_memory / GIB:.1f} GiB for a user pod; lower it or use larger user nodes"
            )
    return problems


def daemon_requests(
    hub: BinderHubConfig, file_values: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[tuple[str, float, float]]:
    """Requests of the pods every user node runs besides user pods: dind and the BuildKit
    pruner (with the dind builder), Fluentd and cryptnono (their values files' requests, when
    enabled)."""
    found: list[tuple[str, float, float]] = []
    if hub.image_builder_type == "dind":
        dind_cpu, _ = hub.builder.dind.cpu.values()
        dind_memory, _ = hub.builder.dind.memory.values()
        found.append(("dind", dind_cpu, dind_memory))
        found.append(("the BuildKit pruner", 0.01, 32 * MIB))
    if "fluentd" in file_values:
        cpu, memory = 0.0, 0.0
        for layer in file_values["fluentd"]:
            layer_cpu, layer_memory = _requests(layer, "resources", "requests")
            cpu, memory = layer_cpu or cpu, layer_memory or memory
        found.append(("fluentd", cpu, memory))
    if "cryptnono" in file_values:
        # Its detectors' and collector's requests (helm_configs/base/cryptnono.yaml).
        cpu, memory = 0.0, 0.0
        for path in (
            ("detectors", "execwhacker"),
            ("detectors", "monero"),
            ("detectors", "tcpflowkiller"),
            ("metrics", "collector"),
        ):
            container_cpu, container_memory = 0.0, 0.0
            for layer in file_values["cryptnono"]:  # a later layer's request wins
                layer_cpu, layer_memory = _requests(layer, *path, "resources", "requests")
                container_cpu = layer_cpu or container_cpu
                container_memory = layer_memory or container_memory
            cpu, memory = cpu + container_cpu, memory + container_memory
        found.append(("cryptnono", cpu, memory))
    return found
