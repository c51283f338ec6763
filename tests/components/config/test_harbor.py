"""Issue 21 item 8: ``binder:harbor`` (components/config/harbor.py), parsed without mocks:
off by default, and every bad value is one message naming the setting."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.base import ConfigError
from components.config.harbor import schedule_problem
from components.config.stack import parse_config
from tests.components.config.test_stack import stack_binder_config


def _with_harbor(harbor: dict[str, Any]) -> Any:
    raw = stack_binder_config("ebi")
    raw["harbor"] = harbor
    return parse_config(raw, "ebi")


def test_off_by_default_on_every_stack_file():
    for stack in ("ebi", "gcp", "local"):
        assert parse_config(stack_binder_config(stack), stack).harbor.enabled is False


def test_the_defaults_are_mybinders():
    cfg = _with_harbor({"enabled": True, "hostname": "registry.binder.example.org"})
    # mybinder.org-deploy terraform/modules/harbor/main.tf @ 0e7f826c.
    assert cfg.harbor.retention_days == 30
    assert cfg.harbor.retention_push_days == 7
    assert cfg.harbor.retention_schedule == "0 0 7 * * 6"
    assert cfg.harbor.gc_schedule == "0 0 7 * * 0"
    assert cfg.harbor.quota_gb * 10**9 < 200 * 2**30


@pytest.mark.parametrize(
    ("harbor", "words"),
    [
        ({"enabled": True}, "enabled: true needs a hostname"),
        ({"hostname": "https://registry.example.org"}, "binder:harbor.hostname"),
        ({"gcSchedule": "0 3 * * 6"}, "six fields, seconds first"),
        ({"retentionSchedule": "sometimes"}, "binder:harbor.retentionSchedule"),
        ({"retentionDays": 0}, "binder:harbor.retentionDays"),
        ({"storageSize": "100Gi", "quotaGb": 200}, "quotaGb 200 does not fit in storageSize"),
        ({"storageSize": "lots"}, "is not a Kubernetes quantity"),
        ({"retention": 30}, "binder:harbor.retention"),
    ],
)
def test_bad_values_are_named(harbor, words):
    with pytest.raises(ConfigError) as caught:
        _with_harbor(harbor)
    assert words in str(caught.value)


@pytest.mark.parametrize("good", ["Daily", "Weekly", "Hourly", "0 0 3 * * 6", "0 */30 * * * *"])
def test_harbor_schedules(good):
    assert schedule_problem(good) is None


@pytest.mark.parametrize("bad", ["daily-ish", "0 3 * * 6", "", "0 0 3 * * 6 2026"])
def test_not_harbor_schedules(bad):
    assert schedule_problem(bad) is not None
