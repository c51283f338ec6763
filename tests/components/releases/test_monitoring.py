"""Prometheus + Grafana (components/releases/monitoring.py)."""

from __future__ import annotations

import pulumi
import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.config.releases import MonitoringConfig
from components.releases.ingress_tls import IngressTls
from components.releases.monitoring import (
    METRICS_TOKEN_DIR,
    METRICS_TOKEN_FILE,
    Monitoring,
    MonitoringArgs,
)
from tests import fast_yaml
from tests.chart_data import chart_dir, chart_values, helm_values, release_problems
from tests.k8s_validate import assert_valid_objects
from tests.release_fixtures import (
    NEEDLES,
    PLAINTEXTS,
    STACKS,
    fake_secrets,
    file_values,
    namespace,
    release_of,
    run,
    user_values,
    values_root_with,
)
from tools.mockrun import Recording, is_secret, plaintext_leaks, run_program

SECRET = "kubernetes:core/v1:Secret"

LETSENCRYPT = IngressTls(source="letsencrypt", cluster_issuer="letsencrypt-staging")


def monitoring(
    stack="gcp", host="grafana.example.org", tls=LETSENCRYPT, secrets=None, ns=False, root=None
):
    def program():
        m = Monitoring(
            "mon",
            MonitoringArgs(
                file_values=file_values(stack, root),
                config=MonitoringConfig(grafana_host=host, retention="30d"),
                secrets=secrets or fake_secrets(),
                tls=tls,
                ingress_class="traefik",
                namespace_resources=[namespace("monitoring")] if ns else [],
            ),
        )
        pulumi.export("grafana_url", m.grafana_url)

    return run(program)


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_values_validate_against_its_schema_and_keys(stack):
    """The prometheus schema is not strict (no additionalProperties: false anywhere), so the
    keys are also checked against its values.yaml."""
    values = user_values(release_of(monitoring(stack), charts.PROMETHEUS))
    assert release_problems(charts.PROMETHEUS, values) == []


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_values_use_only_keys_of_its_values_yaml(stack):
    """grafana ships no values.schema.json (see test_charts): every key we set must exist in
    its values.yaml, except the documented OPEN_PATHS."""
    values = user_values(release_of(monitoring(stack), charts.GRAFANA))
    assert release_problems(charts.GRAFANA, values) == []


