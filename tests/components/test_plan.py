"""components/plan.py: every configuration problem is raised by the plan, before any resource;
components built from a valid plan raise none."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import components.plan
from components.config.base import ConfigError
from components.plan import Plan, build_plan
from components.releases import values
from tests.hostile import alias_bomb, assert_in_our_words
from tests.release_fixtures import values_root_with
from tools.mockrun import Recording, run_program, run_stack, stack_config

STACKS = ("e2e", "ebi", "gcp", "local", "staging")


@pytest.fixture
def no_config_error_after_the_plan(monkeypatch: pytest.MonkeyPatch) -> list[Plan]:
    """Fail any ConfigError made once ``build_plan`` has returned: from then on the program
    only builds resources. Yields the plans built."""
    plans: list[Plan] = []
    real_build = components.plan.build_plan
    real_init = ConfigError.__init__

    def build(*args: Any, **kwargs: Any) -> Plan:
        plan = real_build(*args, **kwargs)
        plans.append(plan)
        return plan

    def init(self: ConfigError, *args: Any) -> None:
        if plans:
            raise AssertionError(f"ConfigError after the plan was built: {args}")
        real_init(self, *args)

    monkeypatch.setattr(components.plan, "build_plan", build)
    monkeypatch.setattr(ConfigError, "__init__", init)
    return plans


@pytest.mark.parametrize("stack", STACKS)
def test_components_from_a_valid_plan_raise_no_config_error(
    stack: str, no_config_error_after_the_plan: list[Plan]
) -> None:
    recording = run_stack(stack)
    assert len(no_config_error_after_the_plan) == 1
    plan = no_config_error_after_the_plan[0]
    assert plan.stack == stack
    # The plan is what the program built from: every enabled release is in it, read once.
    released = {r.inputs["name"] for r in recording.of_type("kubernetes:helm.sh/v3:Release")}
    assert released == {pin.release for pin in plan.releases.enabled}
    assert set(plan.releases.file_values) == {pin.release for pin in plan.releases.enabled}
    assert len(recording.resources) > 20


def test_the_plan_is_frozen() -> None:
    recording = Recording()
    config, secret_keys = stack_config("gcp")
    plans: list[Plan] = []
    run_program(
        lambda: plans.append(build_plan("gcp")),
        stack="gcp",
        config=config,
        secret_keys=secret_keys,
        recording=recording,
    )
    plan = plans[0]
    assert recording.resources == []  # building the plan registers nothing
    with pytest.raises(AttributeError):
        plan.stack = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.releases.file_values["binderhub"] = ()  # type: ignore[index]


BAD_KUBECONFIG = "apiVersion: v1\nkind: Config\ncontexts: []\nclusters: []\nusers: []\n"


def _kubeconfig(context: str = "{cluster: c, user: u}", user: str = "{token: t}") -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://k8s.example.org:6443'}}]\n"
        f"contexts: [{{name: x, context: {context}}}]\n"
        f"users: [{{name: u, user: {user}}}]\n"
    )


GCP_BINDERHUB = {"host": "binder.gcp.example.org", "hubHost": "hub.binder.gcp.example.org"}

#: A plan that fails must fail within this many seconds (issue 12: "a second or two").
QUICK = 2.0

#: One bad input of each kind the program checks: (stack, config overrides, secret config,
#: words of the message). Each must stop the plan, before any resource.
CATALOGUE: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("gcp", {"binder:clustr": {"provider": "gke"}}, {}, "unknown key"),
    ("ebi", {"binder:monitoring": {"enabeld": True}}, {}, "binder:monitoring.enabeld"),
    ("gcp", {"binder:registry": None}, {}, "binder:registry: missing"),
    (
        "gcp",
        {"binder:tls": {"source": "letsencrypt"}, "binder:certManager": {"enabled": False}},
        {},
        "needs cert-manager",
    ),
    ("gcp", {"gcp:project": None}, {}, "gcp:project is not set"),
    (
        "local",
        {
            "binder:cluster": {
                "provider": "existing",
                "name": "local",
                "kubernetesVersion": "1.36",
                "kubeconfigPath": "/nonexistent",
            }
        },
        {},
        "cannot read",
    ),
    ("local", {}, {"binder:kubeconfig": BAD_KUBECONFIG}, "binder:kubeconfig"),
    ("gcp", {"binder:registryPassword": "hunter2-plaintext"}, {}, "binder:registryPassword"),
    (
        "gcp",
        {"binder:secretsFiles": ["helm_configs/gcp/missing-secrets.yaml"]},
        {},
        "missing-secrets.yaml",
    ),
    (
        "gcp",
        {
            "binder:binderhub": {
                "host": "binder.gcp.example.org",
                "hubHost": "hub.binder.gcp.example.org",
                "auth": {"type": "github", "allowAll": True},
            }
        },
        {},
        "binder:oauthClientId",
    ),
    (
        "gcp",
        {
            "binder:logging": {
                "enabled": True,
                "output": {"type": "elasticsearch", "host": "es.example.org", "user": "binder"},
            }
        },
        {},
        "binder:loggingPassword",
    ),
    # Issue 11: Docker Hub without an account (its anonymous pull limits), Artifact Registry
    # off GKE, a user pod that does not fit a user node, a bad ban pattern.
    (
        "local",
        {"binder:registry": {"url": "https://registry.hub.docker.com", "prefix": "me/binder-"}},
        {},
        "toomanyrequests",
    ),
    ("ebi", {"binder:registry": {"type": "artifactRegistry"}}, {}, "provider is 'magnum'"),
    (
        "gcp",
        {
            "binder:binderhub": {
                "host": "binder.gcp.example.org",
                "hubHost": "hub.binder.gcp.example.org",
                "userResources": {"memory": {"guarantee": "1G", "limit": "64G"}},
            }
        },
        {},
        "does not fit a user node",
    ),
    (
        "gcp",
        {
            "binder:binderhub": {
                "host": "binder.gcp.example.org",
                "hubHost": "hub.binder.gcp.example.org",
                "limits": {"bannedSpecs": ["^evil/(unclosed"]},
            }
        },
        {},
        "is not a regular expression",
    ),
    # Issue 19: an unset variable in kubeconfigPath (the e2e stack names its cluster so).
    (
        "local",
        {
            "binder:cluster": {
                "provider": "existing",
                "name": "local",
                "kubernetesVersion": "1.36",
                "kubeconfigPath": "${BINDER_NO_SUCH_VARIABLE}",
            }
        },
        {},
        "binder:cluster.kubeconfigPath names $BINDER_NO_SUCH_VARIABLE, which is not set",
    ),
    # Issue 19: a chart directory that is not there, or holds another chart.
    (
        "local",
        {"binder:charts": {"directory": "../no-such-charts"}},
        {},
        "binder:charts.directory: ../no-such-charts/binderhub/1.0.0-0.dev.git.3958.haf9ca8b1/"
        "Chart.yaml does not exist",
    ),
    # Issue 13: pydantic's wording replaced by ours, the stack's own file named.
    (
        "gcp",
        {"binder:cluster": {"provider": "aws", "name": "binder"}},
        {},
        "binder:cluster.provider: 'aws' is not a provider this program knows; use one of "
        "'magnum', 'gke', 'existing'",
    ),
    (
        "local",
        {"binder:cluster": {"provider": "existing", "name": "local", "kubernetesVersion": 1.3}},
        {},
        'put the value in quotes, e.g. kubernetesVersion: "1.30"',
    ),
    ("ebi", {"binder:cluster": None}, {}, "binder:cluster: missing; add it to Pulumi.ebi.yaml"),
    ("gcp", {"binder:tls": None, "bindr:tls": {"source": "none"}}, {}, "did you mean `binder:`"),
    ("gcp", {"binder:tls": None, "Binder:tls": {"source": "none"}}, {}, "did you mean `binder:`"),
    # Issue 12: host names are lowercase RFC 1123 DNS names, no scheme, port or path.
    (
        "gcp",
        {"binder:binderhub": {**GCP_BINDERHUB, "host": "binder ebi!"}},
        {},
        "binder:binderhub.host: has a part 'binder ebi!' that is not a DNS label",
    ),
    (
        "gcp",
        {"binder:monitoring": {"grafanaHost": "binder.example.org/grafana"}},
        {},
        "binder:monitoring.grafanaHost: must be a bare host name",
    ),
    (
        "gcp",
        {"binder:binderhub": {**GCP_BINDERHUB, "hubHost": "HUB.example.org"}},
        {},
        "binder:binderhub.hubHost: must be lowercase",
    ),
    (
        "gcp",
        {
            "binder:logging": {
                "enabled": True,
                "output": {"type": "elasticsearch", "host": "https://es.example.org:9200"},
            }
        },
        {},
        "binder:logging.output.host: must be a bare host name",
    ),
    # Issue 12: hostile or malformed kubeconfigs, refused before any resource.
    ("local", {}, {"binder:kubeconfig": alias_bomb()}, "binder:kubeconfig: at line 2"),
    ("local", {}, {"binder:kubeconfig": "clusters: [\n"}, "binder:kubeconfig: YAML syntax error"),
    (
        "local",
        {},
        {"binder:kubeconfig": BAD_KUBECONFIG.replace("contexts: []", "contexts: 5")},
        "binder:kubeconfig: `contexts` must be a list of entries",
    ),
    (
        "local",
        {},
        {"binder:kubeconfig": BAD_KUBECONFIG.replace("contexts: []", "contexts: [5]")},
        "binder:kubeconfig: `contexts` entry 1 is not an entry",
    ),
    (
        "local",
        {},
        {"binder:kubeconfig": _kubeconfig(context="{user: u}")},
        "binder:kubeconfig: context 'x' names no cluster",
    ),
    (
        "local",
        {},
        {"binder:kubeconfig": _kubeconfig(user="{client-key: /proc/self/environ}")},
        "binder:kubeconfig: client-key '/proc/self/environ' points into /proc",
    ),
    (
        "local",
        {},
        {"binder:kubeconfig": _kubeconfig(user="{tokenFile: /dev/zero}")},
        "binder:kubeconfig: tokenFile '/dev/zero' points into /dev",
    ),
    # Pod Security (components/access/pod_security.py): below what the chart needs ...
    (
        "gcp",
        {"binder:namespaces": {"binder": {"podSecurity": "baseline"}}},
        {},
        "binder:namespaces.binder.podSecurity: 'baseline' would refuse the pods of binderhub",
    ),
    # ... not a level at all ...
    ("gcp", {"binder:namespaces": {"team": {"podSecurity": "open"}}}, {}, "podSecurity"),
    # ... or set by hand as a label.
    (
        "local",
        {"binder:namespaces": {"binder": {"labels": {"pod-security.kubernetes.io/enforce": "x"}}}},
        {},
        "Pod Security labels are written by the program",
    ),
    # edit where privileged pods run reaches the nodes: only when acknowledged.
    (
        "local",
        {
            "binder:users": [
                {"name": "ci", "kind": "ServiceAccount", "role": "edit", "namespaces": ["binder"]}
            ]
        },
        {},
        "can run privileged pods there",
    ),
    # The admission guard needs ValidatingAdmissionPolicy v1 (Kubernetes 1.30).
    (
        "local",
        {
            "binder:cluster": {
                "provider": "existing",
                "name": "local",
                "kubernetesVersion": "1.29",
                "kubeconfigPath": "/nonexistent",
            }
        },
        {},
        "binder:cluster.kubernetesVersion: '1.29' has no admissionregistration.k8s.io/v1",
    ),
    # issue 10: Magnum drivers and storage.
    (
        "ebi",
        {
            "binder:cluster": {
                "provider": "magnum", "name": "x", "driver": "capi-helm",
                "template": {"image": "fedora-coreos-40", "masterFlavor": "m", "flavor": "f",
                             "externalNetwork": "e", "keypair": "k",
                             "labels": {"kube_tag": "v1.31.4", "keystone_auth_enabled": True}},
                "kubernetesVersion": "1.31",
            }
        },
        {},
        "kube_version property",
    ),
    ("local", {"binder:storage": {"create": True}}, {}, "binder:storage.provisioner"),
    ("gcp", {"binder:ingress": {"proxyProtocol": True}}, {}, "binder:ingress.proxyProtocol"),
    ("gcp", {"binder:dns": {"zone": "z", "domain": "other.org"}}, {}, "binder:dns.domain"),
]


@pytest.fixture
def plan_seconds(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """How long each ``build_plan`` ran, also when it raised: the plan phase alone, without
    the mock engine's start (whose first run in a session imports the provider SDKs)."""
    seconds: list[float] = []
    real_build = components.plan.build_plan

    def build(*args: Any, **kwargs: Any) -> Plan:
        started = time.perf_counter()
        try:
            return real_build(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    monkeypatch.setattr(components.plan, "build_plan", build)
    return seconds


def _fails_in_the_plan(
    plan_seconds: list[float], run: Callable[[Recording], object], words: str
) -> str:
    """Run, expect a ConfigError from build_plan with ``words``, quickly, nothing registered;
    the message in our words. Returns the message."""
    recording = Recording()
    with pytest.raises(ConfigError) as raised:
        run(recording)
    message = str(raised.value)
    assert words in message, message
    assert recording.resources == []
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "build_plan" in frames, frames
    assert plan_seconds, "build_plan did not run"
    assert plan_seconds[-1] < QUICK, f"the plan took {plan_seconds[-1]:.2f} s to refuse it"
    assert "Traceback" not in message
    assert_in_our_words(message)
    return message


@pytest.mark.parametrize(("stack", "overrides", "secrets", "words"), CATALOGUE)
def test_every_catalogued_bad_input_fails_in_the_plan_with_nothing_registered(
    stack: str,
    overrides: dict[str, Any],
    secrets: dict[str, str],
    words: str,
    plan_seconds: list[float],
) -> None:
    message = _fails_in_the_plan(
        plan_seconds,
        lambda rec: run_stack(stack, overrides=overrides, secrets=secrets, recording=rec),
        words,
    )
    assert "hunter2-plaintext" not in message


def test_a_bad_values_file_fails_in_the_plan(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        values, "HELM_CONFIGS", values_root_with(tmp_path, "gcp", {"traefik": "ports: [unclosed\n"})
    )
    recording = Recording()
    message = r"gcp/traefik\.yaml: YAML syntax error at line 2, column 1"
    with pytest.raises(ConfigError, match=message) as raised:
        run_stack("gcp", recording=recording)
    assert recording.resources == []
    assert "build_plan" in [f.name for f in traceback.extract_tb(raised.value.__traceback__)]


def test_example_secrets_outside_the_tests_stop_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example stacks list *.example.yaml files, which only the TEST-ONLY key opens: a
    real run (no BINDER_TEST_RUN) stops in the plan instead of deploying fake secrets."""
    monkeypatch.delenv("BINDER_TEST_RUN", raising=False)
    recording = Recording()
    with pytest.raises(ConfigError) as raised:
        run_stack("ebi", recording=recording)
    assert "helm_configs/base/secrets.example.yaml' is encrypted only to the TEST-ONLY" in str(
        raised.value
    )
    assert recording.resources == []
    assert "build_plan" in [f.name for f in traceback.extract_tb(raised.value.__traceback__)]


# ---- hostile files, read in the plan: values, secrets and kubeconfig files -------------

Setup = Callable[[Path, pytest.MonkeyPatch], tuple[str, dict[str, Any], str]]
TOO_BIG = "a: " + "x" * (1024 * 1024) + "\n"


def _values_file(text: str | bytes, words: str) -> Setup:
    def setup(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any], str]:
        root = values_root_with(tmp, "gcp", {"traefik": ""})
        target = root / "gcp" / "traefik.yaml"
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
        monkeypatch.setattr(values, "HELM_CONFIGS", root)
        return "gcp", {}, words

    return setup


def _secrets_file(text: str | bytes, words: str) -> Setup:
    def setup(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any], str]:
        path = tmp / "secrets.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return "gcp", {"binder:secretsFiles": [str(path)]}, words

    return setup


def _secrets_fifo(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any], str]:
    os.mkfifo(tmp / "secrets.yaml")  # reading it would block for ever
    return "gcp", {"binder:secretsFiles": [str(tmp / "secrets.yaml")]}, "is not a regular file"


def _kubeconfig_file(make: Callable[[Path], Path], words: str) -> Setup:
    def setup(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any], str]:
        cluster = {"provider": "existing", "name": "local", "kubeconfigPath": str(make(tmp))}
        return "local", {"binder:cluster": cluster}, words

    return setup


def _write(name: str, data: str | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path

    return make


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "kubeconfig")
    return tmp / "kubeconfig"


def _linked_to_environ(tmp: Path) -> Path:
    (tmp / "client.key").symlink_to("/proc/self/environ")
    return _write("kubeconfig", _kubeconfig(user="{client-key: client.key}"))(tmp)


#: (setup, id): each makes a hostile file and says which words the error must hold.
HOSTILE_FILES: list[Any] = [
    pytest.param(_values_file(alias_bomb(), "gcp/traefik.yaml: at line 2"), id="values-alias-bomb"),
    pytest.param(
        _values_file(TOO_BIG, "gcp/traefik.yaml: larger than the cap of 1 MiB"),
        id="values-too-big",
    ),
    pytest.param(
        _values_file(b"ports:\n  web: caf\xe9\n", "gcp/traefik.yaml: not UTF-8 text"),
        id="values-not-utf8",
    ),
    pytest.param(
        _values_file("a: 1\na: 2\n", "gcp/traefik.yaml: at line 2, column 1: the key 'a'"),
        id="values-duplicate-key",
    ),
    pytest.param(_secrets_file(alias_bomb(), "secrets.yaml': at line 2"), id="secrets-alias-bomb"),
    pytest.param(
        _secrets_file(TOO_BIG, "secrets.yaml': larger than the cap of 1 MiB"),
        id="secrets-too-big",
    ),
    pytest.param(
        _secrets_file(b"a: \xff\xfe\n", "secrets.yaml': not UTF-8 text"), id="secrets-not-utf8"
    ),
    pytest.param(
        _secrets_file("password: [hunter2-plaintext\n", "secrets.yaml': YAML syntax error at"),
        id="secrets-syntax-error",
    ),
    pytest.param(_secrets_fifo, id="secrets-fifo"),
    pytest.param(
        _kubeconfig_file(_write("kubeconfig", b"kind: Config\nname: \xc3\x28\n"), "not UTF-8"),
        id="kubeconfig-not-utf8",
    ),
    pytest.param(
        _kubeconfig_file(_write("kubeconfig", alias_bomb()), "kubeconfig: at line 2"),
        id="kubeconfig-alias-bomb",
    ),
    pytest.param(
        _kubeconfig_file(_write("kubeconfig", TOO_BIG), "larger than the cap of 1 MiB"),
        id="kubeconfig-too-big",
    ),
    pytest.param(_kubeconfig_file(_fifo, "not a regular file"), id="kubeconfig-fifo"),
    pytest.param(
        _kubeconfig_file(lambda tmp: Path("/dev/zero"), "not a regular file"),
        id="kubeconfig-dev-zero",
    ),
    pytest.param(
        _kubeconfig_file(_linked_to_environ, "client-key 'client.key' points into /proc"),
        id="kubeconfig-link-to-proc",
    ),
    pytest.param(
        _kubeconfig_file(
            _write("kubeconfig", _kubeconfig(user="{client-certificate: .}")),
            "client-certificate '.' is not a regular file",
        ),
        id="kubeconfig-reference-to-a-directory",
    ),
]


@pytest.mark.parametrize("setup", HOSTILE_FILES)
def test_a_hostile_file_fails_in_the_plan_at_once(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan_seconds: list[float]
) -> None:
    stack, overrides, words = setup(tmp_path, monkeypatch)
    message = _fails_in_the_plan(
        plan_seconds, lambda rec: run_stack(stack, overrides=overrides, recording=rec), words
    )
    assert "hunter2" not in message
    assert "lol" not in message


def test_independent_problems_are_reported_in_one_run() -> None:
    """Issue 20: a partner site fixed one stage's problem only to meet the next stage's on the
    following run. Access rules and release settings are checked independently."""
    from tools.mockrun import Recording

    recording = Recording()
    users = [{"name": "support@example.org", "kind": "User", "role": "view",
              "namespaces": ["binder"]}]
    tls = {"source": "letsencrypt", "email": "ops@example.org"}
    with pytest.raises(ConfigError) as raised:
        run_stack("gcp", overrides={"binder:users": users, "binder:tls": tls,
                                    "binder:certManager": {"enabled": False}},
                  recording=recording)
    message = str(raised.value)
    assert "binder:users[0]: 'view' in 'binder' reads the pods" in message
    assert "binder:tls.source is 'letsencrypt', which needs cert-manager" in message
    assert recording.resources == []
