"""Fluentd (components/releases/logging.py)."""

from __future__ import annotations

import pulumi
import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.config.releases import LoggingConfig, LoggingOutput
from components.releases.logging import (
    CREDENTIALS_SECRET,
    PASSWORD_ENV,
    PRIORITY_CLASS,
    Logging,
    LoggingArgs,
    check_output_credentials,
)
from components.releases.plan import check_release_secrets
from components.secrets.material import SecretMaterial
from tests.chart_data import chart_values, release_problems
from tests.k8s_validate import assert_valid_objects
from tests.release_fixtures import (
    NEEDLES,
    PLAINTEXTS,
    STACKS,
    config,
    fake_secrets,
    file_values,
    namespace,
    release_of,
    release_plan,
    run,
    user_values,
    values_root_with,
)

ELASTIC = {
    "output": {
        "type": "elasticsearch",
        "host": "es.example.org",
        "user": "binder",
        "indexPrefix": "binder-ebi",
    }
}


def logging_(stack="gcp", config=None, secrets=None, ns=False, root=None):
    def program():
        Logging(
            "log",
            LoggingArgs(
                file_values=file_values(stack, root),
                config=LoggingConfig.model_validate(config or {}),
                secrets=secrets or fake_secrets(),
                namespace_resources=[namespace("logging")] if ns else [],
            ),
        )

    return run(program)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("output", ["stdout", "elasticsearch"])
def test_values_use_only_keys_of_the_fluentd_values_yaml(stack, output):
    """fluentd ships no values.schema.json (see test_charts): every key we set must exist in
    its values.yaml, except the documented OPEN_PATHS."""
    config = ELASTIC if output == "elasticsearch" else {}
    secrets = fake_secrets(logging_password=output == "elasticsearch")
    values = user_values(release_of(logging_(stack, config, secrets), charts.FLUENTD))
    assert release_problems(charts.FLUENTD, values) == []


def test_daemonset_on_every_node_reading_container_logs():
    values = user_values(release_of(logging_(), charts.FLUENTD))
    assert values["kind"] == "DaemonSet"
    assert values["tolerations"] == [{"operator": "Exists"}]
    # The chart's own source tails every container log of the node; we keep it.
    assert "01_sources.conf" not in values.get("fileConfigs", {})
    sources = chart_values(charts.FLUENTD)["fileConfigs"]["01_sources.conf"]
    assert "path /var/log/containers/*.log" in sources
    assert chart_values(charts.FLUENTD)["mountVarLogDirectory"] is True


def test_stdout_is_the_default_output():
    values = user_values(release_of(logging_(), charts.FLUENTD))
    output = values["fileConfigs"]["04_outputs.conf"]
    assert "@type stdout" in output
    assert "<label @OUTPUT>" in output
    assert "elasticsearch" not in output
    assert "env" not in values


@pytest.mark.parametrize(
    ("kind", "variant"), [("elasticsearch", "elasticsearch8"), ("opensearch", "opensearch")]
)
def test_search_output_with_password_from_a_secret(kind, variant):
    config = {"output": {**ELASTIC["output"], "type": kind}}
    rec = logging_(config=config, secrets=fake_secrets(logging_password=True), ns=True)
    rel = release_of(rec, charts.FLUENTD)
    values = user_values(rel)
    output = values["fileConfigs"]["04_outputs.conf"]
    assert f"@type {kind}" in output
    assert 'host "es.example.org"' in output
    assert "port 9200" in output
    assert 'logstash_prefix "binder-ebi"' in output
    assert 'user "binder"' in output
    assert f"password \"#{{ENV['{PASSWORD_ENV}']}}\"" in output
    assert values["variant"] == variant
    assert values["env"] == [
        {
            "name": PASSWORD_ENV,
            "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": "password"}},
        }
    ]
    secret = rec.one("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"] == {"name": CREDENTIALS_SECRET, "namespace": "logging"}
    assert secret.inputs["stringData"] == {"password": PLAINTEXTS["logging"]}
    assert secret.urn in rel.dependencies
    for resource in rec.resources:
        from tools.mockrun import plaintext_leaks

        assert list(plaintext_leaks(resource.wire, NEEDLES)) == [], resource.name
    # Namespace, PriorityClass and Secret are built-in kinds: strict kubernetes-validate.
    assert len(assert_valid_objects(rec, "1.33")) == 3


PRIORITY = "kubernetes:scheduling.k8s.io/v1:PriorityClass"


