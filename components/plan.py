"""The plan: one pure step from the stack's configuration to everything the components need.

:func:`build_plan` reads the ``binder:`` configuration, the values files of the enabled
releases, the cluster's inputs (a kubeconfig, or a cloud project and location) and the secret
material (SOPS files and config secrets, each value a secret ``Output`` at once, never
plaintext), and checks them together. Every :class:`~components.config.base.ConfigError` (and
:class:`~components.secrets.sops.SecretsError`) of the program is raised here, once, before any
resource is registered. The components then take their part of the frozen :class:`Plan` and
only build resources; they do not check it again.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pulumi

from components.access.reach import check_access
from components.cluster.kubeconfig import ClusterInputs, read_cluster_inputs
from components.config.base import ConfigError
from components.config.kubernetes_versions import version_warning
from components.config.stack import StackConfig, load_config
from components.network.plan import NetworkPlan, plan_network
from components.releases.plan import (
    ReleasesPlan,
    check_release_secrets,
    plan_registry_target,
    plan_releases,
)
from components.secrets.material import SecretMaterial, load_secret_material

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """Everything the program builds from, validated."""

    stack: str
    """The stack's name."""
    config: StackConfig
    """The ``binder:`` configuration (frozen, unknown keys refused)."""
    cluster: ClusterInputs
    """What the cluster component needs beyond its config (kubeconfig, GCP project)."""
    secrets: SecretMaterial
    """The given secrets, each a secret ``Output``; missing tokens are generated later."""
    releases: ReleasesPlan
    """The releases' settings and their values files, read and checked."""
    network: NetworkPlan
    """The public entry point: its address, client IPs, DNS records."""


def _today() -> datetime.date:
    """The day the plan runs (a function, so tests can fix it)."""
    return datetime.date.today()


def build_plan(
    stack: str | None = None,
    *,
    values_root: Path | None = None,
    today: datetime.date | None = None,
) -> Plan:
    """The current stack's plan, or the first ConfigError/SecretsError that stops it.

    Checks run from the cheapest to the one that runs sops: the configuration, who may reach
    what (the access rules across namespaces, the deployer and users), the release settings
    and values files, the cluster's inputs and public entry point, the secret
    material, and last what needs a secret (the release settings, then the registry target,
    which depends on whether an account was given).

    ``today`` (default: the machine's date) is only used to warn about a Kubernetes version
    past its end of life (:mod:`components.config.kubernetes_versions`); tests pass a fixed
    day.
    """
    stack = stack or pulumi.get_stack()
    cfg = load_config()
    eol = version_warning(cfg.cluster.kubernetes_version, today or _today())
    if eol:
        pulumi.log.warn(eol)
    # Who may reach what, the releases and the cluster's inputs are independent of each
    # other: one run reports the problems of all three (issue 20), not only the first.
    problems: list[str] = []

    def checked(check: Callable[[], T]) -> T | None:
        try:
            return check()
        except ConfigError as exc:
            problems.append(str(exc))
            return None

    checked(lambda: check_access(cfg, stack))
    planned = checked(lambda: plan_releases(cfg, stack, values_root=values_root))
    inputs = checked(lambda: read_cluster_inputs(cfg.cluster))
    if problems or planned is None or inputs is None:
        raise ConfigError("\n".join(problems))
    releases, cluster = planned, inputs
    network = plan_network(cfg, cluster)
    material = load_secret_material(cfg)
    check_release_secrets(releases, material)
    releases = plan_registry_target(releases, cluster, material)
    pulls = releases.dockerhub_pulls
    if pulls is not None and pulls.via == "anonymous":
        pulumi.log.warn(
            "binder:registry.allowAnonymousDockerHub: the cluster pulls its Docker Hub images "
            "without an account, which Docker Hub limits per address; fine for a cluster of "
            "your own, not for a shared or public one."
        )
    return Plan(
        stack=stack,
        config=cfg,
        cluster=cluster,
        secrets=material,
        releases=releases,
        network=network,
    )
