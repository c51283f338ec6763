"""The metrics our alert rules and dashboards may name, each with where it comes from.

A query that names anything else is a typo or a metric the pinned software does not export,
and the tests (tests/components/releases/test_alerting.py, test_dashboards.py) refuse
it. Every entry was read in the source of the version we run:

- BinderHub @ b9fad995 (the pinned chart's commit): binderhub/builder.py defines
  ``binderhub_build_time_seconds`` (histogram, label status), ``binderhub_launch_time_seconds``
  (histogram, status, retries), ``binderhub_build_count`` and ``binderhub_launch_count``
  (counters, status/provider/repo; launch status success|failure|pod_quota|repo_quota),
  ``binderhub_inprogress_builds`` and ``binderhub_inprogress_launches`` (gauges);
  binderhub/repoproviders.py defines ``binderhub_github_rate_limit_remaining`` (gauge, set
  from GitHub's ``x-ratelimit-remaining`` on every resolved ref).
  https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/builder.py
- JupyterHub 5.3.0 (appVersion of z2jh 4.2.0, the chart BinderHub pins): jupyterhub/metrics.py,
  prefix ``jupyterhub_``: ``server_spawn_duration_seconds`` (status success|failure|
  already-pending|throttled|too-many-users), ``running_servers``, ``total_users``,
  ``active_users`` (period 24h|7d|30d).
  https://github.com/jupyterhub/jupyterhub/blob/5.3.0/jupyterhub/metrics.py
- cert-manager v1.21: pkg/metrics (``certmanager_certificate_expiration_timestamp_seconds``,
  ``certmanager_certificate_ready_status``; labels name, namespace, issuer_*; 0 before the
  certificate is read). Scraped through the pod annotations by the chart's
  ``kubernetes-pods`` job, whose ``honor_labels: true`` keeps the certificate's namespace.
  https://github.com/cert-manager/cert-manager/blob/master/pkg/metrics/certificates.go
- kube-state-metrics 2.20 (the prometheus chart's subchart 8.4.0): ``kube_pod_status_phase``
  (phase), ``kube_pod_container_status_waiting_reason`` (reason).
  https://github.com/kubernetes/kube-state-metrics/blob/main/docs/metrics/workload/pod-metrics.md
- node-exporter 1.12 (subchart 4.56.1): filesystem, CPU and meminfo collectors.
  https://github.com/prometheus/node_exporter/blob/master/collector/filesystem_common.go
- the kubelet's volume statistics, scraped by the chart's ``kubernetes-nodes`` job:
  https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/metrics/collectors/volume_stats.go
- cryptnono @ e86658ea (the pinned chart's commit): scripts/execwhacker.py defines
  ``cryptnono_execwhacker_processes_killed_total`` (counter, label source) and
  scripts/flowkiller.py ``cryptnono_flowkiller_processes_killed_total`` (label reason),
  served through the chart's OpenTelemetry collector (templates/configmap-collector.yaml).
  https://github.com/cryptnono/cryptnono/blob/e86658ea4f2509960e5bc1117224f5019f0130cd/scripts/execwhacker.py
- ``up``: Prometheus' own series for each scrape target (our jobs jupyterhub, binderhub).
  https://prometheus.io/docs/concepts/jobs_instances/#automatically-generated-labels-and-time-series
"""

from __future__ import annotations

import re

_HISTOGRAMS = {
    "binderhub_build_time_seconds": "BinderHub builder.py",
    "binderhub_launch_time_seconds": "BinderHub builder.py",
    "jupyterhub_server_spawn_duration_seconds": "JupyterHub 5.3.0 metrics.py",
    "binder_federation_check_duration_seconds": "federation/metrics.py",
    "binder_federation_decision_duration_seconds": "federation/metrics.py",
}
_PLAIN = {
    "binderhub_build_count": "BinderHub builder.py",
    "binderhub_launch_count": "BinderHub builder.py",
    "binderhub_inprogress_builds": "BinderHub builder.py",
    "binderhub_inprogress_launches": "BinderHub builder.py",
    "binderhub_github_rate_limit_remaining": "BinderHub repoproviders.py (GITHUB_RATE_LIMIT)",
    "jupyterhub_running_servers": "JupyterHub 5.3.0 metrics.py",
    "jupyterhub_total_users": "JupyterHub 5.3.0 metrics.py",
    "jupyterhub_active_users": "JupyterHub 5.3.0 metrics.py",
    "certmanager_certificate_expiration_timestamp_seconds": "cert-manager pkg/metrics",
    "certmanager_certificate_ready_status": "cert-manager pkg/metrics",
    "kube_pod_status_phase": "kube-state-metrics pod-metrics.md",
    "kube_pod_container_status_waiting_reason": "kube-state-metrics pod-metrics.md",
    "node_filesystem_avail_bytes": "node-exporter filesystem collector",
    "node_filesystem_size_bytes": "node-exporter filesystem collector",
    "node_filesystem_readonly": "node-exporter filesystem collector",
    "node_cpu_seconds_total": "node-exporter cpu collector",
    "node_memory_MemAvailable_bytes": "node-exporter meminfo collector",
    "node_memory_MemTotal_bytes": "node-exporter meminfo collector",
    "kubelet_volume_stats_available_bytes": "kubelet volume_stats.go",
    "kubelet_volume_stats_capacity_bytes": "kubelet volume_stats.go",
    "kubelet_volume_stats_used_bytes": "kubelet volume_stats.go",
    "up": "Prometheus (per scrape target)",
    # The federation's redirector, our own service (federation/metrics.py; the tests check
    # each name against its registry).
    "binder_federation_member_in_rotation": "federation/metrics.py",
    "binder_federation_member_state": "federation/metrics.py",
    "binder_federation_member_weight": "federation/metrics.py",
    "binder_federation_member_pods": "federation/metrics.py",
    "binder_federation_member_quota": "federation/metrics.py",
    "binder_federation_members_in_rotation": "federation/metrics.py",
    "binder_federation_member_last_check_timestamp_seconds": "federation/metrics.py",
    "binder_federation_checks_total": "federation/metrics.py",
    "binder_federation_redirects_total": "federation/metrics.py",
    "binder_federation_proxied_requests_total": "federation/metrics.py",
    "cryptnono_execwhacker_processes_killed_total": "cryptnono scripts/execwhacker.py",
    "cryptnono_flowkiller_processes_killed_total": "cryptnono scripts/flowkiller.py",
}
#: Every metric name a rule or dashboard may use, with its source.
KNOWN_METRICS: dict[str, str] = {
    **_PLAIN,
    **{
        f"{name}{suffix}": src
        for name, src in _HISTOGRAMS.items()
        for suffix in ("_bucket", "_count", "_sum")
    },
}

#: PromQL words that look like names but are not metrics.
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
        "atan2",
    }
)
#: Label lists after these words name labels, not metrics.
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads.

    Strings, label matchers (``{...}``), ranges and subqueries (``[...]``) and label lists
    (``by (...)``) are removed first; what is left are numbers, operators, keywords, function
    calls (a name followed by ``(``) and metric names.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        # A duration or number suffix such as the `e` of 1e3 never starts a match here,
        # because the look-behind refuses a preceding word character.
        names.add(name)
    return names
