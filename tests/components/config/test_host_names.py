"""Host names (binder, hub, Grafana, logging): lowercase RFC 1123 DNS names (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest

from components.config.base import DNS_SUBDOMAIN, host_name_problem
from tests.k8s_validate import schema_version


@pytest.mark.parametrize(
    "host",
    ["binder.example.org", "hub.binder.127.0.0.1.nip.io", "a", "x1-2.example", "a" * 63 + ".org"],
)
def test_dns_names_are_accepted_and_are_kubernetes_subdomains(host: str) -> None:
    assert host_name_problem(host) is None
    assert DNS_SUBDOMAIN.match(host), "Kubernetes' IsDNS1123Subdomain must accept it too"


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("binder ebi!", "is not a DNS label"),
        ("binder.example.org/grafana", "without a path"),
        ("https://binder.example.org", "without the scheme 'https://'"),
        ("binder.example.org:443", "without a port"),
        ("Binder.example.org", "must be lowercase: write 'binder.example.org'"),
        ("binder.example.org.", "must not end with a '.'"),
        ("10.0.0.7", "not an IP address"),
        ("::1", "not an IP address"),
        ("a..b", "has an empty part"),
        ("-a.example.org", "is not a DNS label"),
        ("a_b.example.org", "is not a DNS label"),
        ("a" * 64 + ".org", "longer than 63 characters"),
        (".".join(["a" * 63] * 4) + ".org", "of 1 to 253 characters"),
        ("", "of 1 to 253 characters"),
        ('es.example.org" scheme http', "is not a DNS label"),
        ("es.example.org\n  ssl_verify false", "is not a DNS label"),
        ("#{`id`}.example.org", "is not a DNS label"),
    ],
)
def test_anything_else_is_refused_with_the_reason(host: str, words: str) -> None:
    problem = host_name_problem(host)
    assert problem is not None
    assert words in problem


def test_the_logging_host_may_be_an_ip_address_and_names_its_port_setting() -> None:
    assert host_name_problem("10.0.0.7", allow_ip=True) is None
    problem = host_name_problem("es.example.org:9200", allow_ip=True, port_in="`port`")
    assert problem is not None
    assert "set it in `port`" in problem


def test_the_ingress_host_rules_we_rely_on_are_the_api_s() -> None:
    """Pins what the Ingress API says of spec.rules[].host, in the schemas of the Kubernetes
    version we validate against: no IP, no port, no terminating dot."""
    version = schema_version("1.33")
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    rule = json.loads(
        (schemas / f"v{version}-local-strict" / "ingressrule-networking-v1.json").read_text()
    )
    text = rule["properties"]["host"]["description"]
    assert "IPs are not allowed" in text
    assert "ports are not allowed" in text
    assert "without the terminating dot" in text
