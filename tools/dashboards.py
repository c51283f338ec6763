"""Grafana dashboards of the Binder service, written for this project (issue 11).

The dashboards are generated from this module so that every panel has the same shape (data
source, legend, units) and so that a change is a small diff here, not in hundreds of lines
of JSON. ``python -m tools.dashboards`` writes them to ``helm_configs/monitoring/dashboards/``,
where the program reads them (components/releases/alerting.py) and provisions them through the
grafana chart's ``dashboardProviders`` + ``dashboardsConfigMaps``
(https://grafana.com/docs/grafana/latest/administration/provisioning/#dashboards).
``tests/components/releases/test_dashboards.py`` fails when the committed files and this module
disagree, and when a query names a metric that is not on the cited list
``tests/monitoring_metrics.py``.

Dashboard JSON model: https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "helm_configs" / "monitoring" / "dashboards"
#: The provisioned Prometheus data source (components/releases/monitoring.py, uid "prometheus").
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
#: BinderHub's namespace (components.bootstrap NAMESPACES["binderhub"]); the tests check it.
BINDER_NS = "binder"


#: The deploy markers (tools/grafana_annotation.py, one per deploy, tagged ``deploy``) on every
#: dashboard: an annotation query of Grafana's own data source by tag. The dashboard model's
#: annotation fields: https://github.com/grafana/grafonnet/blob/main/gen/grafonnet-v10.0.0/docs/dashboard/annotation.md
DEPLOY_TAG = "deploy"
DEPLOYS: dict[str, Any] = {
    "name": "Deploys",
    "datasource": {"type": "datasource", "uid": "grafana"},
    "enable": True,
    "hide": False,
    "iconColor": "rgba(255, 152, 48, 1)",
    "target": {"type": "tags", "tags": [DEPLOY_TAG], "matchAny": False, "limit": 100},
}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 12
    extra: dict[str, Any] = field(default_factory=dict)


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend or "__auto",
                # Tables and stats show the latest value; graphs the range.
                **({"instant": True, "range": False} if panel.kind in ("table", "stat") else {}),
            }
            for i, q in enumerate(panel.queries)
        ],
    }
    if panel.kind == "timeseries":
        result["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}}
    result.update(panel.extra)
    return result


def dashboard_json(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    laid_out = []
    x = y = 0
    for i, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        laid_out.append(panel_json(panel, i, x, y))
        x += panel.width
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["binder"],
        "editable": False,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "utc",
        "annotations": {"list": [DEPLOYS]},
        "templating": {"list": []},
        "links": [],
        "panels": laid_out,
    }


def rate(metric: str, window: str = "$__rate_interval") -> str:
    return f"rate({metric}[{window}])"


def quantiles(bucket: str, selector: str, window: str) -> tuple[Query, ...]:
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{selector}}}[{window}])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.9, 0.99)
    )


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name (without ``.json``)."""
    ns = BINDER_NS
    user_pods = f'namespace="{ns}", pod=~"jupyter-.+"'
    build_pods = f'namespace="{ns}", pod=~"build-.+"'
    return {
        "binder-users": dashboard_json(
            "binder-users",
            "Binder: users and servers",
            "Who uses the service now: active users, running servers, user pods.",
            [
                Panel(
                    "Running user servers",
                    "Servers the hub counts as running (JupyterHub's jupyterhub_running_servers).",
                    (Query("sum(jupyterhub_running_servers)", "running servers"),),
                ),
                Panel(
                    "Active users",
                    "Users active in the last 24 hours, 7 days and 30 days (computed by the hub "
                    "every few minutes). Each Binder launch is a new temporary user.",
                    (Query("max by (period) (jupyterhub_active_users)", "{{period}}"),),
                ),
                Panel(
                    "User pods by phase",
                    "User pods (jupyter-*) by phase: many Pending ones mean the user nodes are "
                    "full or scaling up.",
                    (
                        Query(
                            f"sum by (phase) (kube_pod_status_phase{{{user_pods}}} == 1)",
                            "{{phase}}",
                        ),
                    ),
                ),
                Panel(
                    "Users known to the hub",
                    "All users in the hub's database (temporary Binder users are deleted by the "
                    "culler).",
                    (Query("max(jupyterhub_total_users)", "users"),),
                ),
            ],
        ),
        "binder-launches": dashboard_json(
            "binder-launches",
            "Binder: launches",
            "Launches and their failures by cause.",
            [
                Panel(
                    "Launches by outcome",
                    "BinderHub launches per second by status: success, failure (the hub could "
                    "not start the server), pod_quota (the global pod limit was reached), "
                    "repo_quota (the repository's own limit was reached).",
                    (
                        Query(
                            f"sum by (status) ({rate('binderhub_launch_count')})",
                            "{{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Hub spawns by outcome",
                    "JupyterHub's view of the same launches: failure, throttled (too many "
                    "concurrent spawns), too-many-users, already-pending.",
                    (
                        Query(
                            "sum by (status) "
                            f"({rate('jupyterhub_server_spawn_duration_seconds_count')})",
                            "{{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Failed share of launches",
                    "Failures among launches tried (quota refusals excluded), over 15 minutes. "
                    "The alert BinderLaunchFailureRateHigh fires above 20%.",
                    (
                        Query(
                            'sum(rate(binderhub_launch_count{status="failure"}[15m])) / '
                            'sum(rate(binderhub_launch_count{status=~"success|failure"}[15m]))',
                            "failed",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "Launches in progress",
                    "Launches waiting for the hub to start a server.",
                    (Query("sum(binderhub_inprogress_launches)", "in progress"),),
                ),
                Panel(
                    "Most launched repositories (last hour)",
                    "The ten repositories with the most successful launches in the last hour.",
                    (
                        Query(
                            "topk(10, sum by (repo) "
                            '(increase(binderhub_launch_count{status="success"}[1h])))',
                            "{{repo}}",
                        ),
                    ),
                    kind="table",
                    width=24,
                ),
                Panel(
                    "Repositories with failed launches (last hour)",
                    "Repositories whose launches failed in the last hour.",
                    (
                        Query(
                            "topk(10, sum by (repo) "
                            '(increase(binderhub_launch_count{status="failure"}[1h])) > 0)',
                            "{{repo}}",
                        ),
                    ),
                    kind="table",
                    width=24,
                ),
            ],
        ),
        "binder-builds": dashboard_json(
            "binder-builds",
            "Binder: builds",
            "Image builds: outcome, duration, and the queue.",
            [
                Panel(
                    "Builds by outcome",
                    "Finished builds per second by status. A failed push to the registry ends "
                    "a build as a failure.",
                    (Query(f"sum by (status) ({rate('binderhub_build_count')})", "{{status}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Build queue",
                    "Builds BinderHub is running or waiting for, and build pods Kubernetes has "
                    "not started yet (Pending). BinderHub has no queue metric of its own.",
                    (
                        Query("sum(binderhub_inprogress_builds)", "builds in progress"),
                        Query(
                            f'sum(kube_pod_status_phase{{{build_pods}, phase="Pending"}} == 1) '
                            "or vector(0)",
                            "build pods pending",
                        ),
                    ),
                ),
                Panel(
                    "Build time (successful builds)",
                    "Quantiles of the time from build start to image pushed, over an hour "
                    "(BinderHub's buckets: 1, 2, 5, 10, 30, 60, 120 minutes).",
                    quantiles("binderhub_build_time_seconds_bucket", 'status="success"', "1h"),
                    unit="s",
                ),
                Panel(
                    "Repositories with failed builds (last hour)",
                    "Repositories whose builds failed in the last hour.",
                    (
                        Query(
                            "topk(10, sum by (repo) "
                            '(increase(binderhub_build_count{status="failure"}[1h])) > 0)',
                            "{{repo}}",
                        ),
                    ),
                    kind="table",
                ),
            ],
        ),
        "binder-spawn-latency": dashboard_json(
            "binder-spawn-latency",
            "Binder: spawn latency",
            "How long a user waits for a session once the image exists.",
            [
                Panel(
                    "Launch time (BinderHub)",
                    "From the launch request to the server answering, successful launches, "
                    "over 15 minutes.",
                    quantiles("binderhub_launch_time_seconds_bucket", 'status="success"', "15m"),
                    unit="s",
                ),
                Panel(
                    "Spawn time (JupyterHub)",
                    "The hub's part: the pod scheduled, its image pulled, the server started. "
                    "Image pulls on a fresh node dominate.",
                    quantiles(
                        "jupyterhub_server_spawn_duration_seconds_bucket", 'status="success"', "15m"
                    ),
                    unit="s",
                ),
            ],
        ),
        "binder-capacity": dashboard_json(
            "binder-capacity",
            "Binder: nodes and volumes",
            "Node CPU, memory and disk, and the fill level of every PersistentVolumeClaim.",
            [
                Panel(
                    "CPU busy by node",
                    "Share of the node's CPU time not idle (node-exporter).",
                    (
                        Query(
                            "1 - avg by (node) "
                            '(rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))',
                            "{{node}}",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "Memory used by node",
                    "Share of the node's memory not available to new processes.",
                    (
                        Query(
                            "1 - sum by (node) (node_memory_MemAvailable_bytes) / "
                            "sum by (node) (node_memory_MemTotal_bytes)",
                            "{{node}}",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "Disk used by node and mount",
                    "Node file systems (no tmpfs or overlays). The alert NodeDiskNearlyFull "
                    "fires above 90%: dind's image store lives here.",
                    (
                        Query(
                            "1 - node_filesystem_avail_bytes"
                            '{fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*"} / '
                            "node_filesystem_size_bytes"
                            '{fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*"}',
                            "{{node}} {{mountpoint}}",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "PersistentVolumeClaims used",
                    "Fill level of each volume (hub database, Prometheus, Grafana). The alert "
                    "PersistentVolumeNearlyFull fires above 90%.",
                    (
                        Query(
                            "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes",
                            "{{namespace}}/{{persistentvolumeclaim}}",
                        ),
                    ),
                    unit="percentunit",
                ),
            ],
        ),
        "binder-federation": dashboard_json(
            "binder-federation",
            "Binder: federation",
            "The front door (docs/federation.md): which members take launches and why not, "
            "where launches go, how fast it decides. Data only where Prometheus scrapes the "
            "front door (binder:binderhub.federation.monitor, or the hosting member).",
            [
                Panel(
                    "Members in rotation",
                    "1 while the member takes launches. Out: see the next panel for why. The "
                    "alert FederationMemberOutOfRotation fires after 15 minutes out for a "
                    "reason nobody chose; FederationAllMembersDown when none is in.",
                    (Query("max by (member) (binder_federation_member_in_rotation)",
                           "{{member}}"),),
                    extra={"fieldConfig": {"defaults": {"min": 0, "max": 1}}},
                ),
                Panel(
                    "Why each member is in or out",
                    "The member's current state: in_rotation, or disabled, weight_zero, "
                    "unreachable, http_error, bad_answer, unhealthy, version_mismatch, "
                    "quota_full, no_quota, not_checked_yet.",
                    (Query("max by (member, reason) "
                           "(binder_federation_member_state == 1)", "{{member}}: {{reason}}"),),
                    kind="table",
                ),
                Panel(
                    "Launches redirected, by member",
                    "Launch decisions per second (307 redirects) by member: the split follows "
                    "the weights among the members in rotation.",
                    (Query(f"sum by (member) ({rate('binder_federation_redirects_total')})",
                           "{{member}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Launches redirected, by reason",
                    "rendezvous or random (the configured rule), cookie (a returning user's "
                    "sticky member), prime_fallback (no member in rotation).",
                    (Query(f"sum by (reason) ({rate('binder_federation_redirects_total')})",
                           "{{reason}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Pods and quota per member",
                    "Pods each member's /health reports, and its LaunchQuota.total_quota: the "
                    "member leaves the rotation when pods + headroom reach the quota.",
                    (Query("max by (member) (binder_federation_member_pods)", "{{member}} pods"),
                     Query("max by (member) (binder_federation_member_quota)",
                           "{{member}} quota")),
                ),
                Panel(
                    "Decision latency",
                    "Time from a launch request's arrival to its redirect being ready.",
                    quantiles("binder_federation_decision_duration_seconds_bucket", "", "5m"),
                    unit="s",
                ),
                Panel(
                    "Health check duration",
                    "p90 of one health check (/health and /versions) per member: a slow "
                    "member nears the check timeout.",
                    (Query("histogram_quantile(0.9, sum by (le, member) (rate("
                           "binder_federation_check_duration_seconds_bucket[5m])))",
                           "{{member}}"),),
                    unit="s",
                ),
                Panel(
                    "Requests proxied to the prime",
                    "The BinderHub UI paths the front door proxies to the prime, by status "
                    "class; `error` means the prime did not answer.",
                    (Query(f"sum by (status) ({rate('binder_federation_proxied_requests_total')})",
                           "{{status}}"),),
                    unit="reqps",
                ),
            ],
        ),
        "binder-certificates": dashboard_json(
            "binder-certificates",
            "Binder: certificates",
            "Days until each cert-manager certificate expires, and whether it is ready.",
            [
                Panel(
                    "Days until expiry",
                    "cert-manager renews Let's Encrypt certificates 30 days before expiry; the "
                    "alert CertificateExpiresSoon fires below 14 days.",
                    (
                        Query(
                            "((certmanager_certificate_expiration_timestamp_seconds > 0) - time()) "
                            "/ 86400",
                            "{{namespace}}/{{name}}",
                        ),
                    ),
                    kind="table",
                    unit="d",
                ),
                Panel(
                    "Certificates not ready",
                    "Certificates whose Ready condition is not True (a failed issuance or "
                    "renewal).",
                    (
                        Query(
                            'certmanager_certificate_ready_status{condition!="True"} == 1',
                            "{{namespace}}/{{name}} {{condition}}",
                        ),
                    ),
                    kind="table",
                ),
            ],
        ),
    }


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = dashboards()
    for stale in OUT.glob("*.json"):
        if stale.stem not in wanted:
            stale.unlink()
    for name, dashboard in wanted.items():
        (OUT / f"{name}.json").write_text(render(dashboard))
    print(f"wrote {len(wanted)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
