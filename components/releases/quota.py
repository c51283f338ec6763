"""Quotas that fit the cluster (issue 22, item 5): the global launch quota derived from the
user pool, temporary per-repository raises with an expiry date, the build pods' maximum age
and idle kernels culled inside each server.

BinderHub's settings, read at the pinned chart's commit
(https://github.com/jupyterhub/binderhub/tree/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub):

* ``LaunchQuota.total_quota`` (quota.py): most user servers at once; None means no quota, so
  a public Binder launches until the autoscaler's ceiling and then leaves users' pods
  Pending. :func:`derive_total_quota` sets it from the user pool's largest size times the user
  pods one node holds by their guarantees (requests), after the DaemonSets every node runs.
* ``RepoProvider.spec_config`` (repoproviders.py ``repo_config``): ``{pattern, config:
  {quota}}`` entries matched with ``re.match(pattern, spec, re.IGNORECASE)``; set on the
  base class, which traitlets applies to every provider.
* ``KubernetesCleaner.max_age`` (build.py; default 4 hours): build pods older than this are
  deleted; mybinder.org uses 3600 (``mybinder/values.yaml`` L256-257 @ 95860dbc).
* Kernel culling: ``MappingKernelManager.cull_idle_timeout``/``cull_interval``/
  ``cull_connected`` and ``ServerApp.shutdown_no_activity_timeout``, mybinder.org's
  ``etcJupyter`` (L111-133). We hand them to each server on its command line through
  ``BinderSpawner.args``, which BinderSpawnerMixin.get_args appends (and copies from
  ``--NotebookApp.`` to ``--ServerApp.`` for the notebook/jupyter_server split): command-line
  options win over any configuration file the repository brings, and no ConfigMap is mounted
  over the image's ``/etc/jupyter``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from components.config.cluster import ClusterBase, ExistingCluster, GkeCluster, MagnumCluster
from components.config.public import IdleCulling
from components.config.releases import BinderHubConfig
from components.config.service import LaunchLimits, byte_spec_value
from components.releases.limits import GIB, user_node_allocatable


@dataclass(frozen=True)
class QuotaDerivation:
    """The global quota and the arithmetic behind it."""

    total: int
    nodes: int
    nodes_from: str
    per_node: int
    explanation: str


def user_pool_max_nodes(cluster: ClusterBase, limits: LaunchLimits) -> tuple[int, str] | None:
    """``(most user nodes, where it comes from)``, if known."""
    if limits.user_node_count is not None:
        return limits.user_node_count, "binder:binderhub.limits.userNodeCount"
    if isinstance(cluster, GkeCluster):
        return cluster.user_pool.autoscaling.max_nodes, "userPool.autoscaling.maxNodes"
    if isinstance(cluster, MagnumCluster):
        groups = [g for g in cluster.node_groups if g.purpose == "user"]
        if groups:
            total = sum(g.autoscaling.max_nodes if g.autoscaling else g.node_count for g in groups)
            return total, "the user node groups' autoscaling.maxNodes (or nodeCount)"
        if cluster.autoscaling is not None:
            return cluster.autoscaling.max_nodes, "cluster autoscaling.maxNodes"
        return cluster.node_count, "cluster nodeCount"
    if isinstance(cluster, ExistingCluster):
        return None
    return None


def derive_total_quota(
    hub: BinderHubConfig,
    cluster: ClusterBase,
    daemon_requests: Sequence[tuple[str, float, float]],
) -> QuotaDerivation | None:
    """The most user pods the user pool can hold by their guarantees; None if the node size
    or the pool's size is unknown."""
    node = user_node_allocatable(cluster, hub.limits)
    pool = user_pool_max_nodes(cluster, hub.limits)
    if node is None or pool is None:
        return None
    cpus, memory, node_from = node
    nodes, nodes_from = pool
    free_cpu = cpus - sum(cpu for _, cpu, _ in daemon_requests)
    free_memory = memory - sum(mem for _, _, mem in daemon_requests)
    cpu_guarantee = float(hub.user_resources.cpu.guarantee)
    memory_guarantee = byte_spec_value(hub.user_resources.memory.guarantee)
    by_cpu = math.floor(free_cpu / cpu_guarantee + 1e-9)
    by_memory = math.floor(free_memory / memory_guarantee + 1e-9)
    per_node = max(0, min(by_cpu, by_memory))
    daemons = ", ".join(name for name, _, _ in daemon_requests) or "no DaemonSets"
    explanation = (
        f"{nodes} user nodes ({nodes_from}) x {per_node} user pods per node = "
        f"{nodes * per_node}; per node: {node_from} leaves {cpus:.2f} CPUs and "
        f"{memory / GIB:.1f} GiB to pods, {daemons} request "
        f"{cpus - free_cpu:.2f} CPUs and {(memory - free_memory) / GIB:.1f} GiB, leaving "
        f"{free_cpu:.2f} CPUs / {cpu_guarantee:g} CPU guarantee = {by_cpu} pods and "
        f"{free_memory / GIB:.1f} GiB / {memory_guarantee / GIB:.2f} GiB guarantee = "
        f"{by_memory} pods"
    )
    return QuotaDerivation(nodes * per_node, nodes, nodes_from, per_node, explanation)


