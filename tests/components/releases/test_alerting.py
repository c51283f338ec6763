"""Alert rules and Alertmanager (issue 11), checked with the real tools.

``promtool`` checks and unit-tests the rule file; ``amtool`` checks the Alertmanager
configuration the program sends, as the subchart renders it. Both are built from their pinned
Go modules into ``bin/`` by ``make test`` (``e2e/tools/prometheus``: Prometheus 3.16,
Alertmanager 0.35); where Go is missing, the ones on PATH are used. A missing tool fails the
tests and says how to get it.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.catalog import charts
from components.catalog.charts import NAMESPACES
from components.config.alerts import AlertsConfig
from components.config.base import ConfigError
from components.config.releases import MonitoringConfig
from components.config.stack import parse_config
from components.releases.alerting import (
    ALERT_CREDENTIAL_FILE,
    ALERT_RULES_FILE,
    MONITORING_DATA,
    alert_rules,
    check_alert_credential,
)
from components.releases.monitoring import Monitoring, MonitoringArgs
from components.releases.plan import check_release_secrets, plan_releases
from components.secrets.material import SecretMaterial
from tests import fast_yaml
from tests.chart_data import chart_dir, chart_values, coalesce, subchart_values
from tests.components.releases.test_monitoring import LETSENCRYPT
from tests.conftest import REPO
from tests.k8s_validate import assert_valid_objects
from tests.monitoring_metrics import KNOWN_METRICS, metric_names
from tests.release_fixtures import (
    BASE_CONFIG,
    fake_secrets,
    file_values,
    release_of,
    run,
    user_values,
)
from tools.mockrun import Recording, is_secret, plaintext_leaks, run_program

UNIT_TESTS = MONITORING_DATA / "alerts.test.yaml"
CREDENTIAL = "test-alertmanager-credential-0123"


def tool(name: str) -> str:
    """The pinned build in ``bin/`` (``make test-tools``), else the one on PATH."""
    built = REPO / "bin" / name
    path = str(built) if built.is_file() else shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is missing, and the monitoring checks need the real tool: `make "
            "test-tools` builds it from its pinned Go module into bin/ (needs Go 1.26; "
            "`make test` does it first), or install Prometheus' own package (README, "
            "Prerequisites).",
            pytrace=False,
        )
    return path


def run_tool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def rules() -> list[dict[str, Any]]:
    return [rule for group in alert_rules()["groups"] for rule in group["rules"]]


# ---- promtool -----------------------------------------------------------------------------


def test_promtool_checks_every_rule_file():
    files = sorted(MONITORING_DATA.glob("*.rules.yaml"))
    assert files == [ALERT_RULES_FILE]
    for path in files:
        result = run_tool("promtool", "check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def unit_test(
    tmp_path: Path, rules_text: str | None = None, alert: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` on a copy; with ``alert``, only the cases that check it."""
    tests = fast_yaml.safe_load(UNIT_TESTS.read_text())
    if alert is not None:
        tests["tests"] = [
            case
            for case in tests["tests"]
            if any(check["alertname"] == alert for check in case.get("alert_rule_test", []))
        ]
        assert tests["tests"], alert
    (tmp_path / UNIT_TESTS.name).write_text(yaml.safe_dump(tests))
    (tmp_path / ALERT_RULES_FILE.name).write_text(rules_text or ALERT_RULES_FILE.read_text())
    return run_tool("promtool", "test", "rules", UNIT_TESTS.name, cwd=tmp_path)


