"""The public entry point per stack: the address the stack owns and where it is wired, the
PROXY protocol and traffic policy per provider, Dataplane V2, DNS records or the
``dns_records`` output; and the bad combinations, refused by the plan."""

from __future__ import annotations

from typing import Any

import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.network.plan import external_traffic_policy
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
    assert annotations["loadbalancer.openstack.org/proxy-protocol"] == "v1"
    # In-cluster clients go through Octavia too (cert-manager's self-check).
    assert annotations["loadbalancer.openstack.org/hostname"] == "binder.ebi.example.org"
    for port in ("web", "websecure"):
        assert values["ports"][port]["proxyProtocol"]["trustedIPs"] == ["10.0.0.0/24"]
    # HTTPS redirection still there beside it.
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Cluster"
    assert release_problems(charts.TRAEFIK, values) == []


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
    assert external_traffic_policy("magnum", True) == "Cluster"
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
