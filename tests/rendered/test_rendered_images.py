"""Every image of every stack, rendered with the real charts (tools/chart_render) together with
the program's own pods, and how each one is pulled (issue 21).

Docker Hub limits pulls without an account per source address
(https://docs.docker.com/docker-hub/usage/pulls/), and a cloud cluster's nodes share one NAT
address: so no Docker Hub image may be pulled anonymously, except on a cluster of one's own
that says so (``binder:registry.allowAnonymousDockerHub``). Each Docker Hub image is either
rewritten to ``systemImagesMirror`` or pulled with the ``dockerhub-pull`` Secret, a
``kubernetes.io/dockerconfigjson`` Secret the program makes in the pod's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from components.registry.target import DOCKERHUB_HOSTS
from components.releases.registry import (
    DOCKERHUB_PULL_SECRET,
    RELEASE_GROUPS,
    dockerhub_images,
)
from tests.rendered.objects import POD_TEMPLATE_PATHS, Index, Obj
from tests.rendered.support import CASES, Case, rendered, require_chart_data


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def registry_of(image: str) -> tuple[str, str]:
    """``(registry host, name inside it)`` of an image reference, the way the container
    runtime reads it (distribution/reference ``ParseNormalizedNamed``: a first component
    with a ``.`` or ``:``, or ``localhost``, is a host; otherwise the image is Docker Hub's,
    and a one-component name is under ``library/``)."""
    name = image.split("@", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "docker.io", name
    if host in DOCKERHUB_HOSTS:
        host = "docker.io"
        if "/" not in path:
            path = f"library/{path}"
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path = path[: len(path) - len(last)] + last.split(":", 1)[0]
    return host, path


def all_pods(index: Index) -> Iterator[tuple[Obj, Mapping[str, Any]]]:
    """Every pod template: the charts' and the program's own (raw) workloads."""
    yield from index.pods()
    for obj in index.raw:
        path = POD_TEMPLATE_PATHS.get(obj.kind)
        if path:
            template: Any = obj.body
            for step in path:
                template = template[step]
            yield obj, template


def image_table(index: Index) -> list[tuple[str, str, str]]:
    """``(owner, image, how it is pulled)`` of every container of every pod."""
    rows = []
    for owner, pod in all_pods(index):
        spec = pod.get("spec") or {}
        secrets = [s["name"] for s in spec.get("imagePullSecrets") or []]
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            host, _ = registry_of(container["image"])
            if host == "docker.io":
                how = (
                    f"Docker Hub account ({DOCKERHUB_PULL_SECRET})"
                    if DOCKERHUB_PULL_SECRET in secrets
                    else "ANONYMOUS from Docker Hub"
                )
            elif host == index.case.cfg.registry.system_images_mirror:  # type: ignore[union-attr]
                how = f"through the mirror {host}"
            else:
                pulled = f"pull secrets {', '.join(secrets)}" if secrets else "anonymous"
                how = f"{host}, {pulled}"
            rows.append((str(owner), container["image"], how))
    return sorted(set(rows))


def _listing(rows: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"  {owner}: {image} -- {how}" for owner, image, how in rows)


def test_registry_of_reads_references_like_the_runtime() -> None:
    assert registry_of("traefik:v3") == ("docker.io", "library/traefik")
    assert registry_of("fluent/fluentd:v1") == ("docker.io", "fluent/fluentd")
    assert registry_of("docker.io/library/docker:28-dind") == ("docker.io", "library/docker")
    assert registry_of("quay.io/jupyterhub/k8s-hub:4") == ("quay.io", "jupyterhub/k8s-hub")
    assert registry_of("k3d-registry.localhost:5000/x:1") == ("k3d-registry.localhost:5000", "x")
    assert registry_of("mirror.gcr.io/library/busybox@sha256:ab") == (
        "mirror.gcr.io",
        "library/busybox",
    )


def test_no_docker_hub_image_is_pulled_anonymously(index: Index) -> None:
    rows = image_table(index)
    assert rows
    registry = index.case.cfg.registry
    assert registry is not None
    anonymous = [r for r in rows if r[2].startswith("ANONYMOUS")]
    if registry.allow_anonymous_docker_hub:
        # Acknowledged for a cluster of one's own: the plan refuses it anywhere else.
        assert index.case.cfg.cluster.provider == "existing"
        return
    assert not anonymous, (
        "Docker Hub images pulled without an account:\n" + _listing(anonymous)
        + "\nevery image:\n" + _listing(rows)
    )


def test_each_pull_secret_is_a_docker_config_of_the_program(index: Index) -> None:
    """The ``dockerhub-pull`` Secret a pod names is the program's dockerconfigjson Secret in
    the pod's namespace."""
    for owner, pod in all_pods(index):
        names = [s["name"] for s in (pod.get("spec") or {}).get("imagePullSecrets") or []]
        if DOCKERHUB_PULL_SECRET not in names:
            continue
        [secret] = [
            o for o in index.raw
            if o.kind == "Secret" and o.name == DOCKERHUB_PULL_SECRET
            and o.namespace == owner.namespace
        ]
        assert secret.body["type"] == "kubernetes.io/dockerconfigjson", secret


def test_the_plans_docker_hub_images_are_the_ones_that_run(index: Index) -> None:
    """The plan names the Docker Hub images in its refusal and decides the namespaces that
    get a pull Secret from :func:`dockerhub_images`: it must match what really runs."""
    cfg = index.case.cfg
    assert cfg.binderhub is not None
    assert cfg.registry is not None
    releases = [r.name for r in index.case.releases]
    planned = dockerhub_images(releases, cfg.binderhub.image_builder_type)
    running: dict[str, set[str]] = {r: set() for r in releases}
    mirror = cfg.registry.system_images_mirror
    for owner, pod in all_pods(index):
        release = owner.release or "binderhub"  # the program's own pods: the builder's pruner
        spec = pod.get("spec") or {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            host, name = registry_of(container["image"])
            if host == "docker.io" or (mirror and container["image"].startswith(f"{mirror}/")):
                if mirror and host != "docker.io":
                    name = container["image"][len(mirror) + 1 :].rsplit(":", 1)[0]
                running[release].add(name)
    assert {r: set(i) for r, i in planned.items()} == running
    # Each release that runs one has a namespace for its pull Secret.
    for release, images in planned.items():
        assert not images or release in RELEASE_GROUPS, release