@pytest.mark.parametrize("k8s", ["1.31", "1.33"])
def test_fluentd_runs_with_its_own_priority_class(k8s):
    """Not system-node-critical: GKE admits that class only in namespaces with a ResourceQuota
    scoped to it (kube-system). Our own class is created first and validates strictly."""
    rec = logging_(ns=True)
    rel = release_of(rec, charts.FLUENTD)
    priority = rec.one(PRIORITY)
    assert priority.inputs == {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": PRIORITY_CLASS},
        "value": 1000000,
        "globalDefault": False,
        "preemptionPolicy": "PreemptLowerPriority",
        "description": priority.inputs["description"],
    }
    # Above z2jh's user pods (0 and below), below the system classes (2000000000).
    assert 0 < priority.inputs["value"] <= 1_000_000_000
    assert user_values(rel)["priorityClassName"] == PRIORITY_CLASS == "binder-node-critical"
    assert priority.urn in rel.dependencies
    assert priority.parent == rec.one("binder:logging:Logging").urn
    assert PRIORITY in [r.split(" ")[0] for r in assert_valid_objects(rec, k8s)]


def test_no_values_file_picks_a_system_priority_class():
    for stack in STACKS:
        values = user_values(release_of(logging_(stack), charts.FLUENTD))
        assert not str(values.get("priorityClassName", "")).startswith("system-"), stack


def test_user_without_password_is_a_config_error_in_the_plan():
    plan = release_plan(config(logging={"enabled": True, **ELASTIC}))
    with pytest.raises(ConfigError, match="loggingPassword"):
        check_release_secrets(plan, SecretMaterial())
    check_release_secrets(plan, SecretMaterial(logging_password=pulumi.Output.secret("pw")))


def test_password_without_user_is_a_config_error_in_the_plan():
    output = {"type": "opensearch", "host": "os.example.org"}
    plan = release_plan(config(logging={"enabled": True, "output": output}))
    with pytest.raises(ConfigError, match=r"logging\.output\.user"):
        check_release_secrets(plan, SecretMaterial(logging_password=pulumi.Output.secret("pw")))


def test_credentials_check_is_pure_and_names_the_settings():
    output = LoggingOutput.model_validate(ELASTIC["output"])
    with pytest.raises(ConfigError) as err:
        check_output_credentials(output, has_password=False)
    assert "binder:logging.output.user" in str(err.value)
    assert "pulumi config set --secret binder:loggingPassword" in str(err.value)
    check_output_credentials(output, has_password=True)
    # stdout needs no account; a password given for it is simply unused.
    check_output_credentials(LoggingOutput(), has_password=True)
    check_output_credentials(LoggingOutput(), has_password=False)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("host", 'es.example.org" scheme http'),
        ("host", "es.example.org\n  ssl_verify false"),
        ("host", "https://es.example.org"),
        ("host", "es.example.org:9200"),
        ("user", 'binder" password "x'),
        ("user", "bin der"),
        ("user", "binder\nsecret"),
        ("user", "#{ENV['HOME']}"),
        ("user", "back\\slash"),
    ],
)
def test_host_and_user_cannot_break_out_of_the_fluentd_config(setting, value):
    """host and user are written into fluentd's configuration inside double quotes, where
    `#{...}` is Ruby: anything but a plain name is a config error naming the setting."""
    output = {**ELASTIC["output"], setting: value}
    with pytest.raises(ConfigError) as err:
        config(logging={"enabled": True, "output": output})
    assert f"binder:logging.output.{setting}" in str(err.value)
    assert value not in str(err.value)


def test_plain_host_and_user_are_accepted():
    output = {**ELASTIC["output"], "host": "10.0.0.7", "user": "svc-binder_logs@example.org"}
    cfg = config(logging={"enabled": True, "output": output})
    assert cfg.logging.output.user == "svc-binder_logs@example.org"


def test_release_options():
    rel = release_of(logging_(ns=True), charts.FLUENTD)
    assert rel.inputs["skipAwait"] is True  # DaemonSet on an autoscaling pool
    assert rel.inputs["atomic"] is False
    assert rel.inputs["cleanupOnFail"] is True
    assert rel.inputs["namespace"] == "logging"
    assert rel.inputs["createNamespace"] is False
    assert rel.inputs["version"] == "0.6.0"
    assert rel.inputs["repositoryOpts"] == {"repo": "https://fluent.github.io/helm-charts"}


def test_unknown_key_is_caught_without_a_schema(tmp_path):
    root = values_root_with(tmp_path, "typo", {"fluentd": "tolerration: []\n"})
    values = user_values(release_of(logging_("typo", root=root), charts.FLUENTD))
    assert any("tolerration" in p for p in release_problems(charts.FLUENTD, values))
