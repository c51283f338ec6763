"""tools/chart_render.py: the offline renderer itself (its checks of our objects live in
tests/rendered/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import fast_yaml
from tests.rendered.support import require_chart_data
from tools import chart_render
from tools.chart_render import (
    ChartDataMissingError,
    api_versions_for,
    placeholder,
    render_release,
    split_manifest,
)

TRAEFIK = chart_render.DEFAULT_CHARTS_DIR / "traefik" / "41.3.0"
PDB_VALUES = {"podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}}


def _pdb_api(api_versions: list[str]) -> str:
    require_chart_data()
    objects = render_release(
        TRAEFIK, name="traefik", namespace="ingress", values=PDB_VALUES,
        kube_version="1.33", api_versions=api_versions,
    )
    return next(o["apiVersion"] for o in objects if o["kind"] == "PodDisruptionBudget")


def test_api_versions_take_effect() -> None:
    """traefik asks `.Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget"`
    (templates/poddisruptionbudget.yaml): only with the cluster's APIs does it render the
    version every supported cluster serves."""
    assert _pdb_api(api_versions_for("1.33", [])) == "policy/v1"
    # Helm's own default set has no such entry: policy/v1beta1, removed in Kubernetes 1.25.
    assert _pdb_api([]) == "policy/v1beta1"


def test_kube_version_takes_effect(tmp_path: Path) -> None:
    """`.Capabilities.KubeVersion` is the stack's version, not the SDK's default."""
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        "  pdb: {{ .Capabilities.APIVersions.Has \"policy/v1\" | quote }}\n"
    )
    for version, expected in (("1.31", "v1.31.0"), ("v1.33.2", "v1.33.2")):
        [cm] = render_release(
            chart, name="p", namespace="ns", values={}, kube_version=version,
            api_versions=api_versions_for(version, []),
        )
        assert cm["data"] == {"kube": expected, "pdb": "true"}


def test_api_versions_come_from_the_validation_schemas() -> None:
    v131 = api_versions_for("1.31", [])
    assert {"v1", "v1/Pod", "apps/v1/Deployment", "policy/v1/PodDisruptionBudget"} <= set(v131)
    # Removed APIs, and alpha/beta ones that are off by default, are not offered.
    assert not {"policy/v1beta1", "batch/v1beta1", "autoscaling/v2beta2"} & set(v131)
    assert not [v for v in v131 if re.search(r"/v\d+(alpha|beta)\d+", v)]
    # Meta types (DeleteOptions lists every group/version ever registered) do not leak in.
    assert "policy/v1beta1/DeleteOptions" not in v131
    with pytest.raises(chart_render.ChartRenderError, match=r"no schemas for Kubernetes 1\.2"):
        api_versions_for("1.2", [])


def test_crds_add_their_served_versions() -> None:
    crd = {
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "cert-manager.io",
            "names": {"kind": "ClusterIssuer"},
            "versions": [{"name": "v1", "served": True}, {"name": "v1alpha2", "served": False}],
        },
    }
    found = set(api_versions_for("1.33", [crd]))
    assert {"cert-manager.io/v1", "cert-manager.io/v1/ClusterIssuer"} <= found
    assert "cert-manager.io/v1alpha2" not in found


def test_documents_split_as_helm_splits_them() -> None:
    # cert-manager joins documents as `---# comment`, which yaml.safe_load_all refuses.
    text = "a: 1\n---# Permission\nb: 2\n---\n\n---\nc: 3\n"
    # Like Go's regexp.Split in Helm, the empty document's `---` stays on the next one, where
    # YAML reads it as a document start.
    assert [fast_yaml.safe_load(d) for d in split_manifest(text)] == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_missing_chart_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChartDataMissingError) as caught:
        render_release(
            tmp_path / "traefik" / "41.3.0", name="t", namespace="ns", values={},
            kube_version="1.33", api_versions=[],
        )
    message = str(caught.value)
    assert str(tmp_path / "traefik" / "41.3.0") in message
    assert "make chart-data" in message


def test_placeholders_have_a_realistic_shape_and_hide_the_secret() -> None:
    token = placeholder("jupyterhub.proxy.secretToken", "real-token-value")
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    pem = placeholder("tls.cert", "-----BEGIN CERTIFICATE-----\nREAL\n-----END CERTIFICATE-----\n")
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert "REAL" not in pem
    assert pem.rstrip().endswith("-----END CERTIFICATE-----")
    assert placeholder("registry.username", "me").startswith("placeholder-user-")
    assert placeholder("adminPassword", "pw").startswith("placeholder-password-")
    nested = placeholder("registry", {"username": "u", "password": "p", "port": 5000})
    assert nested["port"] == 5000
    assert nested["username"] != "u"
    assert nested["password"] != "p"
    # Deterministic, and never a function of the secret's value.
    assert placeholder("a.token", "x") == placeholder("a.token", "y")
    assert placeholder("a.token", "x") != placeholder("b.token", "x")


def test_helm_test_hooks_are_not_installed(tmp_path: Path) -> None:
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "objects.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: test\n"
        "  annotations: {helm.sh/hook: test}\nspec: {containers: []}\n"
        "---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hook\n"
        "  annotations: {helm.sh/hook: post-install}\n"
    )
    (chart / "templates" / "NOTES.txt").write_text("Thanks for installing\n")
    objects = render_release(
        chart, name="p", namespace="ns", values={}, kube_version="1.33", api_versions=[]
    )
    assert [o["metadata"]["name"] for o in objects] == ["kept", "hook"]


def test_without_chart_sources_one_rendered_test_fails_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ../shared/charts missing, tests/rendered keeps ONE test, which fails saying what
    is missing and how to fetch it; the others are deselected, not a hundred failures."""
    from types import SimpleNamespace

    from tests.rendered import conftest, support

    monkeypatch.setattr(support, "DEFAULT_CHARTS_DIR", tmp_path / "charts")
    monkeypatch.setattr(conftest, "missing_chart_data", support.missing_chart_data)
    with pytest.raises(pytest.fail.Exception) as failed:
        support.require_chart_data()
    message = str(failed.value)
    assert "make chart-data" in message
    assert str(tmp_path / "charts") in message
    assert "binderhub/" in message

    deselected: list[object] = []
    config = SimpleNamespace(
        hook=SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items))
    )
    items = [
        SimpleNamespace(nodeid=n)
        for n in ("tests/a_test.py::t", "tests/rendered/x.py::t1", "tests/rendered/x.py::t2",
                  "tests/rendered/y.py::t3")
    ]
    kept = list(items)
    conftest.pytest_collection_modifyitems(config, kept)  # type: ignore[arg-type]
    assert [i.nodeid for i in kept] == ["tests/a_test.py::t", "tests/rendered/x.py::t1"]
    assert len(deselected) == 2


