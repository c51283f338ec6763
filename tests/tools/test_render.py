"""tools/render.py: the plan tree, dependencies, values files and their redaction.

A synthetic program (a component with children, a Release with secret values) runs on the
mock engine through tools.mockrun.run_program; then the real stacks are rendered end to end.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_kubernetes import Provider
from pulumi_kubernetes.core.v1 import ConfigMap, Namespace
from pulumi_kubernetes.helm.v3 import Release, ReleaseArgs

from components.config.base import ConfigError
from tests import fast_yaml
from tests.hostile import alias_bomb
from tools import mockrun as mockrun_module
from tools import render as render_module
from tools.mockrun import (
    SECRET_SIG,
    SIG_KEY,
    Recording,
    is_secret,
    plaintext_leaks,
    run_program,
    stack_config,
)
from tools.mockrun import run_stack as mock_run_stack
from tools.plan_tree import provider_name
from tools.redaction import LEAK, MIN_NEEDLE, REDACTED, placeholder_texts, secret_texts
from tools.render import PLACEHOLDER_SERVER, RELEASE_TYPE, render
from tools.render_files import RESOURCES_FILE, object_key

TOKEN = "s3cr3t-api-token-0123456789"
CERT = "-----BEGIN CERTIFICATE-----\nSYNTHETIC-CERT-DATA\n-----END CERTIFICATE-----"
KEY = "SYNTHETIC-PRIVATE-KEY-DATA"
OUTPUT_SECRET = "stack-output-secret-abcdef"


class App(pulumi.ComponentResource):
    """A component with a namespace and a release that depends on it."""

    def __init__(
        self, name: str, values: dict[str, Any], release: str = "binderhub",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("binder:test:App", name, None, opts)
        ns = Namespace(
            f"{name}-ns", metadata={"name": name}, opts=pulumi.ResourceOptions(parent=self)
        )
        self.release = Release(
            f"{name}-release",
            ReleaseArgs(
                name=release, chart="binderhub", version="1.2.3", namespace=name, values=values
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns], protect=True),
        )
        self.register_outputs({})


def _values() -> dict[str, Any]:
    return {
        "config": {"BinderHub": {"hub_url": "https://hub.example.org"}},
        "jupyterhub": {
            "hub": {"services": {"binder": {"apiToken": pulumi.Output.secret(TOKEN)}}},
            "proxy": {"service": {"type": "ClusterIP"}},
        },
        # A whole secret mapping: keys stay visible, every value is redacted.
        "tls": pulumi.Output.secret({"crt": CERT, "key": KEY, "chain": [CERT, CERT]}),
        "replicas": 2,
        "cpu": 0.5,
        "removed": None,
    }


def _program() -> None:
    app = App("apps", _values())
    # A second component whose release waits on the first one.
    App(
        "monitoring",
        {"server": {"enabled": True}},
        release="prometheus",
        opts=pulumi.ResourceOptions(depends_on=[app.release]),
    )
    pulumi.export("hub", "https://hub.example.org")
    pulumi.export("token", pulumi.Output.secret(OUTPUT_SECRET))


@pytest.fixture(scope="module")
def synthetic() -> Recording:
    return run_program(_program)


def _secret_leaves(value: Any, inside: bool = False) -> int:
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        return _secret_leaves(value.get("value"), True)
    if isinstance(value, dict):
        return sum(_secret_leaves(v, inside) for v in value.values())
    if isinstance(value, list):
        return sum(_secret_leaves(v, inside) for v in value)
    return 1 if inside else 0


def _files(directory: Path) -> dict[str, str]:
    """The values files (every top-level YAML file but resources.yaml)."""
    return {
        p.name: p.read_text()
        for p in sorted(directory.glob("*.yaml"))
        if p.name != RESOURCES_FILE
    }


def _load(text: str) -> Any:
    return fast_yaml.safe_load(text)


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------


def test_plan_is_a_tree_by_parent(synthetic: Recording, tmp_path: Path) -> None:
    text = render(synthetic, "test", tmp_path).text
    lines = text.splitlines()
    # Each component at the top level, its children indented under it, last one with └──.
    start = lines.index("binder:test:App  apps  [component]")
    assert lines[start + 1] == "├── kubernetes:core/v1:Namespace  apps-ns"
    assert lines[start + 2] == "└── kubernetes:helm.sh/v3:Release  apps-release  [protect]"
    assert lines[start + 3] == "        depends on: apps-ns (Namespace)"
    assert "binder:test:App  monitoring  [component]" in lines
    # Every registered resource is on exactly one line.
    for r in synthetic.resources:
        assert sum(1 for line in lines if line.endswith(f"{r.type}  {r.name}") or
                   f"{r.type}  {r.name}  [" in line) == 1, r.name
    assert "6 resources: 2 components, 4 custom resources, 0 providers" in text
    assert "stack outputs: hub, token (secret)" in text


def test_dependencies_are_listed_by_name_and_type(synthetic: Recording, tmp_path: Path) -> None:
    lines = render(synthetic, "test", tmp_path).text.splitlines()
    top = lines.index("binder:test:App  monitoring  [component]")
    # The component's own dependency is printed under it, before its children.
    assert lines[top + 1] == "│   depends on: apps-release (Release)"
    release_line = next(
        i for i, line in enumerate(lines) if "Release  monitoring-release" in line
    )
    deps = lines[release_line + 1].strip(" │")
    assert deps.startswith("depends on: ")
    assert "monitoring-ns (Namespace)" in deps
    # The parent is implied by the tree, so it is not repeated as a dependency.
    assert "monitoring (App)" not in deps


class Site(pulumi.ComponentResource):
    """A component whose children inherit an explicit Kubernetes provider."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("binder:test:Site", name, None, opts)
        ns = Namespace(f"{name}-ns", opts=pulumi.ResourceOptions(parent=self))
        ConfigMap(f"{name}-cm", opts=pulumi.ResourceOptions(parent=ns))
        self.register_outputs({})