def test_promtool_unit_tests_pass(tmp_path):
    result = unit_test(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_in_a_unit_test_and_stays_quiet_in_another():
    tests = fast_yaml.safe_load(UNIT_TESTS.read_text())
    assert tests["rule_files"] == [ALERT_RULES_FILE.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert names == {
        "JupyterHubDown",
        "BinderHubDown",
        "BinderLaunchFailureRateHigh",
        "BinderGitHubRateLimitLow",
        "BinderBuildsStuck",
        "BinderBuildPodPending",
        "BinderBuildsAllFailing",
        "BinderImagePullFailing",
        "NodeDiskNearlyFull",
        "PersistentVolumeNearlyFull",
        "CertificateExpiresSoon",
        "FederationMemberOutOfRotation",
        "FederationAllMembersDown",
        "FederationFrontDoorDown",
        "CryptominerKilled",
    }
    assert names - fires == set(), "alerts never seen firing"
    assert names - quiet == set(), "alerts never seen quiet on a healthy series"


@pytest.mark.parametrize(
    ("alert", "old", "new"),
    [
        # A certificate alert that waits for 1 day instead of 14 misses the 10-day case.
        ("CertificateExpiresSoon", "< 14 * 86400", "< 1 * 86400"),
        # Counting quota refusals as failures would page on a busy, healthy day: the test
        # with 50% failures still fires, the quiet case with quota refusals catches this.
        (
            "BinderLaunchFailureRateHigh",
            'sum(rate(binderhub_launch_count{status="failure"}[15m]))',
            'sum(rate(binderhub_launch_count{status!="success"}[15m]))',
        ),
        # max() would wait for every replica's last answer to be low: one replica that
        # last asked GitHub an hour ago keeps a stale, high value and hides the outage.
        (
            "BinderGitHubRateLimitLow",
            "min(binderhub_github_rate_limit_remaining) < 100",
            "max(binderhub_github_rate_limit_remaining) < 100",
        ),
        # `and` instead of `or` would need both detectors to kill in the same window.
        (
            "CryptominerKilled",
            "[15m])) > 0\n          or\n",
            "[15m])) > 0\n          and\n",
        ),
        # Forgetting `or vector(0)` silences the stuck-builds alert until a build finished.
        (
            "BinderBuildsStuck",
            "(sum(increase(binderhub_build_time_seconds_count[2h])) or vector(0)) == 0",
            "sum(increase(binderhub_build_time_seconds_count[2h])) == 0",
        ),
        # Without the `unless`, a member its operators disabled (leaving) would page.
        (
            "FederationMemberOutOfRotation",
            'reason=~"disabled|weight_zero"',
            'reason="no-such-reason"',
        ),
        # `min` instead of `max` over the instances: one instance's passing view pages.
        (
            "FederationMemberOutOfRotation",
            "max by (member) (\n",
            "min by (member) (\n",
        ),
    ],
)
def test_the_unit_tests_catch_a_wrong_threshold(tmp_path, alert, old, new):
    """The unit tests are not vacuous: a plausible mistake in a rule makes promtool fail
    (only the alert's own cases run: they are the ones that must catch it)."""
    text = ALERT_RULES_FILE.read_text()
    assert text.count(old) == 1
    # Unchanged, these cases pass: test_promtool_unit_tests_pass runs them all, and promtool
    # runs each test group on its own series, so a subset passes whenever the whole does.
    result = unit_test(tmp_path, text.replace(old, new), alert=alert)
    assert result.returncode != 0, result.stdout


def test_rules_name_only_known_metrics():
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= set(KNOWN_METRICS), (rule["alert"], names - set(KNOWN_METRICS))


def test_the_metric_check_catches_an_unknown_name():
    names = metric_names('sum(rate(binderhub_launch_total{status="failure"}[5m])) by (repo)')
    assert names == {"binderhub_launch_total"}
    assert not names <= set(KNOWN_METRICS)


def test_rules_watch_the_binderhub_namespace():
    found = {ns for rule in rules() for ns in re.findall(r'namespace="([^"]+)"', rule["expr"])}
    assert found == {NAMESPACES["binderhub"]}


def test_every_rule_says_what_to_do():
    text = (REPO / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        runbook = rule["annotations"]["runbook"]
        page, _, anchor = runbook.partition("#")
        assert page == "docs/operations.md"
        assert anchor in anchors, (rule["alert"], anchor)


# ---- the rules reach Prometheus -----------------------------------------------------------


def monitoring(alerts: AlertsConfig | None = None, credential: bool = False) -> Recording:
    secrets = fake_secrets()
    if credential:
        secrets = copy.copy(secrets)
        object.__setattr__(secrets, "alertmanager_credential", pulumi.Output.secret(CREDENTIAL))

    def program():
        Monitoring(
            "mon",
            MonitoringArgs(
                file_values=file_values("gcp"),
                config=MonitoringConfig(alerts=alerts or AlertsConfig()),
                secrets=secrets,
                tls=LETSENCRYPT,
                ingress_class="traefik",
            ),
        )

    return run(program)


def test_rules_reach_the_prometheus_server():
    values = user_values(release_of(monitoring(), charts.PROMETHEUS))
    assert values["serverFiles"]["alerting_rules.yml"] == alert_rules()
    # The chart's default prometheus.yml reads that file, and its ConfigMap template writes
    # every serverFiles key as a file of /etc/config.
    chart = chart_values(charts.PROMETHEUS)
    assert "/etc/config/alerting_rules.yml" in chart["serverFiles"]["prometheus.yml"]["rule_files"]
    template = (chart_dir(charts.PROMETHEUS) / "templates" / "cm.yaml").read_text()
    assert "range $key, $value := .Values.serverFiles" in template
    # ...and points Prometheus at the subchart's Alertmanager when it is enabled.
    assert "if or ($root.Values.alertmanager.enabled) ($root.Values.server.alertmanagers)" in (
        template
    )
    assert values["alertmanager"]["enabled"] is True


# ---- Alertmanager ---------------------------------------------------------------------------

EMAIL = {
    "to": ["ops@example.org", "oncall@example.org"],
    "from": "binder@example.org",
    "smarthost": "smtp.example.org:587",
}
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "none": ({"receiver": "none"}, False),
    "email-no-login": ({"receiver": "email", "email": EMAIL}, False),
    "email-login": ({"receiver": "email", "email": {**EMAIL, "username": "binder"}}, True),
    "webhook": ({"receiver": "webhook", "webhook": {"url": "https://hooks.example.org/a"}}, False),
    "webhook-token": (
        {"receiver": "webhook", "webhook": {"url": "https://hooks.example.org/a"}},
        True,
    ),
    # Slack, Discord, Teams: the URL is the secret (issue 20).
    "webhook-secret-url": ({"receiver": "webhook", "webhook": {}}, True),
}


def rendered_alertmanager_config(values: dict[str, Any]) -> dict[str, Any]:
    """alertmanager.yml as the subchart renders it: its ``config`` value coalesced with the
    subchart's defaults, less ``enabled`` (templates/configmap.yaml: ``omit .Values.config
    "enabled"``)."""
    template = (
        chart_dir(charts.PROMETHEUS) / "charts" / "alertmanager" / "templates" / "configmap.yaml"
    ).read_text()
    assert '$config := omit .Values.config "enabled"' in template
    merged = coalesce(chart_values(charts.PROMETHEUS), values, subchart_values(charts.PROMETHEUS))
    config = dict(merged["alertmanager"]["config"])
    assert config.pop("enabled") is True
    return config


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_amtool_accepts_the_rendered_configuration(tmp_path, variant):
    raw, credential = VARIANTS[variant]
    rec = monitoring(AlertsConfig.model_validate(raw), credential=credential)
    config = rendered_alertmanager_config(user_values(release_of(rec, charts.PROMETHEUS)))
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_tool("amtool", "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"] == raw["receiver"]
    # The credential is named by its file, never written into the configuration.
    assert CREDENTIAL not in path.read_text()
    assert (ALERT_CREDENTIAL_FILE in path.read_text()) is credential


def test_amtool_is_strict(tmp_path):
    """The check can fail: a misspelt field and an undefined receiver are both refused."""
    rec = monitoring(AlertsConfig.model_validate(VARIANTS["email-login"][0]), credential=True)
    config = rendered_alertmanager_config(user_values(release_of(rec, charts.PROMETHEUS)))
    for broken in (
        {**config, "route": {**config["route"], "receiver": "nobody"}},
        {
            **config,
            "receivers": [
                {
                    "name": "email",
                    "email_configs": [
                        {**config["receivers"][0]["email_configs"][0], "auth_pasword_file": "/x"}
                    ],
                }
            ],
        },
    ):
        path = tmp_path / "broken.yml"
        path.write_text(yaml.safe_dump(broken))
        assert run_tool("amtool", "check-config", str(path)).returncode != 0


def test_email_receiver_settings():
    rec = monitoring(AlertsConfig.model_validate(VARIANTS["email-login"][0]), credential=True)
    config = user_values(release_of(rec, charts.PROMETHEUS))["alertmanager"]["config"]
    (email,) = config["receivers"][0]["email_configs"]
    assert email == {
        "to": "ops@example.org, oncall@example.org",
        "from": "binder@example.org",
        "smarthost": "smtp.example.org:587",
        "require_tls": True,
        "send_resolved": True,
        "auth_username": "binder",
        "auth_password_file": ALERT_CREDENTIAL_FILE,
    }


def test_webhook_token_is_a_bearer_credentials_file():
    rec = monitoring(AlertsConfig.model_validate(VARIANTS["webhook-token"][0]), credential=True)
    config = user_values(release_of(rec, charts.PROMETHEUS))["alertmanager"]["config"]
    (hook,) = config["receivers"][0]["webhook_configs"]
    assert hook["url"] == "https://hooks.example.org/a"
    assert hook["http_config"] == {
        "authorization": {"type": "Bearer", "credentials_file": ALERT_CREDENTIAL_FILE}
    }


def test_a_secret_webhook_url_is_read_from_the_credential_file():
    rec = monitoring(AlertsConfig.model_validate(VARIANTS["webhook-secret-url"][0]),
                     credential=True)
    config = user_values(release_of(rec, charts.PROMETHEUS))["alertmanager"]["config"]
    (hook,) = config["receivers"][0]["webhook_configs"]
    assert hook == {"send_resolved": True, "url_file": ALERT_CREDENTIAL_FILE}
    with pytest.raises(ConfigError, match="webhook has no url, so the URL is the secret"):
        check_alert_credential(AlertsConfig.model_validate(VARIANTS["webhook-secret-url"][0]),
                               has_credential=False)


@pytest.mark.parametrize("url", [
    "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX",
    "https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz",
    "https://example.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x/y",
])
def test_a_webhook_url_whose_path_is_its_secret_must_come_from_the_secrets(url):
    with pytest.raises(ValueError, match="store the whole URL as the secret") as info:
        AlertsConfig.model_validate({"receiver": "webhook", "webhook": {"url": url}})
    assert url not in str(info.value)


def test_the_credential_is_a_secret_mounted_where_the_configuration_reads_it():
    rec = monitoring(AlertsConfig.model_validate(VARIANTS["email-login"][0]), credential=True)
    secret = rec.one("kubernetes:core/v1:Secret", "mon-alertmanager-receiver")
    assert secret.inputs["metadata"] == {"name": "alertmanager-receiver", "namespace": "monitoring"}
    assert secret.inputs["stringData"] == {"credential": CREDENTIAL}
    assert is_secret(secret.wire["stringData"])
    checked = assert_valid_objects(
        rec, "1.33", select=lambda r: r.type.startswith("kubernetes:core")
    )
    assert "kubernetes:core/v1:Secret mon-alertmanager-receiver" in checked
    prometheus = release_of(rec, charts.PROMETHEUS)
    assert secret.urn in prometheus.dependencies
    (mount,) = user_values(prometheus)["alertmanager"]["extraSecretMounts"]
    assert mount["secretName"] == "alertmanager-receiver"
    assert f"{mount['mountPath']}/credential" == ALERT_CREDENTIAL_FILE
    # The fields of the subchart's documented example (values.yaml, commented out).
    text = (chart_dir(charts.PROMETHEUS) / "charts" / "alertmanager" / "values.yaml").read_text()
    lines = text.splitlines()
    start = lines.index("extraSecretMounts: []")
    example = fast_yaml.safe_load(
        "\n".join(line.strip()[2:] for line in lines[start + 1 : start + 6]))
    assert set(mount) == set(example[0])
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, [CREDENTIAL])) == [], resource.name


