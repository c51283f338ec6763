"""components/plan.py: every configuration problem is raised by the plan, before any resource;
components built from a valid plan raise none."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

import components.plan
from components.config.base import ConfigError
from components.plan import Plan, build_plan
from components.releases import values
from tests.release_fixtures import values_root_with
from tools.mockrun import Recording, run_program, run_stack, stack_config

STACKS = ("ebi", "gcp", "local")


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
    released = {r.inputs["chart"] for r in recording.of_type("kubernetes:helm.sh/v3:Release")}
    assert released == {pin.chart for pin in plan.releases.enabled}
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
                "kubernetesVersion": "1.33",
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
]


@pytest.mark.parametrize(("stack", "overrides", "secrets", "words"), CATALOGUE)
def test_every_catalogued_bad_input_fails_in_the_plan_with_nothing_registered(
    stack: str, overrides: dict[str, Any], secrets: dict[str, str], words: str
) -> None:
    recording = Recording()
    with pytest.raises(ConfigError) as raised:
        run_stack(stack, overrides=overrides, secrets=secrets, recording=recording)
    assert words in str(raised.value)
    assert recording.resources == []
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "build_plan" in frames, frames
    assert "hunter2-plaintext" not in str(raised.value)


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
