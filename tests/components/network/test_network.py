"""The public entry point per stack: the address the stack owns and where it is wired, the
PROXY protocol and traffic policy per provider, Dataplane V2, DNS records or the
``dns_records`` output; and the bad combinations, refused by the plan."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.config.magnum_drivers import CAPI_HELM_CHARTS
from components.network.plan import PROXY_PROTOCOL_VALUE, external_traffic_policy
from tests.chart_data import release_problems
from tests.release_fixtures import release_of, user_values
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording, run_stack

FIP = "openstack:networking/floatingIp:FloatingIp"
GCP_ADDRESS = "gcp:compute/address:Address"
GCP_RECORD = "gcp:dns/recordSet:RecordSet"
OS_RECORD = "openstack:dns/recordSet:RecordSet"
HOSTS = {
    stack: [f"binder.{stack}.example.org", f"hub.binder.{stack}.example.org",
            f"grafana.binder.{stack}.example.org"]
    for stack in ("ebi", "gcp")
}


@pytest.fixture(scope="module")
def ebi() -> Recording:
    return recorded_stack("ebi")


@pytest.fixture(scope="module")
def gcp() -> Recording:
    return recorded_stack("gcp")


def traefik(rec: Recording) -> dict[str, Any]:
    return user_values(release_of(rec, charts.TRAEFIK))


def test_ebi_owns_a_floating_ip_given_to_traefiks_load_balancer(ebi: Recording) -> None:
    fip = ebi.one(FIP)
    assert fip.inputs["pool"] == "ext-net-37"
    assert fip.protect  # kept across `pulumi destroy` by accident, like the cluster
    values = traefik(ebi)
    assert values["service"]["spec"]["loadBalancerIP"] == "203.0.113.80"
    release = release_of(ebi, charts.TRAEFIK)
    assert fip.urn in release.property_dependencies.get("values", []) or fip.urn in (
        release.dependencies
    )
    assert values["service"]["annotations"]["loadbalancer.openstack.org/keep-floatingip"] == (
        "true"
    )


def test_ebi_proxy_protocol_octavia_to_traefik_trusting_the_node_subnet(ebi: Recording) -> None:
    values = traefik(ebi)
    annotations = values["service"]["annotations"]
    assert annotations["loadbalancer.openstack.org/proxy-protocol"] == "true"
    # Local needs a health monitor on the Octavia pool; the Service asks for it.
    assert annotations["loadbalancer.openstack.org/enable-health-monitor"] == "true"
    # No hostname detour: Traefik accepts header-less in-cluster connections, and the
    # Service's status keeps the floating IP (the ingress_address output).
    assert "loadbalancer.openstack.org/hostname" not in annotations
    for port in ("web", "websecure"):
        assert values["ports"][port]["proxyProtocol"]["trustedIPs"] == ["10.0.0.0/24"]
    # HTTPS redirection still there beside it.
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"
    assert release_problems(charts.TRAEFIK, values) == []


def test_the_proxy_protocol_value_is_one_every_shipped_occm_accepts() -> None:
    # OCCM before chart 2.31.0 reads the annotation as a boolean ("v1" would mean off);
    # since, "true" and "v1" both mean PROXY (components/config/magnum_drivers.py).
    for chart in CAPI_HELM_CHARTS.values():
        assert PROXY_PROTOCOL_VALUE in chart.occm_proxy_protocol_values, chart.version


# ---- which client address Traefik logs -----------------------------------------------
#
# A model of the path from the client to Traefik, from the upstream sources it cites:
# * Octavia (amphora) opens its own connection to the node, from its port on the nodes'
#   subnet, with the PROXY header carrying the client's address;
# * kube-proxy: with externalTrafficPolicy Cluster it masquerades external traffic and may
#   forward it to Traefik on another node -- then the source becomes that node's Calico VXLAN
#   tunnel address, taken from the pods' range; with Local it sends only to a local Traefik
#   and keeps the source (https://kubernetes.io/docs/tasks/access-application-cluster/create-external-load-balancer/#preserving-the-client-source-ip);
# * Traefik: the header's address if the source is in trustedIPs (USE), else the header is
#   ignored (IGNORE) and the source is logged; a connection without a header is served
#   with its source (only go-proxyproto's REQUIRE would refuse it). See
#   components/releases/ingress.py for the links.
CLIENT = "198.51.100.7"
OCTAVIA = "10.0.0.50"  # the amphora's port on the nodes' subnet (fixed_subnet_cidr)
NODE = "10.0.0.11"
TUNNEL = "172.16.33.0"  # a node's vxlan.calico address, from capi-helm's pods range
POD = "172.16.40.9"


def traefik_logs(
    policy: str, trusted: list[str], *, traefik_elsewhere: bool, header: bool = True,
    source: str = OCTAVIA,
) -> str:
    """The client address Traefik logs for one connection."""
    if policy == "Cluster" and source == OCTAVIA:
        source = TUNNEL if traefik_elsewhere else NODE
    if header and any(ipaddress.ip_address(source) in ipaddress.ip_network(t) for t in trusted):
        return CLIENT
    return source


def test_which_client_address_traefik_logs(ebi: Recording) -> None:
    values = traefik(ebi)
    policy = values["service"]["spec"]["externalTrafficPolicy"]
    trusted = values["ports"]["websecure"]["proxyProtocol"]["trustedIPs"]
    pods = CAPI_HELM_CHARTS["0.27.0"].pods_cidr
    assert ipaddress.ip_address(TUNNEL) in ipaddress.ip_network(pods)
    # ebi as planned (Local, the nodes' subnet trusted): the client, whichever node.
    for elsewhere in (False, True):
        assert traefik_logs(policy, trusted, traefik_elsewhere=elsewhere) == CLIENT
    # What Cluster did before (issue 21): the client only where Traefik runs on the node
    # Octavia picked; elsewhere the tunnel address.
    assert traefik_logs("Cluster", trusted, traefik_elsewhere=False) == CLIENT
    assert traefik_logs("Cluster", trusted, traefik_elsewhere=True) == TUNNEL
    # ...unless the pods' range were trusted too, which lets any pod forge its address.
    assert traefik_logs("Cluster", [*trusted, pods], traefik_elsewhere=True) == CLIENT
    # An in-cluster client short-cut by kube-proxy: no header, served, logged as itself.
    assert traefik_logs(policy, trusted, traefik_elsewhere=False, header=False, source=POD) == POD
    # A pod that sends a forged header is not trusted: its own address is logged.
    assert traefik_logs(policy, trusted, traefik_elsewhere=False, source=POD) == POD


def test_gcp_reserves_a_regional_static_ip_for_traefik(gcp: Recording) -> None:
    address = gcp.one(GCP_ADDRESS)
    assert address.inputs["region"] == "europe-west1"
    assert address.inputs["addressType"] == "EXTERNAL"
    assert address.inputs["project"] == "bioexcel-binder"
    values = traefik(gcp)
    assert values["service"]["spec"]["loadBalancerIP"] == "203.0.113.90"
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"
    assert "annotations" not in values["service"]
    assert "proxyProtocol" not in values.get("ports", {}).get("web", {})
    assert release_problems(charts.TRAEFIK, values) == []


def test_gke_dataplane_v2_by_default(gcp: Recording) -> None:
    cluster = gcp.one("gcp:container/cluster:Cluster")
    assert cluster.inputs["datapathProvider"] == "ADVANCED_DATAPATH"


def test_traffic_policy_per_provider() -> None:
    assert external_traffic_policy("gke", False) == "Local"
    assert external_traffic_policy("magnum", True) == "Local"
    assert external_traffic_policy("magnum", False) == "Local"
    assert external_traffic_policy("existing", False) is None  # the values files decide


@pytest.mark.parametrize("stack", ["ebi", "gcp"])
def test_without_binder_dns_the_records_are_an_output(
    stack: str, ebi: Recording, gcp: Recording
) -> None:
    rec = {"ebi": ebi, "gcp": gcp}[stack]
    ip = {"ebi": "203.0.113.80", "gcp": "203.0.113.90"}[stack]
    assert rec.outputs["dns_records"] == [
        {"name": host, "type": "A", "value": ip} for host in HOSTS[stack]
    ]
    assert rec.of_type(GCP_RECORD) == []
    assert rec.of_type(OS_RECORD) == []


def test_local_lists_records_for_the_service_address() -> None:
    rec = recorded_stack("local")
    assert rec.of_type(FIP) == []
    assert rec.of_type(GCP_ADDRESS) == []
    assert [r["value"] for r in rec.outputs["dns_records"]] == ["198.51.100.7"] * 2


def test_cloud_dns_records_for_each_host() -> None:
    rec = run_stack(
        "gcp", overrides={"binder:dns": {"zone": "binder-zone", "domain": "gcp.example.org"}}
    )
    records = rec.of_type(GCP_RECORD)
    assert sorted(r.inputs["name"] for r in records) == sorted(f"{h}." for h in HOSTS["gcp"])
    address = rec.one(GCP_ADDRESS)
    for record in records:
        assert record.inputs["managedZone"] == "binder-zone"
        assert record.inputs["type"] == "A"
        assert record.inputs["rrdatas"] == ["203.0.113.90"]
        assert address.urn in record.property_dependencies["rrdatas"]
    assert "dns_records" not in rec.outputs


def test_designate_records_for_each_host() -> None:
    rec = run_stack(
        "ebi", overrides={"binder:dns": {"zone": "8f1c-zone-id", "domain": "ebi.example.org"}}
    )
    records = rec.of_type(OS_RECORD)
    assert sorted(r.inputs["name"] for r in records) == sorted(f"{h}." for h in HOSTS["ebi"])
    for record in records:
        assert record.inputs["zoneId"] == "8f1c-zone-id"
        assert record.inputs["records"] == ["203.0.113.80"]


OVN_CLUSTER_CHANGE = {"octavia_provider": "ovn"}


def _ebi_with_labels(**labels: str) -> dict[str, Any]:
    from tests.components.config.test_stack import stack_binder_config

    cluster = stack_binder_config("ebi")["cluster"]
    cluster["template"]["labels"].update(labels)
    return cluster


def test_ovn_gets_no_proxy_protocol_and_keeps_local_policy() -> None:
    rec = run_stack("ebi", overrides={"binder:cluster": _ebi_with_labels(octavia_provider="ovn")})
    values = traefik(rec)
    assert "loadbalancer.openstack.org/proxy-protocol" not in values["service"]["annotations"]
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"


BAD: list[Any] = [
    ("gcp", {"binder:ingress": {"proxyProtocol": True}}, "only OpenStack's Octavia"),
    ("local", {"binder:ingress": {"staticAddress": True}}, "not this stack's to reserve"),
    (
        "ebi",
        {"binder:cluster": _ebi_with_labels(octavia_provider="ovn"),
         "binder:ingress": {"proxyProtocol": True}},
        "'ovn' provider",
    ),
    ("gcp", {"binder:ingress": {"trustedIps": ["10.0.0.0/8"]}}, "only used with the PROXY"),
    (
        "gcp",
        {"binder:ingress": {"staticAddress": True, "loadBalancerIp": "192.0.2.1"}},
        "both give the address",
    ),
    ("gcp", {"binder:dns": {"zone": "z", "domain": "other.org"}}, "not in it"),
    ("local", {"binder:dns": {"zone": "z", "domain": "127.0.0.1.nip.io"}}, "existing cluster"),
    ("gcp", {"binder:dns": {"zone": "z", "domain": "not a domain"}}, "binder:dns.domain"),
]


@pytest.mark.parametrize(("stack", "overrides", "words"), BAD)
def test_bad_network_settings_stop_before_any_resource(
    stack: str, overrides: dict[str, Any], words: str
) -> None:
    rec = Recording()
    with pytest.raises(ConfigError, match=words):
        run_stack(stack, overrides=overrides, recording=rec)
    assert rec.resources == []


def test_regional_address_registers_as_the_sdk_class_does() -> None:
    """RegionalAddress avoids importing pulumi_gcp.compute; what the engine gets must be what
    pulumi_gcp.compute.Address sends for the same settings."""
    import pulumi
    import pulumi_gcp as gcp

    from components.network.address import RegionalAddress
    from tools.mockrun import run_program

    def program() -> None:
        opts = pulumi.ResourceOptions()
        RegionalAddress("ours", address_name="x-ingress", project="p", region="europe-west1",
                        description="d", opts=opts)
        gcp.compute.Address("sdk", name="x-ingress", project="p", region="europe-west1",
                            address_type="EXTERNAL", network_tier="PREMIUM", description="d")

    rec = run_program(program, stack="gcp")
    ours, sdk = rec.one(GCP_ADDRESS, "ours"), rec.one(GCP_ADDRESS, "sdk")
    assert ours.inputs == sdk.inputs
    assert ours.version == sdk.version
    assert sorted(ours.additional_secret_outputs) == sorted(sdk.additional_secret_outputs)
