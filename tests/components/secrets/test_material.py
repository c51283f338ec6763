"""components/secrets/material.py: SOPS files + config secrets -> typed secret Outputs, on the mock
engine.

SOPS files are encrypted at test time by the real sops to an age key made at test time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

import tools.mockrun as mockrun
from components.config.stack import SECRET_KEYS, StackConfig, load_config, parse_config
from components.secrets.deployment import DeploymentSecrets, Secrets, SecretsArgs
from components.secrets.document import CONFIG_SECRET_KEYS, parse_document
from components.secrets.material import SecretMaterial, load_secret_material
from components.secrets.sops import SecretsError, decrypt_file
from tests import fast_yaml
from tests.conftest import REPO, TEST_AGE_KEY
from tests.hostile import assert_in_our_words
from tests.sops_helpers import AgeKey, isolate_sops, make_age_key, sops_encrypt
from tools.mockrun import Recording, is_secret, plaintext_leaks, run_program, run_stack

RANDOM = "random:index/randomPassword:RandomPassword"
ATTRS = (
    "registry_username",
    "registry_password",
    "dockerhub_username",
    "dockerhub_password",
    "proxy_secret_token",
    "hub_api_token",
    "grafana_admin_password",
    "tls_certificate",
    "tls_key",
    "oauth_client_id",
    "oauth_client_secret",
    "logging_password",
    "logging_ca_certificate",
    "alertmanager_credential",
    "github_access_token",
    "github_client_id",
    "github_client_secret",
    "gitlab_token",
)

CERT = "-----BEGIN CERTIFICATE-----\nMIIfixturecertificate5e1b\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIfixtureprivatekey0c7d\n-----END PRIVATE KEY-----\n"
CA = "-----BEGIN CERTIFICATE-----\nMIIfixturelogstoreca91\n-----END CERTIFICATE-----\n"
FULL = {
    "registry": {"username": "fx-registry-user-3b9f", "password": "fx-registry-pass-a04e"},
    "dockerHub": {"username": "fx-dockerhub-user-62c0", "password": "fx-dockerhub-pass-d7e4"},
    "jupyterhub": {"proxySecretToken": "fx-proxy-token-6d21", "hubApiToken": "fx-hub-token-19ce"},
    "grafana": {"adminPassword": "fx-grafana-pass-e87a"},
    "tls": {"certificate": CERT, "key": KEY},
    "oauth": {"clientId": "fx-oauth-id-4f02", "clientSecret": "fx-oauth-secret-b3d8"},
    "logging": {"password": "fx-logging-pass-7a5c", "caCertificate": CA},
    "alertmanager": {"credential": "fx-alertmanager-cred-91d3"},
    "repoProviders": {
        "githubAccessToken": "fx-github-token-2c7e",
        "githubClientId": "fx-github-client-id-81",
        "githubClientSecret": "fx-github-client-secret-4d",
        "gitlabToken": "fx-gitlab-token-a93b",
    },
}
FULL_VALUES = [v for section in FULL.values() for v in section.values()]


@pytest.fixture(scope="module")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("age"), "test")


@pytest.fixture
def sops_key(tmp_path: Path, age_key: AgeKey, monkeypatch: pytest.MonkeyPatch) -> AgeKey:
    isolate_sops(monkeypatch, tmp_path / "home", age_key.path)
    return age_key


def _cfg(
    files: list[str] | None = None,
    tls: dict[str, Any] | None = None,
    monitoring: bool | None = None,
) -> StackConfig:
    raw: dict[str, Any] = {
        "cluster": {"provider": "existing", "name": "t"},
        "secretsFiles": files or [],
    }
    if tls is not None:
        raw["tls"] = tls
    if monitoring is not None:
        raw["monitoring"] = {"enabled": monitoring}
    return parse_config(raw)


def _run(program: Callable[[], None], secrets: dict[str, str] | None = None) -> Recording:
    config = {f"binder:{k}": v for k, v in (secrets or {}).items()}
    return run_program(program, config=config, secret_keys=list(config))


def _export_material(cfg: StackConfig) -> Callable[[], None]:
    def program() -> None:
        material = load_secret_material(cfg)
        for attr in ATTRS:
            value = getattr(material, attr)
            if value is not None:
                pulumi.export(attr, value)
        pulumi.export("sources", dict(material.sources))

    return program


def _export_deployment(deployment: DeploymentSecrets) -> None:
    pulumi.export("proxy_secret_token", deployment.proxy_secret_token)
    pulumi.export("hub_api_token", deployment.hub_api_token)
    if deployment.grafana_admin_password is not None:
        pulumi.export("grafana_admin_password", deployment.grafana_admin_password)
    if deployment.prometheus_metrics_token is not None:
        pulumi.export("prometheus_metrics_token", deployment.prometheus_metrics_token)
    if deployment.build_token_secret is not None:
        pulumi.export("build_token_secret", deployment.build_token_secret)
    if deployment.registry:
        pulumi.export("registry_username", deployment.registry.username)
        pulumi.export("registry_password", deployment.registry.password)
    if deployment.tls:
        pulumi.export("tls_certificate", deployment.tls.certificate)
        pulumi.export("tls_key", deployment.tls.key)
    if deployment.oauth:
        pulumi.export("oauth_client_id", deployment.oauth.client_id)
        pulumi.export("oauth_client_secret", deployment.oauth.client_secret)
    if deployment.logging_password is not None:
        pulumi.export("logging_password", deployment.logging_password)


def _component(cfg: StackConfig) -> Callable[[], None]:
    def program() -> None:
        material = load_secret_material(cfg)
        _export_deployment(Secrets("secrets", SecretsArgs(material=material)).deployment)

    return program


def _error(cfg: StackConfig, secrets: dict[str, str] | None = None) -> str:
    with pytest.raises(SecretsError) as info:
        _run(_export_material(cfg), secrets)
    message = str(info.value)
    for value in [*FULL_VALUES, *(secrets or {}).values()]:
        assert value not in message, "an error message must never carry a secret value"
    return message


# --------------------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------------------


def test_every_config_secret_is_read() -> None:
    # binder:kubeconfig is the cluster's; every other secret key is read here.
    assert SECRET_KEYS - {"kubeconfig"} == CONFIG_SECRET_KEYS
    assert set(ATTRS) == {
        f for f in SecretMaterial.__dataclass_fields__ if f not in ("sources", "monitoring_enabled")
    }


# --------------------------------------------------------------------------------------
# Files and config
# --------------------------------------------------------------------------------------


def test_files_merge_in_order_and_every_value_is_secret(
    tmp_path: Path, sops_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    sops_encrypt(FULL, tmp_path / "base.yaml", sops_key.public)
    sops_encrypt(
        {"registry": {"password": "fx-override-pass-55aa"}, "grafana": {}},
        tmp_path / "stack.yaml",
        sops_key.public,
    )
    monkeypatch.chdir(tmp_path)  # paths are relative to the project directory
    rec = _run(_export_material(_cfg(["base.yaml", "stack.yaml"])))
    assert rec.outputs["registry_username"] == "fx-registry-user-3b9f"  # from the first file
    assert rec.outputs["registry_password"] == "fx-override-pass-55aa"  # the later file wins
    assert rec.outputs["grafana_admin_password"] == "fx-grafana-pass-e87a"  # empty section
    assert rec.outputs["tls_certificate"] == CERT
    for attr in ATTRS:
        assert rec.secret_output(attr), f"{attr} must be a secret Output"
    assert rec.outputs["sources"]["registry_password"] == "stack.yaml"
    assert rec.outputs["sources"]["registry_username"] == "base.yaml"


def test_config_secrets_override_files(
    tmp_path: Path, sops_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sops_encrypt(FULL, tmp_path / "base.yaml", sops_key.public)
    rec = _run(
        _export_material(_cfg([str(path)])),
        secrets={"registryPassword": "cfg-registry-pass-0e1f", "hubApiToken": "cfg-hub-token-9a"},
    )
    assert rec.outputs["registry_password"] == "cfg-registry-pass-0e1f"
    assert rec.outputs["hub_api_token"] == "cfg-hub-token-9a"
    assert rec.outputs["registry_username"] == "fx-registry-user-3b9f"
    assert rec.secret_output("registry_password")
    assert rec.secret_output("hub_api_token")
    assert rec.outputs["sources"]["registry_password"] == "binder:registryPassword"


def test_config_secrets_alone(tmp_path: Path) -> None:
    secrets = {"registryUsername": "cfg-user", "registryPassword": "cfg-pass-71"}
    rec = _run(_component(_cfg()), secrets)
    assert rec.outputs["registry_username"] == "cfg-user"
    assert rec.outputs["registry_password"] == "cfg-pass-71"
    assert rec.secret_output("registry_username")
    assert rec.secret_output("registry_password")


PLAIN_CONFIG = "plain-config-pass-5f7c"


def test_config_secret_set_without_secret_is_refused() -> None:
    """`pulumi config set binder:registryPassword X` (no --secret) leaves X in plaintext in
    Pulumi.<stack>.yaml: refused by name, before anything reads it."""
    config = {
        "binder:registryPassword": PLAIN_CONFIG,
        "binder:registryUsername": "cfg-user-secret-77",
        "binder:grafanaAdminPassword": PLAIN_CONFIG + "-2",
    }
    with pytest.raises(SecretsError) as info:
        run_program(
            _export_material(_cfg()), config=config, secret_keys=["binder:registryUsername"]
        )
    message = str(info.value)
    assert PLAIN_CONFIG not in message
    assert "cfg-user-secret-77" not in message
    assert (
        "binder:grafanaAdminPassword, binder:registryPassword are set in plaintext in "
        "Pulumi.test.yaml" in message
    )
    assert "binder:registryUsername" not in message  # set with --secret: fine
    assert "pulumi config set --secret binder:grafanaAdminPassword" in message
    assert "pulumi config set --secret binder:registryPassword" in message
    assert "git history" in message
    assert "rotate" in message


def test_whole_program_refuses_a_plaintext_config_secret_before_any_resource(
    kept_recording: type[_Kept],
) -> None:
    with pytest.raises(SecretsError, match="binder:hubApiToken is set in plaintext") as info:
        run_stack("ebi", overrides={"binder:hubApiToken": PLAIN_CONFIG})
    assert PLAIN_CONFIG not in str(info.value)
    assert kept_recording.last is not None
    assert kept_recording.last.resources == []


# --------------------------------------------------------------------------------------
# The component: generated tokens
# --------------------------------------------------------------------------------------


def test_tokens_are_generated_when_none_given() -> None:
    rec = _run(_component(_cfg()))  # monitoring is on by default
    component = rec.one("binder:secrets:Secrets", "secrets")
    generated = {r.name: r for r in rec.of_type(RANDOM)}
    assert set(generated) == {
        "secrets-proxy-secret-token",
        "secrets-hub-api-token",
        "secrets-grafana-admin-password",
        "secrets-prometheus-metrics-token",
        "secrets-build-token-secret",
    }
    build_key = generated.pop("secrets-build-token-secret")
    for res in generated.values():
        assert res.parent == component.urn
        assert res.inputs["special"] is False  # safe in Helm values and URLs
        # No keepers: nothing but an explicit replace regenerates a token.
        assert "keepers" not in res.inputs
    # BinderHub's build token key: hex digits only (BinderHub reads a string with a2b_hex),
    # 64 of them (256 bits), the same for every BinderHub pod.
    assert build_key.parent == component.urn
    assert "keepers" not in build_key.inputs
    assert build_key.inputs["length"] == 64
    assert build_key.inputs["upper"] is False
    assert build_key.inputs["lower"] is False
    assert build_key.inputs["special"] is True
    assert build_key.inputs["overrideSpecial"] == "abcdef"
    assert build_key.inputs.get("numeric", True) is True
    assert generated["secrets-proxy-secret-token"].inputs["length"] == 64
    assert generated["secrets-grafana-admin-password"].inputs["length"] == 32
    assert generated["secrets-prometheus-metrics-token"].inputs["length"] == 64
    for name in (
        "proxy_secret_token",
        "hub_api_token",
        "grafana_admin_password",
        "prometheus_metrics_token",
        "build_token_secret",
    ):
        assert rec.secret_output(name)
    assert (
        rec.outputs["prometheus_metrics_token"]
        == "mock-random-secrets-prometheus-metrics-token-" + "x" * 64
    )
    assert rec.outputs["proxy_secret_token"] == "mock-random-secrets-proxy-secret-token-" + "x" * 64
    assert "registry_username" not in rec.outputs  # no account given: no registry credentials


def test_without_monitoring_no_monitoring_secrets_are_generated() -> None:
    """Pulumi.local.yaml has no monitoring: no Grafana password, no metrics token."""
    rec = _run(_component(_cfg(monitoring=False)))
    assert {r.name for r in rec.of_type(RANDOM)} == {
        "secrets-proxy-secret-token",
        "secrets-hub-api-token",
        "secrets-build-token-secret",
    }
    assert "grafana_admin_password" not in rec.outputs
    assert "prometheus_metrics_token" not in rec.outputs


def test_a_given_grafana_password_without_monitoring_is_unused_with_a_warning(
    tmp_path: Path, sops_key: AgeKey
) -> None:
    path = sops_encrypt({"grafana": FULL["grafana"]}, tmp_path / "s.yaml", sops_key.public)
    rec = _run(_component(_cfg([str(path)], monitoring=False)))
    assert "grafana_admin_password" not in rec.outputs
    warnings = [line for line in rec.logs if line.startswith("warn")]
    assert any(
        "A Grafana admin password is given (from " + str(path) + ")" in line
        and "binder:monitoring.enabled is false" in line
        for line in warnings
    ), warnings
    assert not any(FULL["grafana"]["adminPassword"] in line for line in rec.logs)


def test_generated_tokens_are_stable_across_runs() -> None:
    """Same URNs and inputs on every run, whatever else is given: Pulumi keeps the values."""

    def tokens(rec: Recording) -> dict[str, Any]:
        return {r.urn: r.inputs for r in rec.of_type(RANDOM)}

    first = tokens(_run(_component(_cfg())))
    again = tokens(_run(_component(_cfg())))
    more = tokens(_run(_component(_cfg()), {"registryUsername": "u", "registryPassword": "p"}))
    assert first == again == more


def test_given_tokens_are_not_generated(tmp_path: Path, sops_key: AgeKey) -> None:
    path = sops_encrypt(FULL, tmp_path / "s.yaml", sops_key.public)
    rec = _run(_component(_cfg([str(path)], tls={"source": "institution"})))
    # Only Prometheus' metrics token and BinderHub's build token key, which cannot be given:
    # they are ours, hub to Prometheus and BinderHub pod to BinderHub pod.
    # (Their registration order follows which Output resolves first: compare as a set.)
    assert sorted(r.name for r in rec.of_type(RANDOM)) == [
        "secrets-build-token-secret",
        "secrets-prometheus-metrics-token",
    ]
    assert rec.outputs["grafana_admin_password"] == "fx-grafana-pass-e87a"
    assert rec.outputs["proxy_secret_token"] == "fx-proxy-token-6d21"
    assert rec.outputs["oauth_client_secret"] == "fx-oauth-secret-b3d8"
    assert rec.outputs["logging_password"] == "fx-logging-pass-7a5c"
    for name in rec.outputs:
        assert rec.secret_output(name), name


# --------------------------------------------------------------------------------------
# The document's schema
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"registry": {"username": "u", "pasword": "fx-registry-pass-a04e"}},
            "registry.pasword: unknown key (known keys here: password, username)",
        ),
        ({"regsitry": {"password": "fx-registry-pass-a04e"}}, "regsitry: unknown key"),
        ({"grafana": {"adminPassword": 1234}}, "grafana.adminPassword: must be a string"),
        ({"logging": {"password": ""}}, "logging.password: is empty"),
        ({"oauth": "fx-oauth-secret-b3d8"}, "oauth: must be a mapping"),
        (
            {"tls": {"certificate": "fx-registry-pass-a04e", "key": KEY}},
            "tls.certificate: is not a PEM certificate",
        ),
        ({"tls": {"certificate": CERT, "key": "fx-logging-pass-7a5c"}}, "tls.key: is not a PEM"),
        ({"registry": ["fx-registry-pass-a04e"]}, "registry: must be a mapping"),
        ({"registry": {"password": ["fx-registry-pass-a04e"]}}, "registry.password: must be a"),
    ],
)
def test_bad_documents_name_file_and_key(document: dict[str, Any], expected: str) -> None:
    with pytest.raises(SecretsError) as info:
        parse_document("helm_configs/ebi/secrets.example.yaml", document)
    message = str(info.value)
    assert f"helm_configs/ebi/secrets.example.yaml: {expected}" in message
    assert "sops helm_configs/ebi/secrets.example.yaml" in message
    for value in FULL_VALUES:
        assert value not in message
    assert_in_our_words(message)


def test_unknown_key_in_an_encrypted_file(tmp_path: Path, sops_key: AgeKey) -> None:
    path = sops_encrypt(
        {"jupyterhub": {"proxyToken": "fx-proxy-token-6d21"}}, tmp_path / "s.yaml", sops_key.public
    )
    message = _error(_cfg([str(path)]))
    assert f"{path}: jupyterhub.proxyToken: unknown key" in message
    assert "hubApiToken, proxySecretToken" in message


# --------------------------------------------------------------------------------------
# Combinations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "secrets", "expected"),
    [
        (
            {"registry": {"username": "fx-registry-user-3b9f"}},
            {},
            "the registry account is incomplete: registry.username is given (from F) but "
            "registry.password is not; add `registry.password` in a secrets file",
        ),
        (
            {},
            {"registryPassword": "cfg-pass-2c"},
            "registry.password is given (from binder:registryPassword) but registry.username "
            "is not; add `registry.username` in a secrets file (`sops <file>`) or "
            "`pulumi config set --secret binder:registryUsername`",
        ),
        ({"tls": {"certificate": CERT}}, {}, "the TLS certificate is incomplete"),
        ({"oauth": {"clientSecret": "fx-oauth-secret-b3d8"}}, {}, "the OAuth client is incomplete"),
    ],
)
def test_incomplete_pairs(
    tmp_path: Path,
    sops_key: AgeKey,
    document: dict[str, Any],
    secrets: dict[str, str],
    expected: str,
) -> None:
    path = sops_encrypt(document, tmp_path / "s.yaml", sops_key.public)
    message = _error(_cfg([str(path)]), secrets)
    assert expected.replace("(from F)", f"(from {path})") in message


def test_institution_tls_needs_a_certificate() -> None:
    message = _error(_cfg(tls={"source": "institution"}))
    assert "binder:tls.source is 'institution' but no certificate was given" in message
    assert "binder:tlsCertificate" in message


def test_unused_certificate_is_a_warning_without_values(tmp_path: Path, sops_key: AgeKey) -> None:
    path = sops_encrypt({"tls": FULL["tls"]}, tmp_path / "s.yaml", sops_key.public)
    cfg = _cfg([str(path)], tls={"source": "letsencrypt", "email": "a@example.org"})
    rec = _run(_export_material(cfg))
    assert any(
        "A TLS certificate is given but binder:tls.source is 'letsencrypt'" in line
        for line in rec.logs
    )
    assert not any("MIIfixture" in line for line in rec.logs)


# --------------------------------------------------------------------------------------
# The example stacks' files, with the committed TEST-ONLY key
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["base", "ebi", "gcp"])
def test_example_files_open_with_the_test_key(
    stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", TEST_AGE_KEY)
    name = f"helm_configs/{stack}/secrets.example.yaml"
    values = parse_document(name, decrypt_file(REPO / name, name))
    assert values
    assert all(value.startswith("FAKE-") for value in values.values()), "example values are fake"


@pytest.mark.parametrize(
    ("stack", "username", "password"),
    [
        ("ebi", "FAKE-ebi-registry-robot", "FAKE-ebi-registry-token-not-real"),
        ("gcp", "FAKE-example-dockerhub-user", "FAKE-gcp-registry-token-not-real"),
    ],
)
def test_example_stacks_layer_their_files(
    stack: str, username: str, password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", TEST_AGE_KEY)
    config, secret_keys = mockrun.stack_config(stack)
    monkeypatch.chdir(REPO)

    def program() -> None:
        _export_material(load_config())()

    rec = run_program(program, config=config, secret_keys=secret_keys)
    assert rec.outputs["registry_username"] == username
    assert rec.outputs["registry_password"] == password
    assert rec.outputs["grafana_admin_password"] == "FAKE-example-grafana-admin-password"
    assert (
        rec.outputs["sources"]["grafana_admin_password"] == "helm_configs/base/secrets.example.yaml"
    )


# --------------------------------------------------------------------------------------
# The whole program
# --------------------------------------------------------------------------------------


class _Kept(Recording):
    """A Recording that stays reachable when the program fails."""

    last: _Kept | None = None

    def __init__(self) -> None:
        super().__init__()
        _Kept.last = self


@pytest.fixture
def kept_recording(monkeypatch: pytest.MonkeyPatch) -> type[_Kept]:
    monkeypatch.setattr(mockrun, "Recording", _Kept)
    _Kept.last = None
    return _Kept


def _all_needles(rec: Recording, given: list[str]) -> list[str]:
    # The generated tokens are secrets too: the mock gives them a recognisable value.
    generated = [f"mock-random-{r.name}-" for r in rec.of_type(RANDOM)]
    return [*given, *generated]


def test_whole_program_never_leaks_a_secret(tmp_path: Path, sops_key: AgeKey) -> None:
    document = {k: v for k, v in FULL.items() if k != "jupyterhub"}  # tokens: generated
    path = sops_encrypt(document, tmp_path / "stack-secrets.yaml", sops_key.public)
    given = [v for section in document.values() for v in section.values()]
    config_secret = "cfg-oauth-secret-0d4e"
    stack_config = fast_yaml.safe_load((REPO / "Pulumi.gcp.yaml").read_text())["config"]
    binderhub = stack_config["binder:binderhub"]
    # Alerts by mail with an SMTP login, so the Alertmanager credential has a consumer.
    monitoring = {
        **stack_config["binder:monitoring"],
        "alerts": {
            "receiver": "email",
            "email": {
                "to": ["ops@example.org"],
                "from": "binder@example.org",
                "smarthost": "smtp.example.org:587",
                "username": "binder",
            },
        },
    }
    rec = run_stack(
        "gcp",
        overrides={
            "binder:secretsFiles": [str(path)],
            # An authenticated hub, so the OAuth client has a consumer.
            "binder:binderhub": {**binderhub, "auth": {"type": "github", "allowAll": True}},
            "binder:tls": {"source": "institution"},
            # A registry with an account (gcp's Artifact Registry needs none), so the registry
            # secrets have consumers: BinderHub's push account and the user pods' pull secret.
            "binder:registry": {"url": "https://registry.example.org", "prefix": "binder-"},
            "binder:monitoring": monitoring,
            "binder:logging": {
                "enabled": True,
                "output": {"type": "elasticsearch", "host": "es.example.org", "user": "binder"},
            },
        },
        secrets={"binder:oauthClientSecret": config_secret},
    )
    needles = _all_needles(rec, [*given, config_secret])
    assert {r.name for r in rec.of_type(RANDOM)} == {
        "secrets-proxy-secret-token",
        "secrets-hub-api-token",
        "secrets-prometheus-metrics-token",
        "secrets-build-token-secret",
    }, "proxy, hub, metrics and build tokens are generated; the Grafana password is in the file"
    for res in rec.resources:
        leaks = list(plaintext_leaks(res.wire, needles))
        assert not leaks, f"{res.type} {res.name} has a secret in plaintext at {leaks}"
    assert not list(plaintext_leaks(rec.outputs_wire, needles)), "a stack output leaks a secret"
    for line in rec.logs:
        for needle in needles:
            assert needle not in line, "a log line carries a secret"
    # Secrets that are exported are exported as secrets.
    for name, value in rec.outputs_wire.items():
        if any(n in str(mockrun.unwrap(value)) for n in needles):
            assert is_secret(value), name
    # ... and the check above is not vacuous: every secret in force reaches registered
    # resources (inside Pulumi secrets), the OAuth client of the authenticated hub included.
    # Only the file's client secret is not in force: the config secret overrides it.
    consumed = [v for v in needles if v != FULL["oauth"]["clientSecret"]]
    assert FULL["oauth"]["clientId"] in consumed
    assert config_secret in consumed
    for needle in consumed:
        assert any(list(plaintext_leaks(r.inputs, [needle])) for r in rec.resources), (
            f"no resource consumes the secret starting {needle[:12]!r}"
        )
    assert not any(
        list(plaintext_leaks(r.inputs, [FULL["oauth"]["clientSecret"]])) for r in rec.resources
    ), "the overridden client secret must not be used"
    assert not any("OAuth client is given" in line for line in rec.logs)


def test_whole_program_refuses_a_tampered_file_before_any_resource(
    tmp_path: Path, sops_key: AgeKey, kept_recording: type[_Kept]
) -> None:
    path = sops_encrypt(FULL, tmp_path / "secrets.yaml", sops_key.public)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if "adminPassword: ENC[" not in line))
    with pytest.raises(SecretsError, match="MAC mismatch"):
        run_stack("gcp", overrides={"binder:secretsFiles": [str(path)]})
    assert kept_recording.last is not None
    assert kept_recording.last.resources == [], "nothing may be registered before the check"


def test_whole_program_refuses_a_plaintext_file(
    tmp_path: Path, kept_recording: type[_Kept]
) -> None:
    plain = tmp_path / "secrets.yaml"
    plain.write_text("registry:\n  username: u\n  password: fx-registry-pass-a04e\n")
    with pytest.raises(SecretsError, match="is not SOPS-encrypted") as info:
        run_stack("ebi", overrides={"binder:secretsFiles": [str(plain)]})
    assert "fx-registry-pass-a04e" not in str(info.value)
    assert kept_recording.last is not None
    assert kept_recording.last.resources == []


def test_whole_program_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept_recording: type[_Kept]
) -> None:
    isolate_sops(monkeypatch, tmp_path / "home", None)
    with pytest.raises(SecretsError, match="no private key is available") as info:
        run_stack("ebi")
    assert "'helm_configs/base/secrets.example.yaml'" in str(info.value)
    assert kept_recording.last is not None
    assert kept_recording.last.resources == []
