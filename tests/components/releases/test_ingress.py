"""The Traefik ingress controller (components/releases/ingress.py)."""

from __future__ import annotations

import pulumi
import pytest

from components.catalog import charts
from components.config.releases import IngressConfig
from components.releases.ingress import (
    IngressController,
    IngressControllerArgs,
    load_balancer_address,
)
from tests.chart_data import release_problems
from tests.release_fixtures import (
    STACKS,
    file_values,
    namespace,
    release_of,
    run,
    user_values,
    values_root_with,
)


def controller(stack="gcp", redirect=True, config=None, ns=False, values_root=None):
    def program():
        ic = IngressController(
            "ingress",
            IngressControllerArgs(
                config=config or IngressConfig(),
                file_values=file_values(stack, values_root),
                redirect_to_https=redirect,
                namespace_resources=[namespace("ingress")] if ns else [],
            ),
        )
        pulumi.export("address", ic.external_address)

    return run(program)


@pytest.mark.parametrize("stack", STACKS)
def test_final_values_validate_against_the_traefik_schema(stack):
    rec = controller(stack)
    assert release_problems(charts.TRAEFIK, user_values(release_of(rec, charts.TRAEFIK))) == []


def test_release_is_pinned_and_its_options_deliberate():
    rel = release_of(controller(), charts.TRAEFIK)
    assert rel.inputs["chart"] == "traefik"
    assert rel.inputs["version"] == "41.3.0"
    assert rel.inputs["repositoryOpts"] == {"repo": "https://traefik.github.io/charts"}
    assert rel.inputs["name"] == "traefik"
    assert rel.inputs["namespace"] == "ingress"
    assert rel.inputs["atomic"] is True
    assert rel.inputs["cleanupOnFail"] is True
    assert rel.inputs["skipAwait"] is False
    assert rel.inputs["timeout"] == 600
    assert rel.inputs["allowNullValues"] is True
    # No secrets in Traefik's values: its echoed values stay readable.
    assert rel.additional_secret_outputs == []
    assert rel.type == "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize(
    ("stack", "traffic_policy", "replicas"),
    [
        # Keep client IPs (BinderHub logs and rate-limits by them) where the LB allows it.
        ("gcp", "Local", 2),
        # ebi: no file any more; with the plan, the program sets Cluster + the PROXY
        # protocol (tests/components/network/test_network.py). Without it, base's Local.
        ("ebi", "Local", 2),
        # Local load balancers (kind, k3d) lose the client address with Local.
        ("local", "Cluster", 1),
        # The base file alone, for a new environment without overrides.
        ("no-overrides", "Local", 2),
    ],
)
def test_public_entry_point_settings(stack, traffic_policy, replicas):
    """Per-environment entry point: the traffic policy each load balancer supports, two
    replicas to survive a node drain (one locally), and only standard Ingress objects served
    (no Traefik CRDs)."""
    assert set(STACKS) == {"ebi", "gcp", "local", "no-overrides"}  # every stack is listed
    values = user_values(release_of(controller(stack), charts.TRAEFIK))
    assert values["service"]["spec"]["externalTrafficPolicy"] == traffic_policy
    assert values["deployment"]["replicas"] == replicas
    assert values["providers"]["kubernetesCRD"]["enabled"] is False


def test_ingress_class_and_https_redirect():
    values = user_values(release_of(controller(redirect=True), charts.TRAEFIK))
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": False, "name": "traefik"}
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"] == {
        "to": "websecure",
        "scheme": "https",
        "permanent": True,
    }
    plain = user_values(release_of(controller(redirect=False), charts.TRAEFIK))
    # Without TLS the web entry point serves, with its timeouts but no redirection.
    assert "http" not in plain["ports"]["web"]


def test_custom_class_name_and_reserved_address():
    cfg = IngressConfig(class_name="public", load_balancer_ip="192.0.2.44")
    values = user_values(release_of(controller(config=cfg), charts.TRAEFIK))
    assert values["ingressClass"]["name"] == "public"
    assert values["service"]["spec"]["loadBalancerIP"] == "192.0.2.44"
    assert release_problems(charts.TRAEFIK, values) == []


def test_external_address_is_read_from_the_traefik_service():
    rec = controller()
    assert rec.outputs["address"] == "198.51.100.7"


def test_namespace_dependency_or_helm_creates_it():
    rec = controller(ns=True)
    rel = release_of(rec, charts.TRAEFIK)
    ns = rec.one("kubernetes:core/v1:Namespace")
    assert ns.urn in rel.dependencies
    assert rel.inputs["createNamespace"] is False
    assert release_of(controller(ns=False), charts.TRAEFIK).inputs["createNamespace"] is True


def test_unknown_key_in_a_values_file_is_caught(tmp_path):
    root = values_root_with(tmp_path, "typo", {"traefik": "deploymnet:\n  replicas: 3\n"})
    values = user_values(release_of(controller("typo", values_root=root), charts.TRAEFIK))
    problems = release_problems(charts.TRAEFIK, values)
    assert any("deploymnet" in p for p in problems), problems


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}, "192.0.2.1"),
        ({"loadBalancer": {"ingress": [{"hostname": "lb.example.org"}]}}, "lb.example.org"),
        ({"loadBalancer": {}}, None),
        (None, None),
    ],
)
def test_load_balancer_address(status, expected):
    assert load_balancer_address(status) == expected


def test_load_balancer_address_reads_the_sdks_typed_status_without_a_warning(monkeypatch):
    """A deploy hands over the SDK's typed ServiceStatus (a dict whose ``get`` of a camelCase
    key warns): the real engine printed "Key 'loadBalancer' not found in ServiceStatus" on
    every run until the address was read by property (issue 19)."""
    from pulumi_kubernetes.core.v1 import outputs

    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    status = outputs.ServiceStatus(
        load_balancer=outputs.LoadBalancerStatus(
            ingress=[outputs.LoadBalancerIngress(ip="192.0.2.7")]
        )
    )
    assert load_balancer_address(status) == "192.0.2.7"
    assert warned == []
    status.get("loadBalancer")  # what the old code did: the SDK warns
    assert warned == [
        "Key 'loadBalancer' not found in ServiceStatus. Access the value via the "
        "'load_balancer' property getter instead."
    ]
