"""An existing cluster given by kubeconfig: file, $KUBECONFIG or the secret binder:kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config.base import ConfigError
from tests import fast_yaml
from tests.conftest import LOCAL_KUBECONFIG
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording, run_stack

LOCAL_CLUSTER = {"provider": "existing", "name": "local", "kubernetesVersion": "1.33"}


def _contexts(kubeconfig: str) -> tuple[str, list[str], list[str], list[str]]:
    doc = fast_yaml.safe_load(kubeconfig)
    return (
        doc["current-context"],
        [c["name"] for c in doc["contexts"]],
        [c["name"] for c in doc["clusters"]],
        [u["name"] for u in doc["users"]],
    )


def test_current_context_from_kubeconfig_env() -> None:
    rec = recorded_stack("local")
    assert rec.outputs["cluster_endpoint"] == "https://127.0.0.1:6443"
    assert rec.outputs["cluster_name"] == "local"
    assert rec.secret_output("kubeconfig")
    # Reduced to the context in use: nothing else of the user's kubeconfig travels on.
    assert _contexts(rec.outputs["kubeconfig"]) == (
        "kind-binder", ["kind-binder"], ["kind-binder"], ["kind-binder"]
    )
    provider = rec.one("pulumi:providers:kubernetes")
    assert provider.wire["kubeconfig"]["value"] == rec.outputs["kubeconfig"]
    assert "context" not in provider.inputs  # the reduced kubeconfig selects it
    # Nothing is created in a cloud for an existing cluster.
    assert not [r for r in rec.resources if r.type.startswith(("gcp:", "openstack:"))]


def test_explicit_path_and_context_and_relative_files(tmp_path: Path) -> None:
    """A chosen context is what gets exported; files resolve next to the kubeconfig."""
    (tmp_path / "ca.pem").write_bytes(b"PARTNER CA")
    (tmp_path / "client.key").write_bytes(b"CLIENT KEY")
    site = fast_yaml.safe_load(LOCAL_KUBECONFIG)
    site["clusters"].append(
        {"name": "partner", "cluster": {"server": "https://k8s.partner.example:6443",
                                         "certificate-authority": "ca.pem"}}
    )
    site["users"].append({"name": "partner-admin", "user": {"client-key": "client.key"}})
    site["contexts"].append(
        {"name": "partner", "context": {"cluster": "partner", "user": "partner-admin"}}
    )
    path = tmp_path / "site.kubeconfig"
    path.write_text(yaml.safe_dump(site))
    rec = run_stack(
        "local",
        overrides={
            "binder:cluster": {**LOCAL_CLUSTER, "kubeconfigPath": str(path), "context": "partner"}
        },
    )
    exported = rec.outputs["kubeconfig"]
    assert _contexts(exported) == ("partner", ["partner"], ["partner"], ["partner-admin"])
    assert "local-test-token-not-a-secret" not in exported  # other users' credentials
    doc = fast_yaml.safe_load(exported)
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == "UEFSVE5FUiBDQQ=="
    assert doc["users"][0]["user"] == {"client-key-data": "Q0xJRU5UIEtFWQ=="}
    assert rec.outputs["cluster_endpoint"] == "https://k8s.partner.example:6443"
    assert rec.outputs["cluster_name"] == "local"


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


def test_plaintext_kubeconfig_in_the_stack_file_is_refused() -> None:
    recording = Recording()
    with pytest.raises(ConfigError, match="binder:kubeconfig is set in plaintext") as info:
        run_stack(
            "local", overrides={"binder:kubeconfig": LOCAL_KUBECONFIG}, recording=recording
        )
    assert "local-test-token-not-a-secret" not in str(info.value)
    assert recording.resources == []


@pytest.mark.parametrize(
    ("content", "context", "expected"),
    [
        (None, None, "cannot read"),
        ("clusters: [unclosed\n", None, "YAML syntax error at line 2, column 1"),
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


def test_a_token_file_is_inlined_and_an_inline_token_wins(tmp_path: Path) -> None:
    """client-go reads ``tokenFile`` and trims it; ``token`` wins when both are given."""
    (tmp_path / "token").write_text("  file-token-abc\n")
    site = fast_yaml.safe_load(LOCAL_KUBECONFIG)
    site["users"][0]["user"] = {"tokenFile": "token"}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(site))
    cluster = {**LOCAL_CLUSTER, "kubeconfigPath": str(path)}
    rec = run_stack("local", overrides={"binder:cluster": cluster})
    assert fast_yaml.safe_load(rec.outputs["kubeconfig"])["users"][0]["user"] == {
        "token": "file-token-abc"
    }
    site["users"][0]["user"] = {"tokenFile": "/proc/self/environ", "token": "inline"}
    path.write_text(yaml.safe_dump(site))
    rec = run_stack("local", overrides={"binder:cluster": cluster})  # the file is never read
    assert fast_yaml.safe_load(rec.outputs["kubeconfig"])["users"][0]["user"] == {"token": "inline"}


def test_a_referenced_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"x" * (256 * 1024 + 1))
    site = fast_yaml.safe_load(LOCAL_KUBECONFIG)
    site["clusters"][0]["cluster"] = {"server": "https://k", "certificate-authority": "ca.pem"}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(site))
    recording = Recording()
    too_big = r"certificate-authority 'ca\.pem' is larger than 256 KiB"
    with pytest.raises(ConfigError, match=too_big):
        run_stack(
            "local",
            overrides={"binder:cluster": {**LOCAL_CLUSTER, "kubeconfigPath": str(path)}},
            recording=recording,
        )
    assert recording.resources == []
