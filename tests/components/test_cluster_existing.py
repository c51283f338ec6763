"""An existing cluster given by kubeconfig: file, $KUBECONFIG or the secret binder:kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import ConfigError
from tests.conftest import LOCAL_KUBECONFIG
from tools.mockrun import Recording, run_stack

LOCAL_CLUSTER = {"provider": "existing", "name": "local", "kubernetesVersion": "1.33"}


def test_current_context_from_kubeconfig_env() -> None:
    rec = run_stack("local")
    assert rec.outputs["cluster_endpoint"] == "https://127.0.0.1:6443"
    assert rec.outputs["cluster_name"] == "local"
    assert rec.secret_output("kubeconfig")
    assert rec.outputs["kubeconfig"] == LOCAL_KUBECONFIG
    provider = rec.one("pulumi:providers:kubernetes")
    assert provider.wire["kubeconfig"]["value"] == LOCAL_KUBECONFIG
    assert "context" not in provider.inputs  # the kubeconfig's current-context
    # Nothing is created in a cloud for an existing cluster.
    assert not [r for r in rec.resources if r.type.startswith(("gcp:", "openstack:"))]


def test_explicit_path_and_context(tmp_path: Path) -> None:
    path = tmp_path / "site.kubeconfig"
    path.write_text(LOCAL_KUBECONFIG)
    rec = run_stack(
        "local",
        overrides={
            "binder:cluster": {**LOCAL_CLUSTER, "kubeconfigPath": str(path), "context": "other"}
        },
    )
    assert rec.one("pulumi:providers:kubernetes").inputs["context"] == "other"


def test_secret_kubeconfig_wins_over_files(tmp_path: Path) -> None:
    text = LOCAL_KUBECONFIG.replace("127.0.0.1:6443", "partner.example.org:6443")
    rec = run_stack(
        "local",
        overrides={
            "binder:cluster": {**LOCAL_CLUSTER, "kubeconfigPath": str(tmp_path / "absent")}
        },
        secrets={"binder:kubeconfig": text},
    )
    assert rec.outputs["cluster_endpoint"] == "https://partner.example.org:6443"
    assert rec.secret_output("kubeconfig")
    assert rec.secret_output("cluster_endpoint")  # derived from a secret, so still one


@pytest.mark.parametrize(
    ("content", "context", "expected"),
    [
        (None, None, "cannot read"),
        ("clusters: [unclosed\n", None, "not valid YAML"),
        ("kind: Pod\n", None, "not a kubeconfig"),
        (LOCAL_KUBECONFIG, "missing-ctx", "context 'missing-ctx' not found"),
        (
            LOCAL_KUBECONFIG.replace("current-context: kind-binder\n", ""),
            None,
            "no current-context",
        ),
    ],
    ids=["unreadable", "not-yaml", "not-kubeconfig", "unknown-context", "no-current-context"],
)
def test_bad_kubeconfig_fails_before_any_resource(
    tmp_path: Path, content: str | None, context: str | None, expected: str
) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    cluster = {**LOCAL_CLUSTER, "kubeconfigPath": str(path)}
    if context:
        cluster["context"] = context
    recording = Recording()
    with pytest.raises(ConfigError, match=expected) as info:
        run_stack("local", overrides={"binder:cluster": cluster}, recording=recording)
    assert str(path) in str(info.value)
    assert recording.resources == [], "the error must come before any resource"
