"""``binder:harbor``: a Harbor registry the program runs in the cluster, for the images
BinderHub builds, with retention -- the route for stacks without Artifact Registry (``ebi``,
partner sites), where Docker Hub keeps every pushed image forever.

mybinder.org's federation runs Harbor the same way (mybinder.org-deploy
``terraform/modules/harbor/main.tf`` @ 0e7f826c, see ../shared/notes/operators.md): one
project with a storage quota, a robot account that pushes (``builder``) and one that pulls
(``user-puller``), a retention policy that keeps images pulled in the last 30 days or pushed
in the last 7 (Saturdays 07:00), and garbage collection on Sundays 07:00. Our defaults are
those.
The release is :mod:`components.releases.harbor`.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from components.config.base import DnsLabel, Model, Quantity, host_name_problem

#: Harbor's schedules are its own cron: six fields, seconds first (``"0 5 4 * * *"``), or a
#: word. The provider's GarbageCollection and RetentionPolicy docs
#: (pulumiverse-harbor 3.10.21, ``garbage_collection.py`` / ``retention_policy.py``:
#: "Can be to "hourly", "daily", "weekly" or can be a custom cron string ie, "0 5 4 * * *"");
#: Harbor's scheduler parses it with robfig/cron's seconds-first parser
#: (https://github.com/goharbor/harbor/blob/v2.15.1/src/pkg/scheduler/scheduler.go).
SCHEDULE_WORDS = ("Hourly", "Daily", "Weekly")
_CRON_FIELD = r"[0-9*/,?-]+"
_CRON6 = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{5}}$")


def schedule_problem(value: str) -> str | None:
    """What is wrong with a Harbor schedule, in words; ``None`` if nothing."""
    if value in SCHEDULE_WORDS or _CRON6.match(value):
        return None
    fields = len(value.split())
    hint = (
        " (Harbor's cron has six fields, seconds first: put '0 ' in front of a five-field one)"
        if fields == 5
        else ""
    )
    return (
        f"'{value}' is not a Harbor schedule: use {', '.join(SCHEDULE_WORDS)} or a six-field "
        f"cron such as '0 0 3 * * 6' (Saturdays at 03:00){hint}"
    )


class HarborConfig(Model):
    """``binder:harbor``: run Harbor in the cluster and push BinderHub's images there."""

    enabled: bool = False
    """Off by default: Harbor is five more Deployments/StatefulSets and a volume to run."""
    hostname: str | None = None
    """Public host name of Harbor, e.g. ``registry.binder.example.org``: the nodes pull user
    images from it over HTTPS (its Ingress, a certificate from cert-manager)."""
    project: DnsLabel = "binder"
    """The Harbor project BinderHub pushes to (``<hostname>/<project>/<prefix><repo>``)."""
    storage_size: Quantity = "200Gi"
    """Size of the registry's volume (the chart's ``persistence.persistentVolumeClaim.registry
    .size``)."""
    quota_gb: int = Field(default=150, ge=1)
    """The project's storage quota in GB; pushes fail beyond it. Keep it below the volume
    (``storageSize``) so that the disk never fills before the quota."""
    retention_days: int = Field(default=30, ge=1)
    """Images not pulled for this many days are deleted (mybinder.org: 30). A rebuild costs
    one build."""
    retention_push_days: int = Field(default=7, ge=1)
    """...unless pushed within this many days (mybinder.org: 7), so a fresh build survives."""
    retention_schedule: str = "0 0 7 * * 6"
    """When the retention policy runs (a Harbor schedule); Saturdays 07:00, as mybinder.org."""
    gc_schedule: str = "0 0 7 * * 0"
    """When garbage collection frees the deleted images' blobs (a Harbor schedule, six-field
    cron, seconds first); Sundays 07:00, a day after retention, as mybinder.org."""

    @field_validator("hostname")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        problem = host_name_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("gc_schedule", "retention_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        problem = schedule_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _complete(self) -> HarborConfig:
        if self.enabled and self.hostname is None:
            raise ValueError(
                "enabled: true needs a hostname, e.g. 'registry.binder.example.org': the "
                "nodes pull the built images from it"
            )
        if self.quota_gb * 10**9 >= _bytes(self.storage_size):
            raise ValueError(
                f"quotaGb {self.quota_gb} does not fit in storageSize {self.storage_size}: "
                "the volume would fill before the quota stops pushes; raise storageSize or "
                "lower quotaGb"
            )
        return self


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


def _bytes(quantity: str) -> float:
    """A storage quantity in bytes (the binary and decimal suffixes a volume size uses)."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", quantity)
    if match is None or match.group(2) not in _UNITS:
        return float("inf")  # an exotic quantity: the API server judges it, not this check
    return float(match.group(1)) * _UNITS[match.group(2)]