def test_no_secret_of_the_program_reaches_the_rendered_objects() -> None:
    """Every value a Release carries as a Pulumi secret is replaced before rendering: none
    of them appears in any rendered object, as is or base64-encoded (a Secret's data)."""
    from tests.rendered.support import CASES, rendered
    from tools.mockrun import is_secret, plaintext_leaks, unwrap

    require_chart_data()
    case = rendered(next(c for c in CASES if c.id == "gcp"))

    def secrets(value: object) -> list[str]:
        if is_secret(value):
            return [str(unwrap(value))]
        if isinstance(value, dict):
            return [s for v in value.values() for s in secrets(v)]
        if isinstance(value, list):
            return [s for v in value for s in secrets(v)]
        return []

    needles = [
        s for r in case.recording.of_type(chart_render.RELEASE_TYPE)
        for s in secrets(r.wire.get("values")) if len(s) >= 8
    ]
    # proxy, hub and metrics tokens, Grafana's password (gcp pushes to Artifact Registry
    # through Workload Identity: no registry account).
    assert len(needles) >= 4, needles
    leaks = [
        f"{release.name} {obj['kind']}/{obj['metadata']['name']}{path}"
        for release in case.releases
        for obj in release.objects
        for path in plaintext_leaks(obj, needles)
    ]
    assert not leaks, leaks
