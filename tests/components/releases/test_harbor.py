"""Issue 21, item 8: Harbor as a managed registry (components/releases/harbor.py): the release,
its project with quota, retention by days since the last pull, a garbage-collection schedule
and two robots whose secrets stay Pulumi secrets; BinderHub pushes to it with the push robot.
Whole program on mocks for ``ebi`` with ``binder:harbor`` on, and the release rendered with the
pinned chart (../shared/charts/harbor/1.19.1)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from components.catalog import charts
from components.catalog.rendered import release_facts
from components.config.base import ConfigError
from components.releases.harbor import PULL_ROBOT, PUSH_ROBOT, SECRET_KEY_LENGTH, TLS_SECRET
from components.releases.registry import DOCKERHUB_PULL_SECRET
from tests.chart_data import chart_dir, chart_values
from tests.pod_security_standard import needed_level, pod_specs, unchecked_fields
from tests.release_fixtures import RELEASE, release_of, user_values
from tests.rendered.support import require_chart_data
from tools.chart_render import render_recording
from tools.mockrun import Recording, is_secret, run_stack

HOST = "registry.binder.example.org"
HARBOR = {"enabled": True, "hostname": HOST, "storageSize": "300Gi", "quotaGb": 250,
          "retentionDays": 14, "gcSchedule": "0 30 2 * * 0"}
#: ebi's registry without Docker Hub: the images go to Harbor; the cluster's own Docker Hub
#: images are pulled with a Docker Hub account (issue 21 item 1).
OVERRIDES: dict[str, Any] = {
    "binder:harbor": HARBOR,
    "binder:registry": {"prefix": "binder-ebi-"},
    "binder:secretsFiles": None,
}
SECRETS = {"binder:dockerHubUsername": "test-hub-user",
           "binder:dockerHubPassword": "test-hub-password-0123"}


@cache
def _ebi_with_harbor() -> Recording:
    return run_stack("ebi", overrides=OVERRIDES, secrets=SECRETS)


def _one(rec: Recording, type_: str, suffix: str) -> Any:
    (found,) = [r for r in rec.of_type(type_) if r.name.endswith(suffix)]
    return found


def test_off_by_default_no_committed_stack_runs_it() -> None:
    for stack in ("ebi", "gcp", "local"):
        from tests.stack_runs import recorded_stack

        rec = recorded_stack(stack)
        assert not [r for r in rec.of_type(RELEASE) if r.inputs.get("chart", "").endswith(
            "harbor") or "/harbor/" in r.inputs.get("chart", "")]
        assert not [r for r in rec.resources if r.type.startswith("harbor:")]


def test_the_project_retention_gc_and_robots_are_mybinders() -> None:
    rec = _ebi_with_harbor()
    project = _one(rec, "harbor:index/project:Project", "-project")
    assert project.inputs["name"] == "binder"
    assert project.inputs["storageQuota"] == 250
    assert project.inputs["public"] is False
    retention = _one(rec, "harbor:index/retentionPolicy:RetentionPolicy", "-retention")
    pulled, pushed = retention.inputs["rules"]
    assert pulled["nDaysSinceLastPull"] == 14
    assert pushed["nDaysSinceLastPush"] == 7
    for rule in (pulled, pushed):
        assert rule["repoMatching"] == rule["tagMatching"] == "**"
        assert rule["untaggedArtifacts"] is False
    assert retention.inputs["schedule"] == "0 0 7 * * 6"
    gc = _one(rec, "harbor:index/garbageCollection:GarbageCollection", "-gc")
    assert gc.inputs["schedule"] == "0 30 2 * * 0"
    assert gc.inputs["deleteUntagged"] is True
    robots = {r.inputs["name"]: r for r in rec.of_type("harbor:index/robotAccount:RobotAccount")}
    assert set(robots) == {PUSH_ROBOT, PULL_ROBOT}
    actions = {
        name: sorted(a["action"] for p in r.inputs["permissions"] for a in p["accesses"])
        for name, r in robots.items()
    }
    assert actions == {PUSH_ROBOT: ["pull", "push"], PULL_ROBOT: ["pull"]}
    for robot in robots.values():
        assert robot.inputs["level"] == "project"
        assert robot.inputs["permissions"][0]["namespace"] == "binder"
        # The secret we generated is sent as a secret and stays one in state.
        assert is_secret(robot.wire["secret"])
        assert "secret" in robot.additional_secret_outputs
    # The API resources go through the provider that logs in as admin with the generated
    # password, sent as a secret, to the public URL.
    provider = _one(rec, "pulumi:providers:harbor", "-api")
    assert provider.inputs["url"] == f"https://{HOST}"
    assert provider.inputs["username"] == "admin"
    assert is_secret(provider.wire["password"])
    assert project.inputs.get("provider") or all(
        r.parent.endswith("releases-harbor") for r in rec.resources if r.type.startswith("harbor:")
    )


def test_the_release_gets_generated_admin_password_and_secret_key_as_secrets() -> None:
    rec = _ebi_with_harbor()
    release = release_of(rec, charts.HARBOR)
    assert release.inputs["namespace"] == charts.NAMESPACES["harbor"] == "harbor"
    values = release.wire["values"]
    assert is_secret(values["harborAdminPassword"]) or is_secret(values)
    plain = user_values(release)
    assert plain["harborAdminPassword"] != chart_values(charts.HARBOR)["harborAdminPassword"]
    # Every well-known default password the chart ships that our setup uses is replaced,
    # and each is sent as a secret.
    defaults = chart_values(charts.HARBOR)
    assert defaults["database"]["internal"]["password"] == "changeit"
    assert defaults["registry"]["credentials"]["password"] == "harbor_registry_password"
    for path in (("harborAdminPassword",), ("secretKey",), ("database", "internal", "password"),
                 ("registry", "credentials", "password")):
        mine, theirs, wire = plain, defaults, values
        for key in path:
            mine, theirs = mine[key], theirs[key]
            wire = wire if is_secret(wire) else wire[key]
        assert mine != theirs, path
        assert is_secret(wire), path
    key = _one(rec, "random:index/randomPassword:RandomPassword", "-secret-key")
    assert key.inputs["length"] == SECRET_KEY_LENGTH
    assert plain["secretKey"] == "mock-random-releases-harbor-secret-key-" + "x" * 16
    # The chart's comment: "The secret key used for encryption. Must be a string of 16 chars."
    text = (chart_dir(charts.HARBOR) / "values.yaml").read_text()
    assert "# The secret key used for encryption. Must be a string of 16 chars." in text
    assert plain["persistence"]["persistentVolumeClaim"]["registry"]["size"] == "300Gi"


def test_binderhub_pushes_to_the_harbor_project_with_the_push_robot() -> None:
    rec = _ebi_with_harbor()
    binderhub = release_of(rec, charts.BINDERHUB)
    values = user_values(binderhub)
    assert values["registry"]["url"] == f"https://{HOST}"
    assert values["config"]["BinderHub"]["image_prefix"] == f"{HOST}/binder/binder-ebi-"
    robot_secret = _one(rec, "random:index/randomPassword:RandomPassword",
                        f"-{PUSH_ROBOT}-secret")
    assert robot_secret.inputs["length"] >= 8
    wire = binderhub.wire["values"]
    assert is_secret(wire["registry"]["password"]) or is_secret(wire)


@pytest.mark.parametrize(
    ("overrides", "secrets", "words"),
    [
        ({"binder:registry": {"prefix": "x-", "url": "https://quay.io"}}, {},
         "binder:registry.url is 'https://quay.io'"),
        ({"binder:registry": {"prefix": "bioexcel/binder-"}}, {},
         "binder:registry.prefix 'bioexcel/binder-' names a path"),
        ({}, {"binder:registryUsername": "u", "binder:registryPassword": "p"},
         "a registry account (registryUsername/registryPassword) is given"),
    ],
)
def test_a_second_registry_beside_harbor_is_refused(overrides, secrets, words) -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack("ebi", overrides={**OVERRIDES, **overrides}, secrets={**SECRETS, **secrets})
    assert words in str(caught.value)
    assert "binder:harbor.enabled is true" in str(caught.value)


def test_rendered_harbor_is_exposed_by_our_ingress_with_cert_manager() -> None:
    require_chart_data()
    (harbor,) = [r for r in render_recording(_ebi_with_harbor(), kube_version="1.34")
                 if r.chart == "harbor"]
    kinds = [o["kind"] for o in harbor.objects]
    (ingress,) = [o for o in harbor.objects if o["kind"] == "Ingress"]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [HOST]
    assert ingress["spec"]["tls"] == [{"secretName": TLS_SECRET, "hosts": [HOST]}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"].startswith(
        "letsencrypt-")
    # No self-signed certificate Secret of the chart's own (certSource auto).
    assert not [o for o in harbor.objects if o["kind"] == "Secret"
                and o["metadata"]["name"].endswith("-ingress")]
    (claim,) = [o for o in harbor.objects if o["kind"] == "PersistentVolumeClaim"
                and o["metadata"]["name"].endswith("-registry")]
    assert claim["spec"]["resources"]["requests"]["storage"] == "300Gi"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Every volume on ebi's Cinder class (binder:storage), the volumeClaimTemplates too.
    claims = [o for o in harbor.objects if o["kind"] == "PersistentVolumeClaim"] + [
        t for o in harbor.objects if o["kind"] == "StatefulSet"
        for t in o["spec"].get("volumeClaimTemplates", [])]
    assert len(claims) == 4  # registry, job logs, database, redis (no Trivy)
    assert {c["spec"]["storageClassName"] for c in claims} == {"binder-cinder"}
    (core_cm,) = [o for o in harbor.objects if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].endswith("-core")]
    assert core_cm["data"]["EXT_ENDPOINT"] == f"https://{HOST}"
    assert "StatefulSet" in kinds
    # No cluster-scoped objects: the chart catalogue and the deployer's rules are unchanged.
    cluster_kinds = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                     "PriorityClass", "StorageClass", "ValidatingWebhookConfiguration",
                     "MutatingWebhookConfiguration", "Namespace"}
    assert not cluster_kinds & set(kinds)
    # Nothing the deploy agent's RBAC or admission guard follow (no roles, service accounts,
    # webhooks, classes or CRDs), so components/catalog/rendered.json needs no Harbor entry
    # (`make chart-catalog` renders the committed stacks, where Harbor is off).
    facts = release_facts(harbor.objects, harbor.namespace)
    assert not any(facts.values()), facts


def test_rendered_harbor_pulls_its_docker_hub_images_with_the_account() -> None:
    """Item 1 holds for Harbor too: every Harbor image is a ``docker.io/goharbor`` image, and
    every Harbor pod pulls with the Docker Hub account's pull Secret in its namespace."""
    require_chart_data()
    (harbor,) = [r for r in render_recording(_ebi_with_harbor(), kube_version="1.34")
                 if r.chart == "harbor"]
    images = {
        c["image"]
        for o in harbor.objects if o["kind"] in ("Deployment", "StatefulSet")
        for c in [*o["spec"]["template"]["spec"].get("initContainers", []),
                  *o["spec"]["template"]["spec"]["containers"]]
    }
    assert images
    assert all(i.startswith("docker.io/goharbor/") and i.endswith(":v2.15.1") for i in images)
    assert {i.split("/")[2].split(":")[0] for i in images} == {
        "harbor-core", "harbor-portal", "harbor-jobservice", "registry-photon",
        "harbor-registryctl", "harbor-db", "redis-photon"}
    for o in harbor.objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            pulls = o["spec"]["template"]["spec"].get("imagePullSecrets")
            assert pulls == [{"name": DOCKERHUB_PULL_SECRET}], o["metadata"]["name"]
    rec = _ebi_with_harbor()
    secrets = [r for r in rec.of_type("kubernetes:core/v1:Secret")
               if r.inputs.get("type") == "kubernetes.io/dockerconfigjson"
               and r.inputs["metadata"]["namespace"] == "harbor"]
    assert len(secrets) == 1