def plan_launch_limits(
    hub: BinderHubConfig,
    cluster: ClusterBase,
    daemon_requests: Sequence[tuple[str, float, float]],
    today: date,
) -> tuple[BinderHubConfig, list[str], QuotaDerivation | None]:
    """``hub`` with expired quota raises dropped and the derived global quota filled in
    (unless ``limits.totalPods`` is given), the warnings to log, and the derivation."""
    warnings = []
    limits = hub.limits
    active = []
    for index, raise_ in enumerate(limits.quota_raises):
        if raise_.until < today:
            warnings.append(
                f"binder:binderhub.limits.quotaRaises[{index}] ({raise_.pattern!r}, quota "
                f"{raise_.quota}) expired on {raise_.until.isoformat()} and is dropped; remove "
                "it from the stack's configuration"
            )
        else:
            active.append(raise_)
    derivation = None
    total = limits.total_pods
    if total is None:
        derivation = derive_total_quota(hub, cluster, daemon_requests)
        if derivation is not None:
            total = derivation.total
        elif not hub.auth.enabled:
            need = (
                "limits.userNodeCount and limits.userNode"
                if isinstance(cluster, ExistingCluster)
                else "limits.userNode (a user node's CPUs and memory)"
            )
            warnings.append(
                "binder:binderhub.limits: no global launch quota: the size of the user pool "
                f"is not known, so it cannot be derived; set {need}, or limits.totalPods. "
                "Without it a public Binder launches until the cluster is full and further "
                "users wait for a node that never comes"
            )
    pruned = limits.model_copy(update={"quota_raises": active, "total_pods": total})
    return hub.model_copy(update={"limits": pruned}), warnings, derivation


def quota_values(limits: LaunchLimits) -> dict[str, Any]:
    """The binderhub chart's ``config:`` for the raises and the build age, and the hub's
    ``BinderSpawner.args`` for the culling inside each server."""
    config: dict[str, Any] = {
        "KubernetesCleaner": {"max_age": limits.max_build_age_seconds},
    }
    if limits.quota_raises:
        config["RepoProvider"] = {
            "spec_config": [
                {"pattern": r.pattern, "config": {"quota": r.quota}} for r in limits.quota_raises
            ]
        }
    values: dict[str, Any] = {"config": config}
    args = culling_args(limits.idle_culling)
    if args:
        values["jupyterhub"] = {"hub": {"config": {"BinderSpawner": {"args": args}}}}
    return values


def culling_args(culling: IdleCulling) -> list[str]:
    """The user server's command-line options that cull idle kernels and stop an idle
    server. ``--NotebookApp.`` options are copied to ``--ServerApp.`` by BinderSpawnerMixin
    (for an anonymous hub); both spellings are given for an authenticated one, whose
    ``jupyterhub-singleuser`` runs jupyter_server."""
    if not culling.enabled:
        return []
    kernels = [
        f"--MappingKernelManager.cull_idle_timeout={culling.kernel_idle_seconds}",
        f"--MappingKernelManager.cull_interval={culling.check_every_seconds}",
        f"--MappingKernelManager.cull_connected={culling.cull_connected}",
    ]
    return [
        *kernels,
        f"--ServerApp.shutdown_no_activity_timeout={culling.server_idle_seconds}",
        f"--NotebookApp.shutdown_no_activity_timeout={culling.server_idle_seconds}",
    ]
