"""Issue 22: the public-service settings (components/config/public.py), parsed without mocks:
every bad value is one message naming the setting."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.base import ConfigError
from components.config.public import MYBINDER_TCP_PORTS
from components.config.stack import parse_config
from tests.components.config.test_stack import stack_binder_config


def _with_egress(egress: dict[str, Any]) -> Any:
    raw = stack_binder_config("ebi")
    raw["binderhub"] = {**raw["binderhub"], "egress": egress}
    return parse_config(raw, "ebi")


def test_the_default_ports_are_mybinders():
    cfg = _with_egress({})
    assert cfg.binderhub is not None
    assert cfg.binderhub.egress.tcp_ports == sorted(MYBINDER_TCP_PORTS)
    assert 25 not in cfg.binderhub.egress.tcp_ports
    assert cfg.binderhub.egress.bandwidth is None


@pytest.mark.parametrize(
    ("egress", "words"),
    [
        ({"bannedCidrs": ["203.0.113.7/24"]}, "binder:binderhub.egress.bannedCidrs"),
        ({"bannedCidrs": ["evil.example.org"]}, "is not a network in CIDR notation"),
        ({"tcpPorts": [443, 70000]}, "ports must be 1-65535, not 70000"),
        ({"tcpPorts": []}, "binder:binderhub.egress.tcpPorts"),
        ({"bandwidth": "1mbit"}, "bandwidth needs bandwidthImage"),
        ({"bandwidth": "fast", "bandwidthImage": "r.example.org/t/tc:1"}, "must be a tc rate"),
        (
            {"bandwidth": "1mbit", "bandwidthImage": "r.example.org/t/tc:latest"},
            "must be an image with a tag or digest",
        ),
        ({"bandwidthImage": "r.example.org/t/tc:1"}, "set both or neither"),
        ({"bandwith": "1mbit"}, "binder:binderhub.egress.bandwith: unknown key"),
    ],
)
def test_bad_egress_settings_are_refused_by_name(egress: dict[str, Any], words: str):
    with pytest.raises(ConfigError) as info:
        _with_egress(egress)
    message = str(info.value)
    assert words in message
    assert "Traceback" not in message
    assert "binder:binderhub.egress" in message


def test_banned_cidrs_are_normalised():
    cfg = _with_egress({"bannedCidrs": ["203.0.113.0/24", "2001:DB8::/32"]})
    assert cfg.binderhub is not None
    assert cfg.binderhub.egress.banned_cidrs == ["203.0.113.0/24", "2001:db8::/32"]