def test_each_resource_shows_the_provider_it_goes_through(tmp_path: Path) -> None:
    def program() -> None:
        k8s = Provider("cluster-k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        Site("site", opts=pulumi.ResourceOptions(providers={"kubernetes": k8s}))
        Namespace("ambient")  # no provider named: the engine's default one

    lines = render(run_program(program), "test", tmp_path).text.splitlines()
    assert "└── kubernetes:core/v1:Namespace  site-ns  via cluster-k8s" in lines
    # Inherited through two levels of parents.
    assert "    └── kubernetes:core/v1:ConfigMap  site-cm  via cluster-k8s" in lines
    # Neither a component nor the provider itself nor a default-provider resource says "via".
    assert "binder:test:Site  site  [component]" in lines
    assert "pulumi:providers:kubernetes  cluster-k8s" in lines
    assert "kubernetes:core/v1:Namespace  ambient" in lines


def test_provider_name_from_a_reference() -> None:
    urn = "urn:pulumi:ebi::binder::binder:cluster:C$pulumi:providers:kubernetes::cluster-k8s"
    assert provider_name(f"{urn}::04da6b54", {}) == "cluster-k8s"
    default = "urn:pulumi:ebi::binder::pulumi:providers:openstack::default_5_0_0"
    assert provider_name(f"{default}::id", {}) == "default openstack provider"
    assert provider_name("", {}) is None


def test_values_files_are_written_per_release_with_secrets_redacted(
    synthetic: Recording, tmp_path: Path
) -> None:
    result = render(synthetic, "test", tmp_path)
    files = _files(tmp_path / "test")
    assert set(files) == {"binderhub.yaml", "prometheus.yaml"}
    assert [r.release for r in result.releases] == ["binderhub", "prometheus"]
    values = _load(files["binderhub.yaml"])
    assert values["jupyterhub"]["hub"]["services"]["binder"]["apiToken"] == REDACTED
    assert values["tls"] == {"chain": [REDACTED, REDACTED], "crt": REDACTED, "key": REDACTED}
    # Everything that is not secret is rendered as given, nulls included (Helm deletes those).
    assert values["config"] == {"BinderHub": {"hub_url": "https://hub.example.org"}}
    assert values["jupyterhub"]["proxy"] == {"service": {"type": "ClusterIP"}}
    # Numbers travel as doubles on the wire; whole ones are written back as integers.
    assert values["replicas"] == 2
    assert isinstance(values["replicas"], int)
    assert values["cpu"] == 0.5
    assert "removed" in values
    assert values["removed"] is None
    assert files["binderhub.yaml"].startswith("# Helm release 'binderhub' (resource apps-release)")
    assert "chart binderhub 1.2.3, namespace apps" in files["binderhub.yaml"]
    assert _load(files["prometheus.yaml"]) == {"server": {"enabled": True}}
    assert result.leaks == []


def test_nothing_secret_is_printed_or_written(synthetic: Recording, tmp_path: Path) -> None:
    # The secrets really are secrets on the wire (else this test would prove nothing).
    wire_secrets = {t for r in synthetic.resources for t in secret_texts(r.wire)}
    wire_secrets |= set(secret_texts(synthetic.outputs_wire))
    assert {TOKEN, CERT, KEY, OUTPUT_SECRET} <= wire_secrets
    result = render(synthetic, "test", tmp_path)
    written = "".join(_files(tmp_path / "test").values())
    for text in (result.text, written):
        for secret in (TOKEN, CERT, KEY, OUTPUT_SECRET, "SYNTHETIC"):
            assert secret not in text


def test_secret_texts_whole_values_only_leave_out_what_sits_beside_a_secret() -> None:
    wire = {"creds": {SIG_KEY: SECRET_SIG, "value": {"url": "https://r.example.org",
                                                      "password": "pw-0123456789"}},
            "token": {SIG_KEY: SECRET_SIG, "value": "tok-0123456789"}}
    assert sorted(secret_texts(wire)) == ["https://r.example.org", "pw-0123456789",
                                          "tok-0123456789"]
    assert list(secret_texts(wire, whole_only=True)) == ["tok-0123456789"]


def test_plaintext_copy_of_a_secret_is_redacted_and_reported(tmp_path: Path) -> None:
    def leaky() -> None:
        App(
            "leaky",
            {
                "auth": {"token": pulumi.Output.secret(TOKEN)},
                # The same token pasted into a plaintext value: a bug the render must not echo.
                "extraEnv": [{"name": "TOKEN", "value": f"Bearer {TOKEN}"}],
                "fromConfig": "uses config-secret-value-42 inline",
            },
        )

    result = render(run_program(leaky), "test", tmp_path, ["config-secret-value-42"])
    assert result.leaks == [
        "leaky-release:values.extraEnv[0].value",
        "leaky-release:values.fromConfig",
    ]
    written = (tmp_path / "test" / "binderhub.yaml").read_text()
    assert TOKEN not in written
    assert "config-secret-value-42" not in written
    values = _load(written)
    assert values["extraEnv"] == [{"name": "TOKEN", "value": LEAK}]
    assert values["fromConfig"] == LEAK
    assert "LEAK: leaky-release:values.extraEnv[0].value" in result.text
    assert TOKEN not in result.text


def test_stale_files_are_removed_and_clashing_names_fall_back(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "gone.yaml").write_text("old: release\n")
    (tmp_path / "test" / "notes.txt").write_text("kept")

    def twins() -> None:
        App("one", {"a": 1}, release="same")
        App("two", {"b": 2}, release="same")

    render(run_program(twins), "test", tmp_path)
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == [
        "notes.txt", "one-release.yaml", "plan.txt", "resources.yaml", "two-release.yaml"
    ]


def test_no_release_is_said_so(tmp_path: Path) -> None:
    def bare() -> None:
        Namespace("ns", metadata={"name": "x"})

    text = render(run_program(bare), "test", tmp_path).text
    assert "kubernetes:core/v1:Namespace  ns" in text.splitlines()
    assert "no Helm release in this stack" in text


# --------------------------------------------------------------------------------------
# SOPS files are never decrypted
# --------------------------------------------------------------------------------------


def test_placeholder_decrypt_keeps_keys_and_shapes_pem_values(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text(
        "registry:\n  username: ENC[AES256_GCM,data:abc,type:str]\n"
        "tls:\n  certificate: ENC[AES256_GCM,data:def,type:str]\n"
        "  key: ENC[AES256_GCM,data:ghi,type:str]\n"
        "sops:\n  mac: ENC[AES256_GCM,data:x,type:str]\n  version: 3.11.0\n"
    )
    doc = render_module.placeholder_decrypt(path, "secrets.yaml")
    assert doc["registry"] == {"username": "render-placeholder-for-registry.username"}
    assert doc["tls"]["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY-----" in doc["tls"]["key"]
    assert "sops" not in doc


def test_placeholders_follow_each_slot_and_the_type_sops_recorded(tmp_path: Path) -> None:
    """Issue 20, partner site: `logging.caCertificate` failed a render ("is not a PEM
    certificate") because only keys named certificate/key got a PEM placeholder; and an
    unquoted number in a secrets file passed the render and failed the real run."""
    path = tmp_path / "secrets.yaml"
    path.write_text(
        "logging:\n  caCertificate: ENC[AES256_GCM,data:abc,type:str]\n"
        "  password: ENC[AES256_GCM,data:def,type:int]\n"
        "sops:\n  mac: ENC[AES256_GCM,data:x,type:str]\n  version: 3.11.0\n"
    )
    doc = render_module.placeholder_decrypt(path, "secrets.yaml")
    assert doc["logging"]["caCertificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert doc["logging"]["password"] == 0  # what sops would hand over: a number
    from components.secrets.document import parse_document
    from components.secrets.sops import SecretsError

    with pytest.raises(SecretsError, match=r"logging\.password: must be a string"):
        parse_document("secrets.yaml", doc)
    doc["logging"]["password"] = "x"
    assert parse_document("secrets.yaml", doc)[("logging", "caCertificate")].startswith("-----")


#: A private registry with credentials (a Harbor robot account, say): its URL travels beside
#: the credentials, as a secret, in z2jh's imagePullSecret.
HARBOR = {"binder:registry": {"url": "https://harbor.example.org",
                              "prefix": "harbor.example.org/binder/binder-ebi-"}}


def test_a_private_registry_with_credentials_renders_without_a_false_leak(
    tmp_path: Path,
) -> None:
    """Issue 20: `make render` reported image_prefix and registry.url as "a secret's text
    outside a Pulumi secret". Only secret material counts; a real leak is still caught."""
    recording = render_module.run_stack("ebi", HARBOR)
    config, secret_keys = stack_config("ebi", HARBOR)
    material, public = render_module.secret_and_public_config(config, secret_keys)
    clean = render(recording, "ebi", tmp_path / "clean", material, identifiers=public)
    assert clean.leaks == []
    # The same recording with the registry password (a secrets-file placeholder) and a
    # generated token pasted into plaintext values: each is caught (config secrets: above).
    release = next(r for r in recording.resources if r.name == "releases-binderhub-release")
    token = next(t for t in secret_texts(release.wire) if t.startswith("mock-random-"))
    pasted = {
        "password": "x render-placeholder-for-registry.password",
        "token": f"Bearer {token}",
        "username": "render-placeholder-for-registry.username",  # a name: no leak
    }
    release.wire["values"]["pasted"] = pasted
    leaky = render(recording, "ebi", tmp_path / "leaky", material, identifiers=public)
    assert sorted(leaky.leaks) == [
        f"releases-binderhub-release:values.pasted.{k}" for k in ("password", "token")
    ]


def test_the_render_shows_every_warning_a_real_run_prints(tmp_path: Path) -> None:
    """Issue 20: `make render` hid the program's warnings (a partner site learnt of
    "pushing anonymously" only from its first real run)."""
    recording = render_module.run_stack("local")
    warned = [line for line in recording.logs if line.startswith("warning: ")]
    assert any("anonymously" in line for line in warned), recording.logs
    result = render(recording, "local", tmp_path)
    for line in warned:
        assert f"  {line}" in result.text
    assert "(a real run prints the same)" in (tmp_path / "local" / "plan.txt").read_text()


def test_placeholder_decrypt_still_refuses_a_plaintext_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("registry:\n  password: hunter2\n")
    with pytest.raises(ConfigError, match="not SOPS-encrypted") as info:
        render_module.placeholder_decrypt(path, "plain.yaml")
    assert "hunter2" not in str(info.value)


# --------------------------------------------------------------------------------------
# The real stacks, end to end through the command line
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["ebi", "gcp", "local"])
def test_render_of_the_real_stacks(stack: str, forked_renders: list[dict[str, Any]]) -> None:
    # `python -m tools.render <stack>` in a process of its own with no SOPS key, no
    # kubeconfig and no home of the tests' (tests/forked_renders.py): the render must need
    # none of them. The child kept the program's recording beside what it wrote.
    result = next(r for r in forked_renders if r["stack"] == stack)
    assert result["returncode"] == 0, result["stderr"]
    folder = Path(result["folder"])
    rec: Recording = pickle.loads((folder / "recording.pickle").read_bytes())  # noqa: S301
    tmp_path = folder / "render"
    out = result["stdout"]
    lines = out.splitlines()
    assert lines[0].startswith(f"Offline plan of stack '{stack}'")
    for r in rec.resources:
        assert any(f"{r.type}  {r.name}" in line for line in lines), r.name
    # The cluster sits under its component, and the kubernetes provider depends on it.
    assert any(line.startswith("binder:cluster") for line in lines)
    assert any(line.strip(" │").startswith("depends on: ") for line in lines)
    # Every in-cluster object goes through the cluster's provider, and says so.
    in_cluster = [r for r in rec.resources if r.custom and r.type.startswith("kubernetes:")]
    assert in_cluster
    for r in in_cluster:
        (line,) = [x for x in lines if f"{r.type}  {r.name}" in x]
        assert line.endswith("  via cluster-k8s"), line
    existing = stack == "local"
    noted = any(line.startswith("note: existing cluster: a placeholder") for line in lines)
    assert noted is existing
    releases = rec.of_type(RELEASE_TYPE)
    files = _files(tmp_path / stack)
    resources = (tmp_path / stack / "resources.yaml").read_text()
    assert resources.startswith(f"# Every resource of stack '{stack}'")
    assert len(files) == len(releases)
    manifests = {p.name: p.read_text() for p in (tmp_path / stack / "manifests").glob("*.yaml")}
    assert set(manifests) == set(files), "one manifests file per release"
    for name, text in manifests.items():
        objects = list(fast_yaml.safe_load_all(text))
        assert objects, name
        assert all(isinstance(o, dict) and o.get("kind") for o in objects), name
        assert [object_key(o) for o in objects] == sorted(
            object_key(o) for o in objects
        ), f"{name}: objects are sorted by kind, namespace, name"
        for obj in objects:  # every Secret's values are redacted, keys kept
            if obj["kind"] == "Secret":
                for field in ("data", "stringData"):
                    assert set((obj.get(field) or {}).values()) <= {REDACTED}, name
    assert any(
        o["kind"] == "Secret" for t in manifests.values() for o in fast_yaml.safe_load_all(t))
    assert (tmp_path / stack / "plan.txt").read_text().startswith(lines[0])
    for name, text in files.items():
        assert isinstance(_load(text), dict), name
    # Each file holds one redaction mark per secret leaf of its release's values on the wire.
    marks = 0
    for release in releases:
        text = files[f"{release.inputs['name']}.yaml"]
        expected = _secret_leaves(release.wire.get("values"))
        assert text.count(REDACTED) - 1 == expected, release.name  # -1: the header line
        marks += expected
    if releases:
        assert marks > 0, "the stack's releases carry secrets: some must have been redacted"
    # Nothing secret on stdout or on disk: neither the program's secrets nor the stack's.
    config, secret_keys = stack_config(stack)
    secrets = {t for r in rec.resources for t in secret_texts(r.wire)}
    secrets |= set(secret_texts(rec.outputs_wire)) | {config[k] for k in secret_keys}
    secrets = {s for s in secrets if len(s) >= 8}
    # Every file the render wrote (values, resources, manifests, plan), in any encoding.
    written = "".join(p.read_text() for p in sorted((tmp_path / stack).rglob("*")) if p.is_file())
    placeholders = [t for r in releases for t in placeholder_texts(r)]
    placeholders = [t for t in placeholders if len(t) >= MIN_NEEDLE]
    assert bool(placeholders) is bool(releases)
    assert list(plaintext_leaks(out, sorted(secrets))) == []
    assert list(plaintext_leaks(written, sorted(secrets | set(placeholders)))) == []


def test_cli_errors_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render_module.main(["nope", "--out", str(tmp_path)]) == 2
    assert "Pulumi.nope.yaml does not exist (stacks: " in capsys.readouterr().err

    def broken(_: str) -> Recording:
        raise ConfigError("binder:binderhub.host: must be a DNS name; set it in Pulumi.ebi.yaml")

    monkeypatch.setattr(render_module, "run_stack", broken)
    assert render_module.main(["ebi", "--out", str(tmp_path)]) == 1
    assert "error: binder:binderhub.host: must be a DNS name" in capsys.readouterr().err


def test_missing_chart_sources_stop_the_render_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ../shared/charts the manifests cannot be rendered: one clear error naming
    `make chart-data`, exit 1, and no manifests written."""
    code = render_module.main(
        ["local", "--out", str(tmp_path / "out"), "--charts-dir", str(tmp_path / "none")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: The upstream chart sources are missing: ")
    assert "make chart-data" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_plan_is_the_same_whatever_the_registration_order(tmp_path: Path) -> None:
    def forward() -> None:
        for name in ("alpha", "beta", "gamma"):
            App(name, {"n": name}, release=name)

    def backward() -> None:
        for name in ("gamma", "beta", "alpha"):
            App(name, {"n": name}, release=name)

    first = render(run_program(forward), "test", tmp_path / "a").text
    second = render(run_program(backward), "test", tmp_path / "b").text
    assert first.replace(str(tmp_path / "a"), "") == second.replace(str(tmp_path / "b"), "")
    roots = [line for line in first.splitlines() if line.startswith("binder:test:App")]
    assert roots == [f"binder:test:App  {n}  [component]" for n in ("alpha", "beta", "gamma")]


# --------------------------------------------------------------------------------------
# Kubeconfigs are never read
# --------------------------------------------------------------------------------------

LOCAL_CLUSTER = {"provider": "existing", "name": "local", "kubernetesVersion": "1.33"}


def _used_kubeconfig(rec: Recording) -> dict[str, Any]:
    """The kubeconfig the cluster's Kubernetes provider was given (a secret on the wire)."""
    provider = rec.one("pulumi:providers:kubernetes")
    assert is_secret(provider.wire["kubeconfig"])
    return dict(fast_yaml.safe_load(provider.inputs["kubeconfig"]))


def _server(kubeconfig: dict[str, Any]) -> str:
    (cluster,) = kubeconfig["clusters"]
    return str(cluster["cluster"]["server"])


def test_existing_cluster_renders_with_a_placeholder_whatever_kubeconfig_is_around(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kubeconfig in $KUBECONFIG (tests/conftest.py points it at 127.0.0.1) and another in
    # ~/.kube/config: the render reads neither.
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
        "contexts: [{name: prod, context: {cluster: prod, user: prod}}]\n"
        "clusters: [{name: prod, cluster: {server: 'https://prod.example.org:6443'}}]\n"
        "users: [{name: prod, user: {token: REAL-LOOKING-TOKEN}}]\n"
    )
    monkeypatch.setenv("HOME", str(home))
    before = render_module.os.environ.get("KUBECONFIG")
    assert before, "tests/conftest.py sets $KUBECONFIG to a test file"
    rec = render_module.run_stack("local")
    used = _used_kubeconfig(rec)
    assert _server(used) == PLACEHOLDER_SERVER
    assert rec.outputs["cluster_endpoint"] == PLACEHOLDER_SERVER
    assert "REAL-LOOKING-TOKEN" not in str(rec.outputs)
    # $KUBECONFIG is back as it was; the placeholder file is gone.
    assert render_module.os.environ.get("KUBECONFIG") == before


def test_kubeconfig_path_and_context_get_the_placeholder_too(tmp_path: Path) -> None:
    """`kubeconfigPath` names a file this machine does not have; the stack's `context` is
    the placeholder's only context, so the program selects it as it would the real one."""
    cluster = {**LOCAL_CLUSTER, "kubeconfigPath": str(tmp_path / "absent"), "context": "partner"}
    rec = render_module.run_stack("local", overrides={"binder:cluster": cluster})
    used = _used_kubeconfig(rec)
    assert used["current-context"] == "partner"
    assert _server(used) == PLACEHOLDER_SERVER
    # The real program would have read kubeconfigPath: it fails without the stand-in.
    with pytest.raises(ConfigError, match=r"binder:cluster.kubeconfigPath: cannot read"):
        mock_run_stack("local", overrides={"binder:cluster": cluster})


def test_an_encrypted_kubeconfig_secret_is_replaced_not_decrypted() -> None:
    # A `secure:` value in the stack file: the render cannot and must not decrypt it.
    rec = render_module.run_stack(
        "local", overrides={"binder:kubeconfig": {"secure": "v1:c2FsdA==:ZW5jcnlwdGVk"}}
    )
    # (_used_kubeconfig also checks it stays a secret on the wire)
    assert _server(_used_kubeconfig(rec)) == PLACEHOLDER_SERVER


def test_a_plaintext_kubeconfig_in_the_stack_file_is_still_refused() -> None:
    """The render replaces credentials it must not read; it does not hide the program's
    refusal of a kubeconfig committed in plaintext."""
    with pytest.raises(ConfigError, match=r"binder:kubeconfig is \w+ in plaintext"):
        render_module.run_stack("local", overrides={"binder:kubeconfig": "apiVersion: v1"})


def test_placeholder_kubeconfig_grants_nothing() -> None:
    text = render_module.placeholder_kubeconfig_text("partner")
    doc = fast_yaml.safe_load(text)
    assert doc["current-context"] == "partner"
    assert _server(doc) == PLACEHOLDER_SERVER
    assert PLACEHOLDER_SERVER.split("//")[1].split(":")[0].endswith(".invalid")  # RFC 2606
    (user,) = doc["users"]
    assert user["user"] == {"token": "render-placeholder"}
    assert "BEGIN" not in text  # no key material of any kind


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "config:\n  binder:cluster:\n    provider: gke\n   name: x\n",
            "error: Pulumi.broken.yaml: YAML syntax error at line 4, column 4: expected the end "
            "of the indented block",
        ),
        (alias_bomb(), "error: Pulumi.broken.yaml: at line 2, column"),
        ("config:\n  a: 1\n  a: 2\n", "error: Pulumi.broken.yaml: at line 3, column 3: the key"),
    ],
    ids=["mis-indented", "alias-bomb", "duplicate-key"],
)
def test_a_broken_stack_file_is_one_line_not_a_traceback(
    text: str,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: a mis-indented Pulumi.<stack>.yaml gave ~30 lines of PyYAML internals."""
    (tmp_path / "Pulumi.broken.yaml").write_text(text)
    monkeypatch.setattr(render_module, "REPO", tmp_path)
    monkeypatch.setattr(mockrun_module, "REPO", tmp_path)
    started = time.perf_counter()
    assert render_module.main(["broken", "--out", str(tmp_path / "out")]) == 1
    assert time.perf_counter() - started < 2
    err = capsys.readouterr().err
    assert err.startswith(words), err
    assert err.count("\n") == 1, "one line"
    assert "Traceback" not in err
