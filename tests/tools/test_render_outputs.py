"""tools/render.py: the reviewable files -- block literals, manifests (sorted, one object per
document, redacted), resources.yaml (a changed flavor, node bound or role shows up) -- and a
render that is the same every time, so a diff of two renders shows only real changes.
"""

from __future__ import annotations

import base64
import difflib
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_kubernetes.core.v1 import Namespace
from pulumi_kubernetes.helm.v3 import Release, ReleaseArgs

from tests import fast_yaml
from tools import chart_render
from tools import render as render_module
from tools.mockrun import Recording, plaintext_leaks, run_program
from tools.redaction import CHECKSUM, LEAK, REDACTED, placeholder_texts
from tools.render import RELEASE_TYPE, render
from tools.render_files import dump

TOKEN = "s3cr3t-api-token-0123456789"
PEM = "-----BEGIN PRIVATE KEY-----\nSYNTHETIC-PRIVATE-KEY-DATA\n-----END PRIVATE KEY-----\n"
PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1m
scrape_configs:
  - job_name: binderhub
    static_configs:
      - targets: ["binder:80"]
"""


# --------------------------------------------------------------------------------------
# Block literals
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        PROMETHEUS_CONFIG,
        "no trailing newline\nsecond line",
        "  indented first line\nnext\n",
        "trailing spaces   \nare kept exactly\n",
        "two trailing newlines\n\n",
        "tab\tinside\nline\n",
    ],
)
def test_multi_line_strings_are_block_literals_and_round_trip(text: str) -> None:
    written = dump({"config": text, "one": "single line"})
    assert fast_yaml.safe_load(written) == {"config": text, "one": "single line"}
    assert "one: single line\n" in written
    # PyYAML puts no trailing spaces and no tab in a literal (its analyze_scalar); it quotes
    # such a text instead, which still reads back exactly.
    if "   \n" in text or "\t" in text:
        assert written.startswith('config: "'), written
    else:
        assert written.startswith("config: |"), written
        assert "\\n" not in written


def test_a_prometheus_config_reads_as_text() -> None:
    written = dump({"data": {"prometheus.yml": PROMETHEUS_CONFIG}})
    assert written == (
        "data:\n  prometheus.yml: |\n"
        + "".join(f"    {line}\n" for line in PROMETHEUS_CONFIG.splitlines())
    )


def test_long_lines_are_not_rewrapped() -> None:
    long = "x " * 200
    assert dump({"a": long.strip()}).count("\n") == 1


# --------------------------------------------------------------------------------------
# Manifests, from a synthetic release (no chart needed)
# --------------------------------------------------------------------------------------


def _program() -> None:
    ns = Namespace("apps-ns", metadata={"name": "apps"})
    Release(
        "apps-release",
        ReleaseArgs(
            name="binderhub",
            chart="binderhub",
            version="1.2.3",
            namespace="apps",
            values={
                "hub": {"apiToken": pulumi.Output.secret(TOKEN)},
                "tls": pulumi.Output.secret({"key": PEM}),
                "replicas": 2,
            },
        ),
        opts=pulumi.ResourceOptions(depends_on=[ns]),
    )


@pytest.fixture(scope="module")
def synthetic() -> Recording:
    return run_program(_program)


def _objects(token: str, pem: str) -> list[dict[str, Any]]:
    """What a chart might render from the values: the token inline, base64 in a Secret
    and in a ConfigMap, a checksum annotation, a multi-line config; unsorted."""
    b64 = base64.b64encode(token.encode()).decode()
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "hub", "namespace": "apps"},
            "spec": {
                "template": {
                    "metadata": {"annotations": {"checksum/secret": "0f" * 32, "keep": "me"}},
                    "spec": {
                        "containers": [
                            {"name": "hub", "args": [f"--token={token}"], "image": "hub:1.0"}
                        ]
                    },
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hub", "namespace": "apps"},
            "data": {"token": b64, "tls.key": base64.b64encode(pem.encode()).decode()},
            "stringData": {"values.yaml": f"token: {token}\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "b-config", "namespace": "apps"},
            "data": {"prometheus.yml": PROMETHEUS_CONFIG, "encoded": f"x{b64}"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a-config", "namespace": "apps"},
            "data": {"hub.py": f"c.token = '{token}'\nc.key = '''{pem}'''\n"},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hub"}},
    ]


def _chart_release(synthetic: Recording, objects: list[dict[str, Any]]) -> Any:
    return chart_render.RenderedRelease(
        resource="apps-release",
        chart="binderhub",
        version="1.2.3",
        name="binderhub",
        namespace="apps",
        objects=objects,
    )


def _placeholders(synthetic: Recording) -> tuple[str, str]:
    """The placeholders the chart renderer hands the chart for the token and the key."""
    values = chart_render.values_for_render(synthetic.one(RELEASE_TYPE))
    return values["hub"]["apiToken"], values["tls"]["key"]


def test_placeholder_texts_are_what_the_chart_sees_for_each_secret(synthetic: Recording) -> None:
    token, pem = _placeholders(synthetic)
    assert token != TOKEN
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert sorted(placeholder_texts(synthetic.one(RELEASE_TYPE))) == sorted(
        [token, pem]
    )


def test_manifests_are_sorted_one_object_per_document_and_redacted(
    synthetic: Recording, tmp_path: Path
) -> None:
    token, pem = _placeholders(synthetic)
    chart = _chart_release(synthetic, _objects(token, pem))
    result = render(synthetic, "test", tmp_path, charts=[chart], kube_version="1.33")
    assert result.leaks == []
    path = tmp_path / "test" / "manifests" / "binderhub.yaml"
    assert result.manifests == [path]
    text = path.read_text()
    assert text.startswith("# Helm release 'binderhub' (resource apps-release) of stack 'test'")
    assert "5 objects as the chart renders them offline for Kubernetes 1.33" in text
    objects = list(fast_yaml.safe_load_all(text))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "a-config"),
        ("ConfigMap", "b-config"),
        ("Deployment", "hub"),
        ("Secret", "hub"),
        ("ServiceAccount", "hub"),
    ]
    assert text.count("\n---\n") + text.startswith("---\n") == 5
    a_config, b_config, deployment, secret, _ = objects
    # The placeholders, as text: replaced in place, the rest of the text kept.
    assert a_config["data"]["hub.py"] == (
        f"c.token = '{REDACTED}'\nc.key = '''{REDACTED}'''\n"
    )
    # ... inside base64: the value is redacted whole.
    assert b_config["data"]["encoded"] == REDACTED
    assert b_config["data"]["prometheus.yml"] == PROMETHEUS_CONFIG
    assert "  prometheus.yml: |\n    global:\n" in text
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert containers[0]["args"] == [f"--token={REDACTED}"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"checksum/secret": CHECKSUM, "keep": "me"}
    assert secret["data"] == {"token": REDACTED, "tls.key": REDACTED}
    assert secret["stringData"] == {"values.yaml": REDACTED}
    # Nowhere, in no encoding: neither the real secrets nor their placeholders.
    written = "".join(p.read_text() for p in (tmp_path / "test").rglob("*") if p.is_file())
    needles = [TOKEN, PEM.strip(), "SYNTHETIC-PRIVATE-KEY-DATA", token, pem.strip()]
    assert list(plaintext_leaks(written, needles)) == []
    assert f"Rendered objects (5 objects, Kubernetes 1.33): {tmp_path}/test/manifests/" in (
        result.text
    )


def test_a_real_secret_in_a_rendered_object_is_a_leak(synthetic: Recording, tmp_path: Path) -> None:
    """The renderer never hands the chart a real secret; should one reach an object all the
    same, it is not written and the render fails (exit 1 from main)."""
    chart = _chart_release(synthetic, _objects(TOKEN, PEM))
    result = render(synthetic, "test", tmp_path, charts=[chart], kube_version="1.33")
    assert "binderhub:ConfigMap/a-config.data.hub.py" in result.leaks
    assert "binderhub:Deployment/hub.spec.template.spec.containers[0].args[0]" in result.leaks
    written = (tmp_path / "test" / "manifests" / "binderhub.yaml").read_text()
    assert list(plaintext_leaks(written, [TOKEN, "SYNTHETIC-PRIVATE-KEY-DATA"])) == []
    assert LEAK in written
    assert "LEAK: binderhub:ConfigMap/a-config.data.hub.py" in result.text


def test_without_charts_no_manifests_are_left_behind(synthetic: Recording, tmp_path: Path) -> None:
    token, pem = _placeholders(synthetic)
    render(synthetic, "test", tmp_path, charts=[_chart_release(synthetic, _objects(token, pem))])
    assert list((tmp_path / "test" / "manifests").glob("*.yaml"))
    result = render(synthetic, "test", tmp_path)
    assert result.manifests == []
    assert not list((tmp_path / "test" / "manifests").glob("*.yaml"))


def test_a_release_named_like_a_render_file_keeps_its_resource_name(tmp_path: Path) -> None:
    def program() -> None:
        Release("odd", ReleaseArgs(name="resources", chart="c", version="1", values={"a": 1}))

    render(run_program(program), "test", tmp_path)
    assert fast_yaml.safe_load((tmp_path / "test" / "odd.yaml").read_text()) == {"a": 1}
    assert (tmp_path / "test" / "resources.yaml").read_text().startswith("# Every resource")


# --------------------------------------------------------------------------------------
# resources.yaml: a change of flavor, node bounds or a role shows up
# --------------------------------------------------------------------------------------


def _resources(tmp_path: Path, name: str, overrides: dict[str, Any] | None = None) -> str:
    recording = render_module.run_stack("ebi", overrides=overrides)
    render(recording, "ebi", tmp_path / name)
    return (tmp_path / name / "ebi" / "resources.yaml").read_text()


def _changed(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_resources_show_a_changed_flavor_node_bound_and_role(tmp_path: Path) -> None:
    raw = render_module._raw_stack_config("ebi", None)
    cluster = raw["binder:cluster"]
    users = raw["binder:users"]
    assert cluster["template"]["flavor"] == "s1.jumbo"
    assert cluster["nodeGroups"][0]["autoscaling"]["maxNodes"] == 10
    assert users[1] == {
        "name": "bioexcel-support",
        "kind": "Group",
        "role": "view",
        "namespaces": ["binder", "monitoring"],
        "mayReadCredentials": True,
    }
    before = _resources(tmp_path, "before")
    changed_cluster = {
        **cluster,
        "template": {**cluster["template"], "flavor": "s1.huge"},
        "nodeGroups": [
            {**cluster["nodeGroups"][0], "autoscaling": {"minNodes": 1, "maxNodes": 12}}
        ],
    }
    after = _resources(tmp_path, "after", {"binder:cluster": changed_cluster})
    changes = _changed(before, after)
    assert changes == [
        "-  flavor: s1.jumbo",
        "+  flavor: s1.huge",
        "-  maxNodeCount: 10",
        "+  maxNodeCount: 12",
    ]  # and nothing else moved: the render is stable, no order or id noise
    # A role: bioexcel-support may edit, in binder only (the program refuses `edit` where
    # kube-state-metrics' ServiceAccount could be borrowed; in binder, where privileged pods
    # run, only with mayReadDeployerToken).
    edit = {**users[1], "role": "edit", "namespaces": ["binder"], "mayReadDeployerToken": True}
    del edit["mayReadCredentials"]  # implied by mayReadDeployerToken
    changed_users = [users[0], edit, users[2]]
    role = _changed(before, _resources(tmp_path, "role", {"binder:users": changed_users}))
    assert "-    name: view" in role
    assert "+    name: edit" in role
    assert "-name: bootstrap-user-bioexcel-support:monitoring" in role
    # The documents say which resource each change belongs to.
    docs = {(d["type"], d["name"]): d for d in fast_yaml.safe_load_all(after) if d}
    template_type = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
    template = docs[(template_type, "cluster-template")]
    assert template["inputs"]["flavor"] == "s1.huge"
    group = docs[("openstack:containerinfra/nodeGroup:NodeGroup", "cluster-user")]
    assert group["inputs"]["maxNodeCount"] == 12
    assert group["parent"] == "cluster (MagnumKubernetesCluster)"


def test_resources_hold_no_helm_release_and_no_secret(tmp_path: Path) -> None:
    recording = render_module.run_stack("ebi")
    result = render(recording, "ebi", tmp_path)
    assert result.resources is not None
    documents = [d for d in fast_yaml.safe_load_all(result.resources.read_text()) if d]
    expected = {
        (r.type, r.name) for r in recording.resources if r.custom and r.type != RELEASE_TYPE
    }
    assert [(d["type"], d["name"]) for d in documents] == sorted(expected)
    # The deploy agent's roles, the namespaces and the raw objects are all there.
    kinds = {d["type"].rsplit(":", 1)[-1] for d in documents}
    assert {"ClusterRole", "RoleBinding", "Namespace", "ClusterIssuer", "NodeGroup"} <= kinds
    secret = next(d for d in documents if d["type"] == "kubernetes:core/v1:Secret"
                  and "stringData" in d["inputs"])  # fmt: skip
    assert set(secret["inputs"]["stringData"].values()) == {REDACTED}
    provider = next(d for d in documents if d["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == REDACTED
    assert result.leaks == []


# --------------------------------------------------------------------------------------
# A render is the same every time
# --------------------------------------------------------------------------------------


def test_two_renders_of_a_stack_write_identical_files(
    forked_renders: list[dict[str, Any]],
) -> None:
    """Charts fill some Secrets with random values (JupyterHub's cookie secret) and digest
    them into checksum annotations; the written files must not carry that randomness. The
    two gcp renders of tests/forked_renders.py ran in processes of their own, each running
    Helm afresh (they are forked from one parent that rendered nothing, so they share its
    string hash seed)."""
    folders = [Path(r["folder"]) / "render" / "gcp" for r in forked_renders if r["stack"] == "gcp"]
    assert len(folders) == 2
    contents = [
        {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
        for root in folders
    ]
    assert contents[0] == contents[1]
    assert "manifests/binderhub.yaml" in contents[0]
    assert CHECKSUM in contents[0]["manifests/binderhub.yaml"]
