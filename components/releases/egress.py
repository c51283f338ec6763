"""Where user code may connect: one rule generator for build pods, dind and user pods.

The build policy (:mod:`components.releases.builder`) and the user pods' policy come from
:func:`egress_rules`, so they cannot drift apart:

* DNS (53/UDP+TCP) only to the internal ranges, where the cluster's resolver lives, and never
  to a cloud metadata endpoint;
* everything else only outside the internal ranges (``builder.internalNetworks``: RFC 1918,
  carrier-grade NAT, link-local), outside the metadata endpoints and outside
  ``binder:binderhub.egress.bannedCidrs``; user pods only on ``egress.tcpPorts``.

For user pods the program switches off every one of z2jh's own ``egressAllowRules`` (its
``nonPrivateIPs`` allows every port to 100.64.0.0/10 and 169.254.169.252, its
``dnsPortsPrivateIPs`` port 53 on every private address) and gives these rules as
``singleuser.networkPolicy.egress`` instead; z2jh keeps its rules to the hub and proxy
(``templates/singleuser/netpol.yaml``, ``_helpers-netpol.tpl`` of z2jh 4.2.0, the chart
BinderHub pins). mybinder.org does the same with ``egressAllowRules.nonPrivateIPs: false``
and its own ``binder-users`` policy (``mybinder/templates/netpol.yaml`` @ 95860dbc:
a port list, minus 10/8, 169.254.169.254 and banned IPs).

The optional bandwidth cap is mybinder.org's: an init container of the user pod, running as
root with ``NET_ADMIN``, puts an HTB ``tc`` qdisc on the pod's interface
(``mybinder/values.yaml`` L519-534 and ``images/tc-init/tc-init`` @ 95860dbc,
``EGRESS_BANDWIDTH: 1mbit``, ``WHITELIST_CIDR: 10.0.0.0/8``). Our script caps everything
leaving the pod except the internal ranges, so it needs only ``tc`` in the image.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Sequence
from typing import Any

from components.config.public import EgressConfig
from components.config.service import METADATA_ENDPOINT, BuilderConfig

#: Cloud metadata endpoints, denied whatever ``internalNetworks`` says: every cloud's
#: 169.254.169.254 (https://docs.openstack.org/nova/latest/user/metadata.html) and GKE's
#: metadata server for Workload Identity, 169.254.169.252:988
#: (https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#limitations).
METADATA_ENDPOINTS = (METADATA_ENDPOINT, "169.254.169.252/32")
#: IPv6 ranges that are never the internet: unique local and link-local.
INTERNAL_V6 = ("fc00::/7", "fe80::/10")
#: The user pod's init container that sets the bandwidth cap.
BANDWIDTH_CONTAINER = "egress-bandwidth"


def _within(cidrs: Sequence[str], outer: str) -> list[str]:
    # NetworkPolicy requires every `except` entry to lie inside `cidr`.
    net = ipaddress.ip_network(outer)
    return sorted(
        {c for c in cidrs if ipaddress.ip_network(c).version == net.version
         and ipaddress.ip_network(c).subnet_of(net)}  # type: ignore[arg-type]
    )


def egress_rules(
    internal_networks: Sequence[str],
    *,
    tcp_ports: Sequence[int] | None = None,
    banned: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """NetworkPolicy egress rules: DNS inside the internal ranges, and the rest of the
    internet minus the internal ranges, the metadata endpoints and ``banned``; on
    ``tcp_ports`` only if given (None: every port and protocol)."""
    internal = [ipaddress.ip_network(c) for c in internal_networks]
    metadata = [ipaddress.ip_network(c) for c in METADATA_ENDPOINTS]
    v4 = [n for n in internal if n.version == 4]
    v6 = [str(n) for n in internal if n.version == 6] + list(INTERNAL_V6)
    denied = [str(n) for n in v4] + list(METADATA_ENDPOINTS) + list(banned)
    dns_to = []
    for net in v4:
        inside = sorted(str(m) for m in metadata if m.subnet_of(net))  # type: ignore[arg-type]
        dns_to.append({"ipBlock": {"cidr": str(net)} | ({"except": inside} if inside else {})})
    rules: list[dict[str, Any]] = []
    if dns_to:
        rules.append(
            {
                "to": dns_to,
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            }
        )
    world: dict[str, Any] = {
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": _within(denied, "0.0.0.0/0")}},
            {"ipBlock": {"cidr": "::/0", "except": _within([*v6, *banned], "::/0")}},
        ]
    }
    if tcp_ports is not None:
        world["ports"] = [{"port": port, "protocol": "TCP"} for port in sorted(set(tcp_ports))]
    rules.append(world)
    return rules


def bandwidth_script(rate: str, unthrottled: Sequence[str]) -> str:
    """The init container's shell script: an HTB root qdisc whose default class is capped at
    ``rate``, and a filter per internal IPv4 range sending that traffic to an uncapped class
    (as mybinder.org's tc-init, ``images/tc-init/tc-init``)."""
    dev = "dev eth0"
    lines = [
        "set -ex",
        f"tc qdisc add {dev} root handle 1: htb default 10",
        f"tc class add {dev} parent 1: classid 1:10 htb rate {shlex.quote(rate)}",
        f"tc qdisc add {dev} parent 1:10 handle 10: sfq perturb 10",
        f"tc class add {dev} parent 1: classid 1:30 htb rate 100gbit",
        f"tc qdisc add {dev} parent 1:30 handle 30: sfq perturb 10",
    ]
    for cidr in unthrottled:
        if ipaddress.ip_network(cidr).version == 4:
            lines.append(
                f"tc filter add {dev} parent 1: prio 1 protocol ip u32 match ip dst "
                f"{shlex.quote(cidr)} flowid 1:30"
            )
    return "\n".join(lines)


def user_egress_values(builder: BuilderConfig, egress: EgressConfig) -> dict[str, Any]:
    """The ``jupyterhub.singleuser`` values of the user pods' egress and bandwidth cap."""
    singleuser: dict[str, Any] = {
        "networkPolicy": {
            "enabled": True,
            "egressAllowRules": {
                "cloudMetadataServer": False,
                "dnsPortsCloudMetadataServer": False,
                "dnsPortsKubeSystemNamespace": False,
                "dnsPortsPrivateIPs": False,
                "nonPrivateIPs": False,
                "privateIPs": False,
            },
            "egress": egress_rules(
                builder.internal_networks, tcp_ports=egress.tcp_ports, banned=egress.banned_cidrs
            ),
        }
    }
    if egress.bandwidth is not None and egress.bandwidth_image is not None:
        singleuser["initContainers"] = [
            {
                "name": BANDWIDTH_CONTAINER,
                "image": egress.bandwidth_image,
                "command": [
                    "/bin/sh",
                    "-c",
                    bandwidth_script(egress.bandwidth, builder.internal_networks),
                ],
                # tc needs NET_ADMIN in the pod's own network namespace, and root: the pod's
                # runAsUser would drop the added capability (mybinder/values.yaml L528-535).
                "securityContext": {
                    "runAsUser": 0,
                    "runAsNonRoot": False,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"memory": "64Mi"},
                },
            }
        ]
    return {"jupyterhub": {"singleuser": singleuser}}
