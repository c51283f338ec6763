"""How GKE may upgrade a cluster: the weekly maintenance window and each pool's surge
upgrades (``binder:cluster.maintenanceWindow``, ``corePool.upgrade``/``userPool.upgrade``).
Moved out of :mod:`components.config.cluster` to keep that module small; re-exported there."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import Field, model_validator

from components.config.base import Model

__all__ = ["GkeMaintenanceWindow", "GkeUpgrade"]


class GkeUpgrade(Model):
    """How GKE upgrades a pool's nodes: surge upgrades, a new node before an old one is
    drained by default, so capacity never drops during an upgrade.
    https://cloud.google.com/kubernetes-engine/docs/concepts/node-pool-upgrade-strategies"""

    max_surge: int = Field(default=1, ge=0, le=100)
    """Extra nodes GKE may create at once during an upgrade."""
    max_unavailable: int = Field(default=0, ge=0, le=100)
    """Nodes that may be drained at once without a replacement ready."""

    @model_validator(mode="after")
    def _moves(self) -> GkeUpgrade:
        if self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError(
                "maxSurge and maxUnavailable are both 0, so GKE could never upgrade a node; "
                "give maxSurge 1 (a new node first) or maxUnavailable 1"
            )
        return self


_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class GkeMaintenanceWindow(Model):
    """When GKE may upgrade the control plane and the nodes (drains happen then): a weekly
    window in UTC. GKE requires at least 48 hours of maintenance availability in any 32 days,
    counting only windows of at least 4 hours, and reads weekday recurrences in UTC.
    https://cloud.google.com/kubernetes-engine/docs/how-to/maintenance-window"""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    """Start time of day in UTC, ``HH:MM``."""
    hours: int = Field(ge=4, le=24)
    """Length of each window (GKE only counts windows of at least 4 hours)."""
    days: list[Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]] = Field(min_length=1)
    """Days the window starts on (UTC), RFC 5545 ``BYDAY`` names."""

    @model_validator(mode="after")
    def _enough(self) -> GkeMaintenanceWindow:
        # Any 32 days hold each weekday at least 4 times.
        available = 4 * len(set(self.days)) * self.hours
        if available < 48:
            raise ValueError(
                f"{len(set(self.days))} day(s) of {self.hours} hours give {available} hours of "
                "maintenance in some 32-day spans; GKE requires at least 48: add days or hours"
            )
        return self

    @property
    def recurrence(self) -> str:
        days = ",".join(d for d in _WEEKDAYS if d in self.days)
        return f"FREQ=WEEKLY;BYDAY={days}"

    def times(self) -> tuple[str, str]:
        """RFC 3339 start and end of the first window; GKE repeats it by :attr:`recurrence`.
        Anchored on a fixed past day, so the stack's inputs never change with the calendar."""
        hour, minute = (int(x) for x in self.start.split(":"))
        start = datetime.datetime(2025, 1, 6, hour, minute, tzinfo=datetime.UTC)
        end = start + datetime.timedelta(hours=self.hours)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return start.strftime(fmt), end.strftime(fmt)
