"""The federation stack, the whole program on mocks from its real Pulumi.federation.yaml: its
members read from the ebi and gcp stacks' own mock runs (``pulumi.StackReference``), the
redirector's configuration, the front door on Cloud Run or on a member's cluster, its DNS
record; and what stops it, before any resource."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from components.config.base import ConfigError
from components.federation.plan import PLACEHOLDER_DIGEST
from federation.config import parse_config
from tests.conftest import REPO
from tests.k8s_validate import assert_valid_objects
from tests.pod_security_standard import needed_level, pod_specs
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording, is_secret, run_stack, stack_config

RUN = "gcp:cloudrunv2/service:Service"
DIGEST = "ghcr.io/bioexcel/binder-federation@sha256:" + "ab" * 32


def federation_config() -> dict[str, Any]:
    config, _ = stack_config("federation")
    return dict(json.loads(config["binder:federation"]))


def run_with(recording: Recording | None = None, **changes: Any) -> Recording:
    """The federation stack with ``binder:federation`` keys changed; members from the
    committed member stacks' runs."""
    cfg = federation_config()
    cfg.update(changes)
    return run_stack("federation", overrides={"binder:federation": cfg},
                     stack_outputs=members(), recording=recording)


def members() -> dict[str, Recording]:
    return {"ebi": recorded_stack("ebi"), "gcp": recorded_stack("gcp")}


@pytest.fixture(scope="module")
def fed() -> Recording:
    return recorded_stack("federation")


def test_members_are_read_from_the_member_stacks(fed: Recording) -> None:
    assert sorted(fed.reads) == [
        ("pulumi:pulumi:StackReference", "members-ebi", "organization/binder/ebi"),
        ("pulumi:pulumi:StackReference", "members-gcp", "organization/binder/gcp"),
    ]
    assert fed.outputs["members"] == {
        "gcp": {"url": "https://binder.gcp.example.org", "weight": 2.0, "prime": True,
                "enabled": True},
        "ebi": {"url": "https://binder.ebi.example.org", "weight": 1.0, "prime": False,
                "enabled": True},
    }


def test_the_redirector_configuration_is_what_the_service_accepts(fed: Recording) -> None:
    document = fed.outputs["redirector_config"]
    cfg = parse_config(json.loads(document))  # the service's own loader
    assert [(m.name, m.url, m.weight, m.prime) for m in cfg.members] == [
        ("gcp", "https://binder.gcp.example.org", 2.0, True),
        ("ebi", "https://binder.ebi.example.org", 1.0, False)]
    assert cfg.public_url == "https://binder.example.org"
    # Cloud Run gets exactly this document; a change makes a new revision.
    (container,) = fed.one(RUN).inputs["template"]["containers"]
    assert container["envs"] == [{"name": "FEDERATION_CONFIG_JSON", "value": document}]


