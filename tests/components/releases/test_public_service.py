"""Running a public Binder (issue 11, part B): registry, builder, logging outputs, limits.

Covers components/releases/registry.py, builder.py, limits.py, the logging output settings of
components/releases/logging.py and components/registry/artifact_registry.py, on the committed
stacks where possible. Facts taken from the pinned charts are checked against them here.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest

from components.catalog import charts
from components.config.registry import RegistryConfig
from components.config.releases import LoggingOutput
from components.config.service import BuilderConfig, LaunchLimits, NodeCapacity
from components.releases.builder import (
    BUILD_POD_COMPONENT,
    DIND_IMAGE,
    DIND_SOCKET_DIR,
    DIND_TAG,
    builder_values,
    dind_args,
    egress_rules,
)
from components.releases.limits import GIB, MIB, gce_machine, gke_allocatable, limits_values
from components.releases.logging import VARIANTS, fluentd_values, output_config
from components.releases.registry import MIRRORED_IMAGES, mirror_layer
from tests.chart_data import chart_dir, chart_values, release_problems
from tests.release_fixtures import RELEASE, config, user_values
from tests.stack_runs import recorded_stack
from tools.mockrun import MOCK_PROJECT_NUMBER, is_secret, run_stack, stack_config

PINS = {pin.release: pin for pin in charts.RELEASES}


def _at(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


@pytest.fixture(scope="module")
def gcp() -> Any:
    return recorded_stack("gcp")


@pytest.fixture(scope="module")
def ebi() -> Any:
    return recorded_stack("ebi")


def _release(recording: Any, chart: str) -> dict[str, Any]:
    [release] = [r for r in recording.of_type(RELEASE) if r.inputs["chart"] == chart]
    return user_values(release)


# ---- registry --------------------------------------------------------------------------


def test_gcp_pushes_to_an_artifact_registry_repository_in_the_cluster_region(gcp: Any) -> None:
    repo = gcp.one("gcp:artifactregistry/repository:Repository")
    assert repo.inputs["location"] == "europe-west1"
    assert repo.inputs["format"] == "DOCKER"
    [policy] = repo.inputs["cleanupPolicies"]
    assert policy["action"] == "DELETE"
    assert policy["condition"]["olderThan"] == f"{30 * 86400}s"
    bh = _release(gcp, "binderhub")
    prefix = "europe-west1-docker.pkg.dev/bioexcel-binder/binder/binder-"
    assert bh["config"]["BinderHub"]["image_prefix"] == prefix
    assert bh["registry"]["url"] == "https://europe-west1-docker.pkg.dev"
    code = bh["extraConfig"]["10-artifact-registry-push"]
    assert "GoogleArtifactRegistry" in code
    assert "oauth2accesstoken" in code
    compile(code, "extraConfig", "exec")  # it is valid Python
    # No password: neither the registry account nor an imagePullSecret reaches the release.
    assert "password" not in bh.get("registry", {})
    assert "imagePullSecret" not in bh["jupyterhub"]


def test_gcp_grants_push_to_binderhubs_ksa_and_pull_to_the_nodes(gcp: Any) -> None:
    members = {
        r.inputs["role"]: r.inputs["member"]
        for r in gcp.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    }
    assert members["roles/artifactregistry.writer"] == (
        f"principal://iam.googleapis.com/projects/{MOCK_PROJECT_NUMBER}/locations/global/"
        "workloadIdentityPools/bioexcel-binder.svc.id.goog/subject/ns/binder/sa/binderhub"
    )
    # The nodes' own least-privilege account (issue 20), never the Compute Engine default.
    (account,) = gcp.of_type("gcp:serviceaccount/account:Account")
    assert account.inputs["accountId"] == "binder-gcp-nodes"
    assert members["roles/artifactregistry.reader"] == (
        "serviceAccount:binder-gcp-nodes@bioexcel-binder.iam.gserviceaccount.com"
    )
    assert "compute@developer" not in members["roles/artifactregistry.reader"]


def test_the_binderhub_ksa_is_the_one_the_chart_runs_binderhub_as() -> None:
    templates = chart_dir(charts.BINDERHUB) / "templates"
    assert "serviceAccountName: binderhub" in (templates / "deployment.yaml").read_text()


def test_ebi_user_pods_pull_from_docker_hub_with_the_account(ebi: Any) -> None:
    [release] = [r for r in ebi.of_type(RELEASE) if r.inputs["chart"] == "binderhub"]
    pull = release.inputs["values"]["jupyterhub"]["imagePullSecret"]
    assert pull["create"] is True
    assert pull["registry"] == "https://index.docker.io/v1/"
    assert pull["username"]
    assert pull["password"]
    # The account stays secret on the wire.
    assert is_secret(release.wire["values"]["jupyterhub"]["imagePullSecret"]["password"])


def test_z2jh_injects_its_pull_secret_into_user_pods() -> None:
    config = chart_dir(charts.JUPYTERHUB_SUBCHART) / "files/hub/jupyterhub_config.py"
    text = config.read_text()
    assert 'get_config("imagePullSecret.automaticReferenceInjection")' in text
    assert "c.KubeSpawner.image_pull_secrets" in text


@pytest.mark.parametrize(("release", "images"), sorted(MIRRORED_IMAGES.items()))
def test_mirrored_images_are_the_charts_docker_hub_images(release: str, images: Any) -> None:
    defaults = chart_values(PINS[release])
    for image in images:
        assert _at(defaults, image.path) == image.default, image.path
    layer = mirror_layer(release, "mirror.gcr.io")
    assert release_problems(PINS[release], layer) == []


@pytest.mark.parametrize("release", ["binderhub", "grafana", "fluentd", "prometheus"])
def test_no_other_docker_hub_image_in_the_charts_defaults(release: str) -> None:
    mirrored = {image.path for image in MIRRORED_IMAGES.get(release, ())}
    found = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif node == "docker.io" or (
            isinstance(node, str) and node.startswith("docker.io/") and path[-1] in ("name",)
        ):
            found.append(path)

    walk(chart_values(PINS[release]), ())
    assert [p for p in found if p not in mirrored] == []


def test_gcp_pulls_chart_images_from_their_own_registries(gcp: Any) -> None:
    # mirror.gcr.io is a cache daemons fall back from, not a registry to name images by
    # (issue 21): the charts keep their images; GKE's nodes ask the cache first.
    assert "image" not in _release(gcp, "traefik")
    assert "repository" not in _release(gcp, "fluentd").get("image", {})
    dind = _release(gcp, "binderhub")["dind"]
    assert "image" not in dind["daemonset"]
    # dind asks Google's cache first for build base images, as Google documents it; its MTU
    # is the VPC's (Pulumi.gcp.yaml).
    assert dind["daemonset"]["extraArgs"] == [
        "--registry-mirror=https://mirror.gcr.io",
        "--mtu=1460",
    ]
    pruner = gcp.one("kubernetes:apps/v1:DaemonSet")
    [container] = pruner.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{DIND_IMAGE}:{DIND_TAG}"


def test_mirror_gcr_io_is_no_system_images_mirror() -> None:
    with pytest.raises(ValueError, match="manifest unknown"):
        RegistryConfig(prefix="b-", system_images_mirror="mirror.gcr.io")
    # A pull-through cache that is a registry (a Harbor proxy-cache project) is fine.
    RegistryConfig(prefix="b-", system_images_mirror="harbor.example.org/dockerhub")


def test_dind_mirrors_only_on_gke_by_default(ebi: Any) -> None:
    # ebi: no mirror, the MTU of its stack file.
    assert _release(ebi, "binderhub")["dind"]["daemonset"]["extraArgs"] == ["--mtu=1400"]
    builder = BuilderConfig(registry_mirrors=["https://harbor.example.org"])
    assert dind_args(builder, config().cluster) == [
        "--registry-mirror=https://harbor.example.org",
        "--mtu=1460",  # GKE: the VPC default
    ]
    with pytest.raises(ValueError, match="registry mirror URL"):
        BuilderConfig(registry_mirrors=["mirror.gcr.io"])
    values = builder_values(BuilderConfig(), config().cluster)
    assert release_problems(charts.BINDERHUB, values) == []


# ---- builder ---------------------------------------------------------------------------


def test_the_pruner_uses_the_charts_dind_image_and_socket() -> None:
    dind = chart_values(charts.BINDERHUB)["dind"]
    assert (dind["daemonset"]["image"]["name"], dind["daemonset"]["image"]["tag"]) == (
        DIND_IMAGE,
        DIND_TAG,
    )
    assert dind["hostSocketDir"] == DIND_SOCKET_DIR


def test_build_pods_carry_the_label_the_policy_selects() -> None:
    # BinderHub labels build pods `component: binderhub-build` (KubernetesBuildExecutor);
    # the chart labels dind `component: image-builder`.
    daemonset = chart_dir(charts.BINDERHUB) / "templates/container-builder/daemonset.yaml"
    assert "component: image-builder" in daemonset.read_text()
    assert BUILD_POD_COMPONENT == "binderhub-build"


def test_builder_resources_go_through_non_deprecated_settings(ebi: Any) -> None:
    bh = _release(ebi, "binderhub")
    executor = bh["config"]["KubernetesBuildExecutor"]
    assert "memory_limit" not in executor
    assert "memory_request" not in executor
    assert executor["resources"]["limits"]["ephemeral-storage"] == "2Gi"
    assert bh["dind"]["resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}
    # ebi is on the capi-helm driver: nodes have one boot volume (boot_volume_size 100),
    # no docker volume, so dind's data stays on the chart's default directory.
    assert bh["dind"]["hostLibDir"] == "/var/lib/dind"
    assert release_problems(charts.BINDERHUB, bh) == []


def test_gke_keeps_dind_on_the_boot_disk(gcp: Any) -> None:
    assert _release(gcp, "binderhub")["dind"]["hostLibDir"] == "/var/lib/dind"


def test_build_egress_denies_internal_networks_and_metadata() -> None:
    rules = egress_rules(BuilderConfig(internal_networks=["10.0.0.0/8"]))
    dns, world = rules
    assert {p["port"] for p in dns["ports"]} == {53}
    v4 = world["to"][0]["ipBlock"]
    assert v4["cidr"] == "0.0.0.0/0"
    # The metadata endpoints (every cloud's, and GKE's Workload Identity server) are denied
    # even when internalNetworks leaves them out.
    assert set(v4["except"]) == {"10.0.0.0/8", "169.254.169.254/32", "169.254.169.252/32"}
    default = egress_rules(BuilderConfig())
    excepted = default[1]["to"][0]["ipBlock"]["except"]
    for address in ("10.1.2.3", "172.20.0.10", "192.168.1.1", "169.254.169.254", "100.64.0.1"):
        assert any(ipaddress.ip_address(address) in ipaddress.ip_network(c) for c in excepted)
    assert not any(ipaddress.ip_address("8.8.8.8") in ipaddress.ip_network(c) for c in excepted)
    # DNS may reach the cluster's resolver, never the metadata endpoint.
    link_local = [b for b in default[0]["to"] if b["ipBlock"]["cidr"] == "169.254.0.0/16"]
    assert link_local[0]["ipBlock"]["except"] == ["169.254.169.252/32", "169.254.169.254/32"]


def test_every_stack_with_dind_gets_the_policy(ebi: Any) -> None:
    policy = ebi.one("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    spec = policy.inputs["spec"]
    assert spec["policyTypes"] == ["Egress"]
    assert policy.inputs["metadata"]["namespace"] == "binder"


# ---- limits ----------------------------------------------------------------------------


def test_limits_values_use_the_current_binderhub_settings() -> None:
    config = limits_values(
        LaunchLimits(total_pods=300, banned_specs=["^evil/.*"], high_quota_specs=["^jupyter/.*"])
    )["config"]
    assert config["LaunchQuota"] == {"total_quota": 300}
    assert "pod_quota" not in config["BinderHub"]
    assert config["RepoProvider"]["banned_specs"] == ["^evil/.*"]


def test_gke_allocatable_follows_the_documented_reservations() -> None:
    # 25% of the first 4 GiB + 100 MiB eviction threshold; 6% of the first core.
    cpus, memory = gke_allocatable(1.0, 4 * GIB)
    assert memory == pytest.approx(3 * GIB - 100 * MIB)
    assert cpus == pytest.approx(0.94)
    assert gce_machine("n2-highmem-4") == (4.0, 32 * GIB)
    assert gce_machine("custom-4-5120") is None


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            {"userResources": {"memory": {"guarantee": "1G", "limit": "40G"}}},
            "memory.limit (40G) does not fit a user node: userPool.machineType n2-highmem-4",
        ),
        (
            {
                "limits": {"userNode": {"cpu": 2, "memory": "8Gi"}},
                "userResources": {"cpu": {"guarantee": 1.5, "limit": 2}},
            },
            "cpu.guarantee (1.5) does not fit a user node",
        ),
    ],
)
def test_a_user_pod_that_does_not_fit_a_user_node_is_refused(overrides: Any, words: str) -> None:
    from components.config.base import ConfigError

    hub = {"host": "binder.gcp.example.org", "hubHost": "hub.binder.gcp.example.org", **overrides}
    with pytest.raises(ConfigError, match=re.escape(words)):
        run_stack("gcp", overrides={"binder:binderhub": hub})


def test_node_capacity_is_a_quantity() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        NodeCapacity(cpu=4, memory="lots")


# ---- logging ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "version", "words"),
    [
        (
            "elasticsearch",
            None,
            ["default_elasticsearch_version 8", "verify_es_version_at_startup true"],
        ),
        ("elasticsearch", 7, ["default_elasticsearch_version 7"]),
        ("opensearch", None, ["default_opensearch_version 2", "verify_os_version_at_startup true"]),
    ],
)
def test_search_outputs_set_the_version_and_no_type(
    store: str, version: int | None, words: list[str]
) -> None:
    output = LoggingOutput(type=store, host="logs.example.org", version=version)
    text = output_config(output, with_password=False, with_ca=True)
    for word in [*words, "suppress_type_name true", "ssl_verify true", "total_limit_size 1024MB"]:
        assert word in text
    assert "version_at_startup false" not in text
    assert 'ca_file "/etc/fluent/output-ca/ca.crt"' in text
    values = fluentd_values(output, with_password=False, with_ca=True)
    assert values["variant"] == VARIANTS[(store, output.store_version or 0)]
    assert values["volumes"][0]["secret"]["secretName"] == "fluentd-output-ca"
    assert release_problems(charts.FLUENTD, values) == []


def test_the_fluentd_image_tag_is_built_from_the_variant() -> None:
    pod = (chart_dir(charts.FLUENTD) / "templates/_pod.tpl").read_text()
    assert '"v%s-debian-%s-%s" .Chart.AppVersion .Values.variant .Values.variantVersion' in pod
    assert chart_values(charts.FLUENTD)["variant"] == "elasticsearch7"  # hence we set it


def test_an_unsupported_store_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version 9 is not supported"):
        LoggingOutput(type="elasticsearch", host="es.example.org", version=9)


def test_an_empty_internal_networks_list_is_a_warning() -> None:
    """Issue 20: `internalNetworks: []` opens every private address to build code; it was
    accepted silently."""
    binderhub = json.loads(stack_config("local")[0]["binder:binderhub"])
    quiet = run_stack("local")
    assert not [line for line in quiet.logs if "internalNetworks" in line]
    rec = run_stack("local", {"binder:binderhub": {
        **binderhub, "builder": {**binderhub.get("builder", {}), "internalNetworks": []}}})
    warned = [line for line in rec.logs if line.startswith("warn") and "internalNetworks" in line]
    assert len(warned) == 1, rec.logs
    assert "metadata endpoint stays denied" in warned[0]


def test_static_push_credentials_reach_builds_as_a_mounted_secret_only(ebi: Any, gcp: Any) -> None:
    """Issue 20: pod specs in `binder` are readable by `view`. With a static account (Docker
    Hub, Harbor) BinderHub mounts the chart's Secret binder-build-docker-config into the build
    pod (KubernetesBuildExecutor.push_secret, its default) and puts nothing in the pod's
    environment; only a registry class whose get_credentials answers (ours for Artifact
    Registry: a token of at most an hour) sets CONTAINER_ENGINE_REGISTRY_CREDENTIALS.
    binderhub build.py/builder.py at our pin:
    https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/build.py#L480-L492
    """
    chart = chart_dir(charts.BINDERHUB)
    secret = (chart / "templates" / "secret.yaml").read_text()
    assert "if or .Values.config.BinderHub.use_registry" in secret
    assert "name: binder-build-docker-config" in secret
    ebi_values = _release(ebi, "binderhub")
    assert ebi_values["config"]["BinderHub"]["use_registry"] is True
    build = ebi_values["config"].get("KubernetesBuildExecutor", {})
    assert "push_secret" not in build  # BinderHub's default: the chart's Secret
    assert "registry_credentials" not in build
    assert "get_credentials" not in json.dumps(ebi_values.get("extraConfig", {}))
    # gcp's dynamic token is the documented exception (docs/access.md).
    assert "get_credentials" in json.dumps(_release(gcp, "binderhub")["extraConfig"])