def test_harbor_gets_a_restricted_namespace_its_pods_pass() -> None:
    rec = _ebi_with_harbor()
    (ns,) = [r for r in rec.of_type("kubernetes:core/v1:Namespace")
             if r.inputs["metadata"]["name"] == "harbor"]
    labels = ns.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    require_chart_data()
    (harbor,) = [r for r in render_recording(rec, kube_version="1.34") if r.chart == "harbor"]
    pods = [(o["metadata"]["name"], pod) for o in harbor.objects for pod in pod_specs(o)]
    assert len(pods) == 6
    for name, pod in pods:
        assert unchecked_fields(pod) == [], name
        assert needed_level(pod)[0] == "restricted", name
    # The release waits for its namespace and for ebi's StorageClass.
    release = release_of(rec, charts.HARBOR)
    waits = {urn.rsplit("::", 1)[-1] for urn in release.dependencies}
    assert {"bootstrap-ns-harbor", "releases-storage-class",
            "releases-pull-secrets-harbor"} <= waits, waits


def test_harbor_without_tls_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack("local", overrides={
            "binder:harbor": {"enabled": True, "hostname": HOST},
            "binder:registry": {"prefix": "binder-local-", "allowAnonymousDockerHub": True},
        })
    assert "binder:harbor.enabled is true but binder:tls.source is 'none'" in str(caught.value)
