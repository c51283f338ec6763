"""No anonymous Docker Hub pulls (issue 21, item 1): the plan's decision
(components/releases/registry.py ``plan_dockerhub_pulls``), the ``dockerHub`` secret slots,
the pull Secrets (components/releases/pull_secrets.py) and the chart keys that name them.
The rendered side (every image of every stack, and how it is pulled) is
tests/rendered/test_rendered_images.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.registry.target import url_registry_target
from components.releases.pull_secrets import DOCKERHUB_AUTH_KEY, dockerconfigjson
from components.releases.registry import (
    DOCKERHUB_PULL_SECRET,
    PULL_SECRET_PATHS,
    DockerHubPulls,
    dockerhub_images,
    plan_dockerhub_pulls,
)
from components.secrets.document import SLOTS, parse_document
from tests.chart_data import chart_values, release_problems
from tests.release_fixtures import config
from tests.stack_runs import recorded_stack
from tools.mockrun import is_secret

PINS = {pin.release: pin for pin in charts.RELEASES}
ALL = ("traefik", "cert-manager", "binderhub", "prometheus", "grafana", "fluentd")
EXISTING = {"provider": "existing", "name": "mine", "kubernetesVersion": "1.36"}


def _plan(
    registry: dict[str, Any],
    cluster: dict[str, Any] | None = None,
    *,
    dockerhub: bool = False,
    registry_account: bool = True,
) -> DockerHubPulls:
    cfg = config(registry=registry, **({"cluster": cluster} if cluster else {}))
    assert cfg.registry is not None
    return plan_dockerhub_pulls(
        cfg.registry,
        cfg.cluster,
        url_registry_target(cfg.registry),
        dockerhub_images(ALL, "dind"),
        has_dockerhub_account=dockerhub,
        has_registry_account=registry_account,
    )


def test_the_docker_hub_images_of_a_full_stack() -> None:
    assert dockerhub_images(ALL, "dind") == {
        "traefik": ("library/traefik",),
        "cert-manager": (),
        "binderhub": ("library/docker",),
        "prometheus": (),
        "grafana": ("grafana/grafana", "library/busybox"),
        "fluentd": ("fluent/fluentd-kubernetes-daemonset",),
    }
    # No dind, no pruner: BinderHub runs no Docker Hub image.
    assert dockerhub_images(["binderhub"], "host") == {"binderhub": ()}


def test_a_stack_pulling_anonymously_is_refused_naming_every_image() -> None:
    with pytest.raises(ConfigError) as err:
        _plan({"url": "https://harbor.example.org", "prefix": "binder/b-"})
    message = str(err.value)
    for image in (
        "docker.io/library/traefik",
        "docker.io/library/docker",
        "docker.io/grafana/grafana",
        "docker.io/library/busybox",
        "docker.io/fluent/fluentd-kubernetes-daemonset",
    ):
        assert image in message
    for fix in ("dockerHub.username", "binder:dockerHubUsername", "systemImagesMirror"):
        assert fix in message
    assert "Traceback" not in message


def test_each_way_of_pulling_docker_hub_images() -> None:
    harbor = {"url": "https://harbor.example.org", "prefix": "binder/b-"}
    assert _plan(harbor, dockerhub=True).account == "dockerHub"
    mirrored = _plan({**harbor, "systemImagesMirror": "harbor.example.org/dockerhub"})
    assert (mirrored.via, mirrored.values_layer("traefik")) == ("mirror", {})
    # Pushing to Docker Hub: the registry account is a Docker Hub account.
    hub = _plan({"prefix": "example/binder-"})
    assert (hub.via, hub.account) == ("account", "registry")
    # A dockerHub account wins over it (e.g. a read-only token for pulls).
    assert _plan({"prefix": "example/binder-"}, dockerhub=True).account == "dockerHub"
    assert hub.namespaces == ("ingress", "binder", "monitoring", "logging")


def test_anonymous_pulls_only_on_a_cluster_of_ones_own() -> None:
    local = {"url": "http://localhost:5000", "prefix": "b-", "allowAnonymousDockerHub": True}
    assert _plan(local, EXISTING, registry_account=False).via == "anonymous"
    with pytest.raises(ConfigError, match=r"allowAnonymousDockerHub is true, but .* 'gke'"):
        _plan(local, registry_account=False)


@pytest.mark.parametrize(("release", "where"), sorted(PULL_SECRET_PATHS.items()))
def test_each_chart_takes_the_pull_secret_where_we_put_it(
    release: str, where: tuple[tuple[str, ...], bool]
) -> None:
    path, _ = where
    node: Any = chart_values(PINS[release])
    if path[0] == "jupyterhub":  # the binderhub chart's subchart keeps its own defaults
        node, path = chart_values(charts.JUPYTERHUB_SUBCHART), path[1:]
    for key in path:
        node = node[key]
    # harbor's default is the key with its list commented out (null, values.yaml @ v1.19.1).
    assert node in ([], None), f"{release}: {'.'.join(path)} is not an empty list in the chart"
    pulls = DockerHubPulls("account", "registry", {release: ("x/y",)})
    layer = pulls.values_layer(release)
    assert release_problems(PINS[release], layer) == []


def test_ebi_makes_a_pull_secret_in_every_namespace_with_a_docker_hub_image() -> None:
    ebi = recorded_stack("ebi")
    secrets = [
        r for r in ebi.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == DOCKERHUB_PULL_SECRET
    ]
    assert sorted(s.inputs["metadata"]["namespace"] for s in secrets) == [
        "binder", "ingress", "logging", "monitoring"
    ]
    for secret in secrets:
        assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
        # The account never travels in plaintext.
        assert is_secret(secret.wire["stringData"])
    pruner = ebi.one("kubernetes:apps/v1:DaemonSet")
    assert pruner.inputs["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": DOCKERHUB_PULL_SECRET}
    ]


def test_the_docker_config_holds_the_account_under_docker_hubs_key() -> None:
    doc = json.loads(dockerconfigjson("robot", "dckr_pat_x"))
    entry = doc["auths"][DOCKERHUB_AUTH_KEY]
    assert base64.b64decode(entry["auth"]).decode() == "robot:dckr_pat_x"
    assert list(doc["auths"]) == ["https://index.docker.io/v1/"]


def test_the_docker_hub_account_has_secret_slots() -> None:
    slots = {(s.section, s.key): s.config_key for s in SLOTS}
    assert slots[("dockerHub", "username")] == "dockerHubUsername"
    assert slots[("dockerHub", "password")] == "dockerHubPassword"
    found = parse_document("f.yaml", {"dockerHub": {"username": "u", "password": "p"}})
    assert found == {("dockerHub", "username"): "u", ("dockerHub", "password"): "p"}