def test_the_front_door_runs_on_cloud_run_by_digest(fed: Recording) -> None:
    service = fed.one(RUN).inputs
    (container,) = service["template"]["containers"]
    assert container["image"].endswith(PLACEHOLDER_DIGEST)
    # CPU between requests: the health loops run whether or not a launch comes in.
    assert container["resources"]["cpuIdle"] is False
    assert service["template"]["scaling"]["minInstanceCount"] >= 1
    assert service["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    account = fed.one("gcp:serviceaccount/account:Account")
    assert account.urn in fed.one(RUN).dependencies
    invoker = fed.one("gcp:cloudrunv2/serviceIamMember:ServiceIamMember").inputs
    assert (invoker["role"], invoker["member"]) == ("roles/run.invoker", "allUsers")


def test_placeholder_digest_is_a_warning(fed: Recording) -> None:
    (warning,) = [line for line in fed.logs if "placeholder digest" in line]
    assert warning.startswith("warning: binder:federation.image")
    assert "federation-image.yml" in warning
    assert not [line for line in run_with(image=DIGEST).logs if "placeholder" in line]


def test_the_load_balancer_owns_address_certificate_and_http_redirect(fed: Recording) -> None:
    address = fed.one("gcp:compute/globalAddress:GlobalAddress")
    assert address.inputs["addressType"] == "EXTERNAL"
    rules = {r.inputs["portRange"]: r for r in fed.of_type(
        "gcp:compute/globalForwardingRule:GlobalForwardingRule")}
    assert set(rules) == {"80", "443"}
    for rule in rules.values():
        assert rule.inputs["ipAddress"] == "203.0.113.100"
        assert address.urn in rule.dependencies
        assert rule.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    certificate = fed.one("gcp:compute/managedSslCertificate:ManagedSslCertificate")
    assert certificate.inputs["managed"]["domains"] == ["binder.example.org"]
    https = fed.one("gcp:compute/targetHttpsProxy:TargetHttpsProxy")
    assert certificate.urn in https.dependencies
    redirect = fed.one("gcp:compute/uRLMap:URLMap", "front-door-http").inputs
    assert redirect["defaultUrlRedirect"]["httpsRedirect"] is True
    neg = fed.one("gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup").inputs
    assert neg["networkEndpointType"] == "SERVERLESS"
    # No DNS zone in the committed stack: the record to create by hand.
    assert fed.outputs["dns_records"] == [
        {"name": "binder.example.org", "type": "A", "value": "203.0.113.100"}]
    assert fed.outputs["public_address"] == "203.0.113.100"
    assert fed.outputs["front_door_url"] == "https://binder.example.org"


def test_the_dns_record_is_made_by_network_dns() -> None:
    door = {**federation_config()["frontDoor"], "dns": {"zone": "binder-example-org"}}
    rec = run_with(frontDoor=door)
    record = rec.one("gcp:dns/recordSet:RecordSet")
    assert record.inputs["name"] == "binder.example.org."
    assert record.inputs["type"] == "A"
    assert record.inputs["rrdatas"] == ["203.0.113.100"]
    assert record.inputs["managedZone"] == "binder-example-org"
    assert "dns_records" not in rec.outputs


def test_the_resources_it_registers(fed: Recording) -> None:
    """The figure for the issue: what the federation stack registers on Cloud Run."""
    types = sorted(r.type for r in fed.resources)
    assert len(types) == 15
    assert not [t for t in types if t.startswith(("kubernetes:", "openstack:"))]


def test_a_front_door_on_a_member_cluster() -> None:
    door = {"platform": "memberCluster", "member": "gcp", "replicas": 2}
    rec = run_with(frontDoor=door, image=DIGEST)
    provider = rec.one("pulumi:providers:kubernetes")
    # The member stack's own kubeconfig output, kept secret.
    assert is_secret(provider.wire["kubeconfig"])
    assert provider.inputs["kubeconfig"] == recorded_stack("gcp").outputs["kubeconfig"]
    assert not [r for r in rec.resources if r.type.startswith("gcp:")]
    for res in rec.resources:
        if res.type.startswith("kubernetes:") and res.custom:
            assert res.provider.startswith(provider.urn), res.name
    deployment = rec.one("kubernetes:apps/v1:Deployment").inputs
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == DIGEST
    (pod,) = pod_specs(deployment)
    assert needed_level(pod)[0] == "restricted"
    ns = rec.one("kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "restricted"
    config = rec.one("kubernetes:core/v1:ConfigMap").inputs["data"]["config.json"]
    assert config == rec.outputs["redirector_config"]
    ingress = rec.one("kubernetes:networking.k8s.io/v1:Ingress").inputs
    assert ingress["spec"]["rules"][0]["host"] == "binder.example.org"
    # gcp issues from Let's Encrypt through cert-manager: the front door's certificate too.
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"].startswith("letsencrypt-")
    assert annotations["pulumi.com/skipAwait"] == "true"
    assert ingress["spec"]["tls"] == [{"hosts": ["binder.example.org"],
                                       "secretName": "federation-tls"}]
    gcp = recorded_stack("gcp")
    assert rec.outputs["public_address"] == gcp.outputs["ingress_address"]
    checked = assert_valid_objects(rec, "1.33")
    assert len(checked) == 7


def test_a_partner_by_url_needs_no_stack_reference() -> None:
    cfg = federation_config()
    cfg["members"] = [*cfg["members"], {"name": "partner", "weight": 0.5,
                                        "url": "https://binder.partner.example.org"}]
    rec = run_stack("federation", overrides={"binder:federation": cfg},
                    stack_outputs=members())
    assert len(rec.reads) == 2
    assert rec.outputs["members"]["partner"]["url"] == "https://binder.partner.example.org"


def test_a_version_mismatch_is_a_warning_naming_both_versions() -> None:
    ebi = recorded_stack("ebi")
    gcp = recorded_stack("gcp")
    (chart, version), *_ = gcp.outputs["versions"].items()
    ebi.outputs["versions"] = {**ebi.outputs["versions"], chart: "0.0.1-old"}
    ebi.outputs["launch_quota"] = None
    rec = run_stack("federation", stack_outputs={"ebi": ebi, "gcp": gcp})
    warnings = [line for line in rec.logs if line.startswith("warning: member ebi")]
    assert any(f"the {chart} chart at 0.0.1-old, the prime gcp at {version}" in w
               for w in warnings), warnings
    assert any("sets no launch quota" in w for w in warnings), warnings
    # Consistent members: no warning at all about them.
    assert not [line for line in recorded_stack("federation").logs if "member " in line]


def test_a_member_pointing_elsewhere_is_a_warning() -> None:
    ebi = recorded_stack("ebi")
    ebi.outputs["federation_front_door"] = None
    rec = run_stack("federation", stack_outputs={"ebi": ebi, "gcp": recorded_stack("gcp")})
    assert any("member ebi points its badges and launch links at itself" in line
               for line in rec.logs), rec.logs


def test_a_member_stack_not_deployed_stops_the_run() -> None:
    with pytest.raises(ConfigError, match="the stack organization/binder/ebi has no binder_url"):
        run_stack("federation", stack_outputs={"gcp": recorded_stack("gcp")})


def test_bad_federation_config_registers_nothing() -> None:
    recording = Recording()
    cfg = federation_config()
    cfg["members"] = [*cfg["members"], None]
    with pytest.raises(ConfigError, match=r"binder:federation\.members: entry 2 is empty"):
        run_stack("federation", overrides={"binder:federation": cfg}, stack_outputs={},
                  recording=recording)
    assert recording.resources == []


def test_cloud_run_needs_a_project_before_any_resource() -> None:
    recording = Recording()
    with pytest.raises(ConfigError, match=r"gcp:project is not set in Pulumi\.federation\.yaml"):
        run_stack("federation", overrides={"gcp:project": None}, stack_outputs={},
                  recording=recording)
    assert recording.resources == []


def test_a_stack_with_a_cluster_and_a_federation_is_refused() -> None:
    config = stack_config("gcp")[0]
    cluster = json.loads(config["binder:cluster"])
    with pytest.raises(ConfigError, match="binder:cluster and binder:federation are both set"):
        run_stack("federation", overrides={"binder:cluster": copy.deepcopy(cluster)},
                  stack_outputs={})


def test_the_project_file_requires_nothing_a_federation_stack_lacks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pulumi.yaml's ``config:`` applies to every stack: a key without a default there would
    stop the federation stack in the CLI before the program runs (as the real engine showed
    with `cluster`); the mock engine applies it as the CLI does."""
    import tools.mockrun

    assert all("default" in spec for spec in tools.mockrun.project_config().values())
    assert tools.mockrun.project_config()["secretsFiles"]["default"] == []
    config, _ = stack_config("federation")
    assert config["binder:secretsFiles"] == "[]"  # the CLI's default, accepted
    monkeypatch.setattr(tools.mockrun, "project_config",
                        lambda: {"cluster": {"description": "required"}})
    with pytest.raises(ConfigError, match="Stack 'federation' is missing configuration value "
                                          "'cluster'"):
        run_stack("federation", stack_outputs={})


def test_a_federation_stack_has_no_secrets_files() -> None:
    with pytest.raises(ConfigError, match=r"binder:secretsFiles: unknown key"):
        run_stack("federation", overrides={"binder:secretsFiles": ["helm_configs/x.yaml"]},
                  stack_outputs={})


_IMPORTS_PROBE = """
import json, sys
from tools.mockrun import Recording, run_stack
outputs = {name: Recording(outputs={"binder_url": f"https://binder.{name}.example.org",
                                    "versions": {}, "launch_quota": 10,
                                    "federation_front_door": "https://binder.example.org"})
           for name in ("ebi", "gcp")}
run_stack("federation", stack_outputs=outputs)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("pulumi_") and "." not in m)))
"""


def test_the_federation_stack_imports_only_the_sdks_it_uses() -> None:
    """In a process of its own, with its members' outputs given (not run): the Cloud Run
    front door needs Google's SDK, never OpenStack's."""
    result = subprocess.run([sys.executable, "-c", _IMPORTS_PROBE], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    sdks = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "pulumi_gcp" in sdks
    assert "pulumi_openstack" not in sdks
