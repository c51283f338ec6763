"""Issue 22, item 2: where a user pod may connect, read from every rendered NetworkPolicy that
selects user pods (z2jh's ``singleuser`` policy and any other), for every rendered case.

A user pod carries the labels KubeSpawner and z2jh give it (``component: singleuser-server``,
``app``/``release`` from z2jh's ``jupyterhub.matchLabels``, and ``singleuser.extraLabels``:
z2jh files/hub/jupyterhub_config.py). Kubernetes allows an egress connection when a policy
selecting the pod has a rule whose ports and peers both match
(https://kubernetes.io/docs/concepts/services-networking/network-policies/). Peers given by
pod or namespace selector name particular pods (the hub, the proxy): the probes here are
addresses, so only ``ipBlock`` peers (and rules without peers) can match them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import pytest

from components.config.public import MYBINDER_TCP_PORTS
from components.releases.egress import BANDWIDTH_CONTAINER, METADATA_ENDPOINTS
from tests.rendered.objects import Index, Obj, labels_match
from tests.rendered.support import CASES, Case, rendered, require_chart_data


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def user_pod_labels(index: Index) -> dict[str, str]:
    binderhub = index.release("binderhub")
    values = index.hub_values()
    labels = {
        "app": "jupyterhub",
        "release": binderhub.name,
        "component": "singleuser-server",
        "heritage": "jupyterhub",
    }
    labels.update({k: str(v) for k, v in (values["singleuser"].get("extraLabels") or {}).items()})
    return labels


def user_policies(index: Index) -> list[Obj]:
    ns = index.release("binderhub").namespace
    labels = user_pod_labels(index)
    return [
        o for o in index.all
        if o.kind == "NetworkPolicy" and o.namespace == ns
        and labels_match(o.body["spec"].get("podSelector") or {}, labels)
        and "Egress" in (o.body["spec"].get("policyTypes") or [])
    ]


def _peer_has(peer: Mapping[str, Any], address: str) -> bool:
    block = peer.get("ipBlock")
    if block is None:
        return False  # a pod/namespace selector: particular pods, not an address
    ip = ipaddress.ip_address(address)
    net = ipaddress.ip_network(block["cidr"])
    if ip.version != net.version or ip not in net:
        return False
    return not any(ip in ipaddress.ip_network(c) for c in block.get("except") or [])


def _port_has(entry: Mapping[str, Any], port: int, protocol: str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    if "port" not in entry:
        return True
    first, last = _range(entry)
    return first <= port <= last


def _range(entry: Mapping[str, Any]) -> tuple[int, int]:
    # Raw objects come through the engine's protobuf Struct, where numbers are floats.
    first = entry["port"]
    assert isinstance(first, int | float), f"a named port in an egress rule: {entry}"
    assert first == int(first), entry
    return int(first), int(entry.get("endPort", first))


def allows(policies: list[Obj], address: str, port: int, protocol: str = "TCP") -> bool:
    assert policies, "no NetworkPolicy restricts the user pods' egress"
    for policy in policies:
        for rule in policy.body["spec"].get("egress") or []:
            ports = rule.get("ports")
            if ports and not any(_port_has(p, port, protocol) for p in ports):
                continue
            peers = rule.get("to")
            if not peers or any(_peer_has(peer, address) for peer in peers):
                return True
    return False


def open_tcp_ports(policies: list[Obj], address: str) -> set[int] | None:
    """The TCP ports ``address`` may be reached on; None: every port."""
    found: set[int] = set()
    for policy in policies:
        for rule in policy.body["spec"].get("egress") or []:
            peers = rule.get("to")
            if peers and not any(_peer_has(peer, address) for peer in peers):
                continue
            ports = rule.get("ports")
            if not ports:
                return None
            for entry in ports:
                if entry.get("protocol", "TCP") != "TCP":
                    continue
                if "port" not in entry:
                    return None
                first, last = _range(entry)
                found.update(range(first, last + 1))
    return found


#: Addresses no user pod may reach on any port: private (RFC 1918), carrier-grade NAT, the
#: metadata endpoints (every cloud's, GKE's Workload Identity server), link-local, IPv6 ULA.
NEVER = (
    "10.0.0.1", "10.96.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "100.127.255.254",
    "169.254.169.254", "169.254.169.252", "169.254.20.10", "fd00::1", "fe80::1",
)
PUBLIC = ("8.8.8.8", "140.82.112.3", "2606:4700::1111")


def test_user_pods_reach_the_internet_only_on_the_allowed_ports(index: Index) -> None:
    policies = user_policies(index)
    hub = index.case.cfg.binderhub
    assert hub is not None
    for address in PUBLIC:
        assert open_tcp_ports(policies, address) == set(hub.egress.tcp_ports), address
        assert not allows(policies, address, 53, "UDP"), address
    # mybinder.org's list by default; SMTP and SSH never.
    assert set(hub.egress.tcp_ports) == set(MYBINDER_TCP_PORTS)
    for port in (22, 25, 465, 587, 3389, 6667):
        assert not allows(policies, "8.8.8.8", port), port


def test_user_pods_never_reach_internal_ranges_or_metadata(index: Index) -> None:
    policies = user_policies(index)
    for address in NEVER:
        for port in (80, 443, 988, 8080, 9418, 10250):
            assert not allows(policies, address, port), f"{address}:{port}"
    # DNS only to the cluster's resolver inside the internal ranges, never to metadata.
    assert allows(policies, "10.96.0.10", 53, "UDP")
    for cidr in METADATA_ENDPOINTS:
        address = cidr.split("/")[0]
        assert not allows(policies, address, 53, "UDP"), address
        assert not allows(policies, address, 53, "TCP"), address
    assert not allows(policies, "8.8.8.8", 53, "UDP")


def test_z2jh_own_broad_rules_are_off(index: Index) -> None:
    """z2jh's nonPrivateIPs would allow every port to 100.64.0.0/10 and 169.254.169.252:
    every egressAllowRules switch is off and our rules come in through `egress`."""
    rules = index.hub_values()["singleuser"]["networkPolicy"]["egressAllowRules"]
    assert rules
    assert not any(rules.values()), rules


def test_banned_destinations_are_unreachable_for_users_and_builds(index: Index) -> None:
    hub = index.case.cfg.binderhub
    assert hub is not None
    banned = hub.egress.banned_cidrs
    if index.case.case.id == "local-all-on":
        assert banned, "the case that exercises bans has none"
    ns = index.release("binderhub").namespace
    [build_policy] = [
        o for o in index.raw if o.kind == "NetworkPolicy" and o.name == "binder-build-egress"
    ]
    for cidr in banned:
        address = str(ipaddress.ip_network(cidr)[-1])
        for port in (80, 443, 9418):
            assert not allows(user_policies(index), address, port), f"user -> {address}:{port}"
            assert not allows([build_policy], address, port), f"build -> {address}:{port}"
    assert build_policy.namespace == ns
    # Builds keep every port to the internet, minus the same internal ranges.
    assert open_tcp_ports([build_policy], "8.8.8.8") is None
    for address in NEVER:
        assert not allows([build_policy], address, 443), address


def test_the_bandwidth_cap_is_an_init_container_when_asked(index: Index) -> None:
    hub = index.case.cfg.binderhub
    assert hub is not None
    init = {c["name"]: c for c in index.hub_values()["singleuser"].get("initContainers") or []}
    if hub.egress.bandwidth is None:
        assert BANDWIDTH_CONTAINER not in init
        return
    container = init[BANDWIDTH_CONTAINER]
    assert container["image"] == hub.egress.bandwidth_image
    script = container["command"][-1]
    assert f"htb rate {hub.egress.bandwidth}" in script
    assert "match ip dst 10.0.0.0/8 flowid 1:30" in script  # the cluster is not capped
    assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]
    # NET_ADMIN is beyond `baseline`: the namespace admits it only at `privileged`.
    ns = index.release("binderhub").namespace
    [namespace] = [o for o in index.raw if o.kind == "Namespace" and o.name == ns]
    labels = namespace.body["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
