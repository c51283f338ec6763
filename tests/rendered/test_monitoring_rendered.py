"""Issue 11 on the objects Helm would create (tools/chart_render.py, the real charts):
Traefik's websocket timeouts reach its arguments; the Alertmanager and Prometheus
configuration files the charts render pass amtool and promtool; Grafana mounts our
dashboards where its provider reads them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.config.alerts import AlertsConfig
from components.releases.alerting import (
    ALERT_CREDENTIAL_DIR,
    ALERT_CREDENTIAL_SECRET,
    DASHBOARD_PROVIDER,
    DASHBOARDS_CONFIGMAP,
    alert_rules,
)
from tests import fast_yaml
from tests.components.releases.test_alerting import CREDENTIAL, VARIANTS, monitoring, tool
from tests.components.releases.test_ingress import controller
from tests.rendered.support import require_chart_data
from tools.chart_render import RenderedRelease, render_recording
from tools.mockrun import Recording


def rendered(rec: Recording, chart: str) -> RenderedRelease:
    require_chart_data()
    (release,) = [r for r in render_recording(rec, kube_version="1.33") if r.chart == chart]
    return release


def one(release: RenderedRelease, kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in release.objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


@pytest.mark.parametrize(("stack", "redirect"), [("gcp", True), ("local", False)])
def test_traefik_runs_with_the_websocket_timeouts(stack, redirect):
    traefik = rendered(controller(stack, redirect=redirect), "traefik")
    (deployment,) = [o for o in traefik.objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    for entry_point in ("web", "websecure"):
        for key in ("readTimeout", "idleTimeout"):
            flag = f"--entryPoints.{entry_point}.transport.respondingTimeouts.{key}=600s"
            assert flag in args, flag
    assert not [a for a in args if "writeTimeout" in a]


def check(tool_name: str, *args: str) -> None:
    result = subprocess.run([tool(tool_name), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("variant", ["none", "email-login", "webhook-token"])
def test_the_rendered_alertmanager_configuration_passes_amtool(tmp_path: Path, variant):
    raw, credential = VARIANTS[variant]
    prometheus = rendered(
        monitoring(AlertsConfig.model_validate(raw), credential=credential), "prometheus"
    )
    config_map = one(prometheus, "ConfigMap", "prometheus-alertmanager")
    text = config_map["data"]["alertmanager.yml"]
    assert CREDENTIAL not in text
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    check("amtool", "check-config", str(path))
    assert fast_yaml.safe_load(text)["route"]["receiver"] == raw["receiver"]
    # The credential's Secret is mounted where the configuration reads it.
    pod = one(prometheus, "StatefulSet", "prometheus-alertmanager")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for c in pod["containers"] for m in c["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    if credential:
        assert secrets[mounts[ALERT_CREDENTIAL_DIR]] == ALERT_CREDENTIAL_SECRET
    else:
        assert ALERT_CREDENTIAL_DIR not in mounts


def test_the_rendered_prometheus_loads_our_rules_and_finds_alertmanager(tmp_path: Path):
    prometheus = rendered(monitoring(), "prometheus")
    data = one(prometheus, "ConfigMap", "prometheus-server")["data"]
    rules = tmp_path / "alerting_rules.yml"
    rules.write_text(data["alerting_rules.yml"])
    assert fast_yaml.safe_load(data["alerting_rules.yml"]) == alert_rules()
    check("promtool", "check", "rules", str(rules))
    config = fast_yaml.safe_load(data["prometheus.yml"])
    assert "/etc/config/alerting_rules.yml" in config["rule_files"]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["kubernetes_sd_configs"] == [{"role": "pod"}]


def test_the_rendered_grafana_mounts_our_dashboards():
    grafana = rendered(monitoring(), "grafana")
    (deployment,) = [o for o in grafana.objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = [c for c in pod["containers"] if c["name"] == "grafana"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = volumes[mounts[f"/var/lib/grafana/dashboards/{DASHBOARD_PROVIDER}"]]
    assert volume["configMap"]["name"] == DASHBOARDS_CONFIGMAP
    # No init container downloading dashboards (the chart adds one for its `dashboards`).
    assert not [c for c in pod.get("initContainers", []) if c["name"] == "download-dashboards"]
    providers = [
        o
        for o in grafana.objects
        if o["kind"] == "ConfigMap" and "dashboardproviders.yaml" in o.get("data", {})
    ]
    (provider,) = fast_yaml.safe_load(providers[0]["data"]["dashboardproviders.yaml"])["providers"]
    assert provider["options"]["path"] == f"/var/lib/grafana/dashboards/{DASHBOARD_PROVIDER}"
