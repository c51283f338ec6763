"""tools/tls_production: switch to the production issuer only once every name resolves."""

from __future__ import annotations

import io

from tools.tls_production import main, unresolved

HOSTS = ["binder.example.org", "hub.binder.example.org"]
OUTPUTS = {"public_hosts": HOSTS, "public_address": "203.0.113.80"}


def fake_dns(table: dict[str, set[str]]):
    return lambda host: table.get(host, set())


def test_every_name_must_resolve_to_the_address() -> None:
    dns = fake_dns(
        {"binder.example.org": {"203.0.113.80"}, "hub.binder.example.org": {"192.0.2.9"}}
    )
    assert unresolved(HOSTS, "203.0.113.80", dns) == [
        "hub.binder.example.org resolves to 192.0.2.9, not 203.0.113.80"
    ]
    assert unresolved(["x.example.org"], "203.0.113.80", dns) == [
        "x.example.org does not resolve (create its A record: 203.0.113.80)"
    ]


def test_a_load_balancer_hostname_is_resolved_too() -> None:
    dns = fake_dns({"lb.example.net": {"198.51.100.7"}, "binder.example.org": {"198.51.100.7"}})
    assert unresolved(["binder.example.org"], "lb.example.net", dns) == []


def test_switches_only_when_dns_is_ready() -> None:
    calls: list[str] = []
    out = io.StringIO()

    def setter(stack: str) -> int:
        calls.append(stack)
        return 0

    code = main(
        ["ebi"], outputs=lambda s: (OUTPUTS, None), setter=setter, out=out,
        resolver=fake_dns({"binder.example.org": {"203.0.113.80"}}),
    )
    assert code == 1
    assert calls == []
    assert "hub.binder.example.org does not resolve" in out.getvalue()

    ready = fake_dns({h: {"203.0.113.80"} for h in HOSTS})
    code = main(["ebi"], outputs=lambda s: (OUTPUTS, None), setter=setter, out=out,
                resolver=ready)
    assert code == 0
    assert calls == ["ebi"]
    assert "make up STACK=ebi" in out.getvalue()


def test_unreadable_outputs_stop_unless_forced() -> None:
    calls: list[str] = []
    out = io.StringIO()

    def setter(stack: str) -> int:
        calls.append(stack)
        return 0

    code = main(["gcp"], outputs=lambda s: ({}, "the Pulumi CLI is not installed"),
                setter=setter, out=out)
    assert code == 2
    assert calls == []
    assert "--force" in out.getvalue()
    assert main(["gcp", "--force"], setter=setter, out=out) == 0
    assert calls == ["gcp"]