def test_prometheus_scrapes_jupyterhub_and_binderhub():
    values = user_values(release_of(monitoring(), charts.PROMETHEUS))
    assert values["server"]["retention"] == "30d"
    jobs = {job["job_name"]: job for job in fast_yaml.safe_load(values["extraScrapeConfigs"])}
    assert set(jobs) == {"jupyterhub", "binderhub"}
    assert jobs["jupyterhub"]["metrics_path"] == "/hub/metrics"
    assert jobs["binderhub"]["metrics_path"] == "/metrics"
    # The hub answers only a token with read:metrics; BinderHub's /metrics is open.
    assert jobs["jupyterhub"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/secrets/hub-metrics/token",
    }
    assert "authorization" not in jobs["binderhub"]
    for job, service in (("jupyterhub", "hub"), ("binderhub", "binder")):
        sd = jobs[job]["kubernetes_sd_configs"]
        # EndpointSlices: the v1 Endpoints API is deprecated since Kubernetes 1.33.
        assert sd == [{"role": "endpointslice", "namespaces": {"names": ["binder"]}}]
        keep = jobs[job]["relabel_configs"][0]
        assert keep["action"] == "keep"
        assert keep["regex"] == service
        assert keep["source_labels"] == ["__meta_kubernetes_service_name"]
        targets = {r.get("target_label") for r in jobs[job]["relabel_configs"]}
        assert {"namespace", "pod"} <= targets
    # The chart takes this key as a string (values.yaml default "").
    assert chart_values(charts.PROMETHEUS)["extraScrapeConfigs"] == ""
    # ...and its own jobs use the same discovery role (so its RBAC covers endpointslices).
    chart_jobs = chart_values(charts.PROMETHEUS)["scrapeConfigs"]
    assert chart_jobs["kubernetes-service-endpoints"]["kubernetes_sd_configs"] == [
        {"role": "endpointslice"}
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_upgrades_recreate_the_pod(stack):
    """The volume is ReadWriteOnce: a RollingUpdate's new pod on another node would wait for
    it forever (Multi-Attach error). Recreate, as rendered by Helm (no rollingUpdate left)."""
    values = user_values(release_of(monitoring(stack), charts.GRAFANA))
    assert values["persistence"]["enabled"] is True
    assert chart_values(charts.GRAFANA)["deploymentStrategy"] == {"type": "RollingUpdate"}
    assert helm_values(charts.GRAFANA, values)["deploymentStrategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_is_read_only_to_the_public(stack):
    """Anonymous visitors may look (like grafana.mybinder.org) but never edit, and nobody can
    sign themselves up: only the admin account from the secrets can change dashboards."""
    ini = helm_values(charts.GRAFANA, user_values(release_of(monitoring(stack), charts.GRAFANA)))[
        "grafana.ini"
    ]
    assert ini["users"]["allow_sign_up"] is False
    assert ini["auth.anonymous"]["org_role"] == "Viewer"


def test_grafana_has_prometheus_as_default_datasource():
    values = user_values(release_of(monitoring(), charts.GRAFANA))
    (source,) = values["datasources"]["datasources.yaml"]["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True
    # The prometheus chart names its server Service <release>-server.
    assert source["url"] == "http://prometheus-server.monitoring.svc.cluster.local"


def test_grafana_admin_password_is_a_secret():
    rec = monitoring()
    rel = release_of(rec, charts.GRAFANA)
    assert rel.inputs["values"]["adminPassword"] == PLAINTEXTS["grafana"]
    assert is_secret(rel.wire["values"]["adminPassword"])
    assert rel.additional_secret_outputs == ["values"]
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, NEEDLES)) == [], resource.name


def test_grafana_ingress_with_tls_when_host_is_set():
    rec = monitoring()
    values = user_values(release_of(rec, charts.GRAFANA))
    assert values["ingress"] == {
        "enabled": True,
        "ingressClassName": "traefik",
        "hosts": ["grafana.example.org"],
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-staging"},
        "tls": [{"secretName": "grafana-tls", "hosts": ["grafana.example.org"]}],
    }
    assert values["grafana.ini"]["server"]["root_url"] == "https://grafana.example.org"
    assert rec.outputs["grafana_url"] == "https://grafana.example.org"


def test_no_grafana_host_no_ingress():
    rec = monitoring(host=None)
    assert user_values(release_of(rec, charts.GRAFANA))["ingress"] == {"enabled": False}
    assert rec.outputs.get("grafana_url") is None


def test_institution_certificate_in_the_monitoring_namespace():
    rec = monitoring(tls=IngressTls(source="institution"), secrets=fake_secrets(tls=True))
    secret = rec.one(SECRET, "mon-tls")
    assert secret.inputs["metadata"] == {"name": "institution-tls", "namespace": "monitoring"}
    assert secret.urn in release_of(rec, charts.GRAFANA).dependencies


def test_release_options_and_no_dependency_between_the_two():
    rec = monitoring(ns=True)
    prometheus = release_of(rec, charts.PROMETHEUS)
    grafana = release_of(rec, charts.GRAFANA)
    ns = rec.one("kubernetes:core/v1:Namespace").urn
    token = rec.one(SECRET, "mon-hub-metrics-token").urn
    # Prometheus mounts the token's Secret, so it waits for it too.
    assert sorted(prometheus.dependencies) == sorted([ns, token])
    # Grafana mounts the dashboards' ConfigMap, so it waits for it.
    dashboards = rec.one("kubernetes:core/v1:ConfigMap", "mon-dashboards").urn
    assert sorted(grafana.dependencies) == sorted([ns, dashboards])
    assert prometheus.inputs["atomic"] is True
    assert grafana.inputs["atomic"] is False  # database migrations
    for rel in (prometheus, grafana):
        assert rel.inputs["namespace"] == "monitoring"
        assert rel.inputs["skipAwait"] is False
        assert rel.inputs["cleanupOnFail"] is True
    assert prometheus.inputs["repositoryOpts"]["repo"] == charts.PROMETHEUS.repo
    assert (
        grafana.inputs["repositoryOpts"]["repo"]
        == "https://grafana-community.github.io/helm-charts"
    )
    assert grafana.inputs["version"] == "12.11.1"
    assert prometheus.inputs["version"] == "29.27.0"


def test_unknown_keys_are_caught_without_a_strict_schema(tmp_path):
    root = values_root_with(
        tmp_path,
        "typo",
        {
            "grafana": "persistance:\n  enabled: true\n",
            "prometheus": "server:\n  retension: 1d\n",
        },
    )
    rec = monitoring("typo", root=root)
    grafana = release_problems(charts.GRAFANA, user_values(release_of(rec, charts.GRAFANA)))
    assert any("persistance" in p for p in grafana), grafana
    prom = release_problems(charts.PROMETHEUS, user_values(release_of(rec, charts.PROMETHEUS)))
    assert any("server.retension" in p for p in prom), prom


# ---- the hub's metrics, authenticated ------------------------------------------------------


def test_hub_metrics_token_is_a_secret_in_the_monitoring_namespace():
    rec = monitoring(ns=True)
    secret = rec.one(SECRET, "mon-hub-metrics-token")
    assert secret.inputs["metadata"] == {"name": "hub-metrics-token", "namespace": "monitoring"}
    assert secret.inputs["type"] == "Opaque"
    assert secret.inputs["stringData"] == {"token": PLAINTEXTS["metrics"]}
    # Secret on the wire (the SDK marks all of stringData secret).
    assert is_secret(secret.wire["stringData"])
    assert secret.dependencies == [rec.one("kubernetes:core/v1:Namespace").urn]
    # Strict kubernetes-validate (the Secret and the Namespace).
    checked = assert_valid_objects(
        rec, "1.33", select=lambda r: r.type.startswith("kubernetes:core")
    )
    assert "kubernetes:core/v1:Secret mon-hub-metrics-token" in checked
    # The token is in no resource in plaintext: not in the Prometheus values (they only name
    # the Secret and the file), nor anywhere else.
    prometheus = release_of(rec, charts.PROMETHEUS)
    assert PLAINTEXTS["metrics"] not in str(prometheus.inputs)
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, NEEDLES)) == [], resource.name


