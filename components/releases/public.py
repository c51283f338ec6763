"""The BinderHub values of a public Binder that survives its users (issue 22), in one place for
:mod:`components.releases.binderhub`: the user pods' egress and bandwidth cap
(:mod:`components.releases.egress`), the quotas, build age and idle culling
(:mod:`components.releases.quota`), the bans (:mod:`components.releases.bans`), the BinderHub
pods (:mod:`components.releases.replicas`); the
repository providers' credentials are a secret layer (:mod:`components.releases.repo_providers`)."""

from __future__ import annotations

from typing import Any

from components.config.releases import BinderHubConfig
from components.releases import values
from components.releases.bans import ban_values
from components.releases.egress import user_egress_values
from components.releases.quota import quota_values
from components.releases.replicas import replica_values


def public_service_values(hub: BinderHubConfig) -> dict[str, Any]:
    """Layer 3 values for the user pods' egress, the quotas and the culling, the BinderHub
    pods, and the bans."""
    merged = values.merge(user_egress_values(hub.builder, hub.egress), quota_values(hub.limits))
    merged = values.merge(merged, replica_values(hub))
    return values.merge(merged, ban_values(hub.limits))