def test_no_credential_no_secret_and_no_mount():
    rec = monitoring(AlertsConfig.model_validate(VARIANTS["webhook"][0]))
    assert not [r for r in rec.resources if r.name == "mon-alertmanager-receiver"]
    assert (
        "extraSecretMounts" not in user_values(release_of(rec, charts.PROMETHEUS))["alertmanager"]
    )


def test_an_unused_credential_is_not_mounted_and_a_warning_says_so():
    rec = monitoring(AlertsConfig(), credential=True)
    assert not [r for r in rec.resources if r.name == "mon-alertmanager-receiver"]
    # The plan (check_release_secrets) says so, before any resource.
    warned = run_program(lambda: check_alert_credential(AlertsConfig(), has_credential=True))
    assert any("alertmanagerCredential" in line and "not used" in line for line in warned.logs)
    quiet = run_program(lambda: check_alert_credential(AlertsConfig(), has_credential=False))
    assert not [line for line in quiet.logs if "alertmanagerCredential" in line]


def test_smtp_login_without_password_is_an_error_before_any_resource():
    alerts = AlertsConfig.model_validate(VARIANTS["email-login"][0])
    with pytest.raises(ConfigError, match="binder:alertmanagerCredential"):
        check_alert_credential(alerts, has_credential=False)
    check_alert_credential(alerts, has_credential=True)


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({"receiver": "email"}, "receiver is 'email' but no email settings are given"),
        ({"receiver": "webhook"}, "receiver is 'webhook' but no webhook settings are given"),
        ({"receiver": "pager"}, "monitoring.alerts.receiver"),
        (
            {"receiver": "email", "email": {**EMAIL, "smarthost": "smtp.example.org"}},
            "monitoring.alerts.email.smarthost: must be host:port",
        ),
        (
            {"receiver": "email", "email": {**EMAIL, "to": ["ops"]}},
            "monitoring.alerts.email.to: entries [0] are not e-mail addresses",
        ),
        (
            {"receiver": "webhook", "webhook": {"url": "https://h.example.org/x?token=s3cr3t"}},
            "must not carry a credential",
        ),
        (
            {"receiver": "webhook", "webhook": {"url": "http://h.example.org/x"}},
            "must be an https:// URL",
        ),
    ],
)
def test_bad_alert_settings_are_config_errors(alerts, message):
    raw = copy.deepcopy(BASE_CONFIG)
    raw["monitoring"]["alerts"] = alerts
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    assert message in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_the_charts_scrape_what_the_rules_read():
    """The series the rules and dashboards read come from the prometheus chart's own jobs:
    facts of the pinned charts, pinned here."""
    jobs = chart_values(charts.PROMETHEUS)["scrapeConfigs"]
    # kube-state-metrics and node-exporter: their Services are annotated for the
    # kubernetes-service-endpoints job, which keeps their labels (namespace, pod of
    # kube_pod_*) and adds `node` from the endpoint's pod.
    endpoints = jobs["kubernetes-service-endpoints"]
    assert endpoints["honor_labels"] is True
    assert {
        "source_labels": ["__meta_kubernetes_pod_node_name"],
        "action": "replace",
        "target_label": "node",
    } in endpoints["relabel_configs"]
    subcharts = subchart_values(charts.PROMETHEUS)
    assert subcharts["kube-state-metrics"]["prometheusScrape"] is True
    ksm_service = (
        chart_dir(charts.PROMETHEUS)
        / "charts"
        / "kube-state-metrics"
        / "templates"
        / "service.yaml"
    ).read_text()
    assert "prometheus.io/scrape: '{{ .Values.prometheusScrape }}'" in ksm_service
    node_exporter = subcharts["prometheus-node-exporter"]["service"]["annotations"]
    assert node_exporter["prometheus.io/scrape"] == "true"
    # cert-manager: its pods are annotated (prometheus.enabled, our values) for the
    # kubernetes-pods job, whose honor_labels keeps the certificate's `namespace`.
    assert jobs["kubernetes-pods"]["honor_labels"] is True
    ours = fast_yaml.safe_load((REPO / "helm_configs" / "base" / "cert-manager.yaml").read_text())
    assert ours["prometheus"]["enabled"] is True
    deployment = (chart_dir(charts.CERT_MANAGER) / "templates" / "deployment.yaml").read_text()
    assert "prometheus.io/scrape: 'true'" in deployment
    # The kubelet (kubelet_volume_stats_*): the kubernetes-nodes job, one target per node.
    assert jobs["kubernetes-nodes"]["kubernetes_sd_configs"] == [{"role": "node"}]
    assert jobs["kubernetes-nodes"]["enabled"] is True


def test_an_smtp_login_without_password_stops_the_program_before_any_resource():
    """The plan's check_release_secrets, which runs right after the secrets load."""
    raw = copy.deepcopy(BASE_CONFIG)
    raw["monitoring"]["alerts"] = VARIANTS["email-login"][0]
    with pytest.raises(ConfigError, match="no SMTP password was given"):
        check_release_secrets(plan_releases(parse_config(raw), "gcp"), SecretMaterial())
    check_release_secrets(
        plan_releases(parse_config(raw), "gcp"),
        SecretMaterial(alertmanager_credential=pulumi.Output.secret("x")),
    )