def test_prometheus_mounts_the_token_where_the_hub_job_reads_it():
    values = user_values(release_of(monitoring(), charts.PROMETHEUS))
    (mount,) = values["server"]["extraSecretMounts"]
    assert mount == {
        "name": "hub-metrics-token",
        "secretName": "hub-metrics-token",
        "mountPath": METRICS_TOKEN_DIR,
        "subPath": "",
        "readOnly": True,
    }
    # The job's credentials_file is the Secret's key inside that directory.
    (hub,) = [
        j for j in fast_yaml.safe_load(values["extraScrapeConfigs"])
        if j["job_name"] == "jupyterhub"
    ]
    assert hub["authorization"]["credentials_file"] == METRICS_TOKEN_FILE
    assert f"{mount['mountPath']}/token" == METRICS_TOKEN_FILE
    # Our entry has exactly the fields of the chart's documented example (values.yaml gives
    # it commented out under server.extraSecretMounts; its templates read those fields).
    text = (chart_dir(charts.PROMETHEUS) / "values.yaml").read_text()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "extraSecretMounts: []")
    example_lines = []
    for line in lines[start + 1 :]:
        if not line.strip().startswith("#"):
            break
        example_lines.append(line.strip()[2:])
    (example,) = fast_yaml.safe_load("\n".join(example_lines))
    assert set(mount) == set(example), example
    # The chart's default is an empty list: ours is the only mount.
    assert chart_values(charts.PROMETHEUS)["server"]["extraSecretMounts"] == []


def test_monitoring_without_its_secrets_is_a_wiring_error_before_any_resource():
    """Secrets made for a stack without monitoring have neither Grafana's password nor the
    metrics token. The plan makes them with monitoring whenever it is on, so this can only
    come from wiring the component by hand: a ValueError, not a configuration error."""
    recording = Recording()

    def program():
        Monitoring(
            "mon",
            MonitoringArgs(
                file_values=file_values(),
                config=MonitoringConfig(),
                secrets=fake_secrets(monitoring=False),
                tls=LETSENCRYPT,
                ingress_class="traefik",
            ),
        )

    with pytest.raises(ValueError, match="made without monitoring") as raised:
        run_program(program, recording=recording)
    assert not isinstance(raised.value, ConfigError)
    assert "Grafana admin password or Prometheus metrics token" in str(raised.value)
    assert recording.resources == []
