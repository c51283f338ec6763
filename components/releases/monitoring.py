"""Monitoring: Prometheus scraping JupyterHub and BinderHub, Grafana on top of it.

As on mybinder.org and the BioExcel Binder, Prometheus (prometheus-community chart) keeps the
metrics and Grafana (grafana-community chart) shows them. Prometheus gets two explicit scrape
jobs, ``jupyterhub`` (the hub's ``/hub/metrics``) and ``binderhub`` (``/metrics``), found
through the EndpointSlices of the ``hub`` and ``binder`` Services
(https://prometheus.io/docs/prometheus/latest/configuration/configuration/#endpointslice).

Each Service is scraped by exactly one job. Both charts also annotate their Service with
``prometheus.io/scrape: "true"``, which the prometheus chart's catch-all
``kubernetes-service-endpoints`` job follows -- so each target was scraped twice (double
samples, double load). We keep the named jobs and set the annotation to ``"false"`` in the
BinderHub values (:func:`components.releases.binderhub.binderhub_values`): stable ``job`` labels
(``up{job="jupyterhub"}``) for dashboards and alerts, discovery limited to the BinderHub
namespace, and no dependence on what annotations a chart version happens to set.

The hub's ``/hub/metrics`` is authenticated (JupyterHub's ``authenticate_prometheus``, on by
default): the hub registers a ``prometheus`` service whose only role grants the
``read:metrics`` scope (:func:`components.releases.binderhub.metrics_role_values`), and Prometheus
presents that service's token. The token is generated
(``DeploymentSecrets.prometheus_metrics_token``), kept in the Kubernetes Secret
``hub-metrics-token`` of the monitoring namespace, mounted into the Prometheus server and read
by the ``jupyterhub`` job through ``authorization.credentials_file``: it is never in the
Prometheus values or its configuration.
https://jupyterhub.readthedocs.io/en/stable/reference/monitoring.html
https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config

Grafana is provisioned with Prometheus as its default data source
(https://grafana.com/docs/grafana/latest/administration/provisioning/#data-sources), its admin
password comes from the secrets, and it gets an Ingress with TLS when
``binder:monitoring.grafanaHost`` is set.

Monitoring does not wait for BinderHub: its scrape jobs find the Services whenever they appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import yaml
from pulumi_kubernetes.core.v1 import ConfigMap, ConfigMapInitArgs, Secret
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.catalog import charts
from components.config.base import ConfigError
from components.config.releases import MonitoringConfig
from components.config.service import quantity_value
from components.releases import helm
from components.releases.alerting import (
    ALERT_CREDENTIAL_KEY,
    ALERT_CREDENTIAL_SECRET,
    DASHBOARDS_CONFIGMAP,
    alert_credential_used,
    dashboard_files,
    grafana_dashboard_values,
    prometheus_alerting_values,
)
from components.releases.ingress_tls import IngressTls, institution_tls_secret
from components.secrets.deployment import DeploymentSecrets

#: The Kubernetes Secret (in the monitoring namespace) that holds Prometheus' token for the
#: hub's metrics, its key, and where the Prometheus server sees it.
METRICS_TOKEN_SECRET = "hub-metrics-token"  # noqa: S105 (a Secret's name, not a secret)
METRICS_TOKEN_KEY = "token"  # noqa: S105 (a key name)
METRICS_TOKEN_DIR = "/etc/secrets/hub-metrics"  # noqa: S105 (a path)
METRICS_TOKEN_FILE = f"{METRICS_TOKEN_DIR}/{METRICS_TOKEN_KEY}"


def prometheus_url(namespace: str) -> str:
    """In-cluster URL of the Prometheus server: the chart names its Service
    ``<release>-server`` and serves it on port 80."""
    return f"http://{charts.PROMETHEUS.release}-server.{namespace}.svc.cluster.local"


def check_grafana_certificate(
    config: MonitoringConfig, tls_source: str, has_certificate: bool
) -> None:
    """Grafana's Ingress (with ``grafanaHost``) needs the institution certificate when that is
    the TLS source; a ConfigError naming the settings otherwise. Never reads a secret value."""
    if config.grafana_host and tls_source == "institution" and not has_certificate:
        raise ConfigError(
            "binder:tls.source is 'institution' but no certificate was given for Grafana's "
            "Ingress (binder:monitoring.grafanaHost); set binder:tlsCertificate and "
            "binder:tlsKey (`pulumi config set --secret`), or tls.certificate/tls.key in a "
            "secrets file (binder:secretsFiles)"
        )


def monitoring_secrets(
    secrets: DeploymentSecrets,
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """``(Grafana's admin password, Prometheus' metrics token)``, which the
    :class:`components.secrets.deployment.Secrets` component makes whenever the plan has
    monitoring on. Secrets built for another plan are a programming error (ValueError), not a
    configuration problem."""
    password, token = secrets.grafana_admin_password, secrets.prometheus_metrics_token
    if password is None or token is None:
        raise ValueError(
            "monitoring is on, but the deployment secrets were made without monitoring (no "
            "Grafana admin password or Prometheus metrics token); build them from the same "
            "plan (Secrets(SecretsArgs(material=plan.secrets)))"
        )
    return password, token


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs(helm.ReleasePlacement):
    """Inputs of :class:`Monitoring`; where the releases go is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    config: MonitoringConfig
    """``binder:monitoring``: Grafana's hostname, Prometheus' retention."""
    secrets: DeploymentSecrets
    """Grafana's admin password, Prometheus' token for the hub's metrics (and an institution
    certificate, if that is the source)."""
    tls: IngressTls
    """Certificate source for Grafana's Ingress."""
    ingress_class: str
    """IngressClass of Grafana's Ingress."""
    binder_namespace: str = "binder"
    """Where the ``hub`` and ``binder`` Services are."""
    front_door: str | None = None
    """A federation's front door whose ``/metrics`` this Prometheus scrapes (job
    ``federation``), for the federation's dashboard and alerts (docs/federation.md)."""
    namespace: str = "monitoring"
    """Namespace of both releases."""


class Monitoring(pulumi.ComponentResource):
    """The Prometheus and Grafana releases."""

    prometheus: pulumi.CustomResource
    grafana: pulumi.CustomResource
    metrics_token: Secret
    """The Secret ``hub-metrics-token`` the Prometheus server mounts."""
    grafana_url: pulumi.Output[str | None]
    """Public URL of Grafana, or None without ``grafanaHost``."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Backstops: the Releases component runs the same checks before any resource.
        admin_password, token = monitoring_secrets(args.secrets)
        needs_cert = bool(args.config.grafana_host) and args.tls.source == "institution"
        super().__init__("binder:monitoring:Monitoring", name, None, opts)
        # The token as a Secret in Prometheus' namespace (a pod can mount only Secrets of its
        # own namespace). string_data holds a secret Output: never plaintext in inputs or
        # state. The Prometheus release waits for it, so the server never starts without it.
        self.metrics_token = args.opaque_secret(
            f"{name}-hub-metrics-token",
            self,
            secret_name=METRICS_TOKEN_SECRET,
            key=METRICS_TOKEN_KEY,
            value=token,
        )
        # Alerts (issue 11, components.releases.alerting): the receiver's credential, if
        # the receiver uses one, as a Secret Alertmanager mounts; its configuration only
        # names the file. Same pattern as the metrics token above.
        credential = args.secrets.alertmanager_credential
        if not alert_credential_used(args.config.alerts):
            credential = None  # the plan warned that it is unused
        prometheus_depends: list[pulumi.Resource] = [self.metrics_token]
        if credential is not None:
            prometheus_depends.append(
                args.opaque_secret(
                    f"{name}-alertmanager-receiver",
                    self,
                    secret_name=ALERT_CREDENTIAL_SECRET,
                    key=ALERT_CREDENTIAL_KEY,
                    value=credential,
                )
            )
        self.prometheus = args.helm_release(
            f"{name}-prometheus",
            charts.PROMETHEUS,
            parent=self,
            computed={
                **prometheus_values(
                    args.config,
                    args.binder_namespace,
                    prometheus_volume_size(args.file_values.get("prometheus", ())),
                    front_door=args.front_door,
                ),
                **prometheus_alerting_values(
                    args.config.alerts, has_credential=credential is not None
                ),
            },
            depends_on=prometheus_depends,
            # The server's volume is provisioned and attached first (Cinder, PD): minutes.
            timeout=600,
            # Prometheus keeps no state a rollback could break; a failed upgrade goes back to
            # the last working monitoring rather than leaving none.
            atomic=True,
            cleanup_on_fail=True,
            # Wait, so a broken monitoring stack fails `pulumi up` instead of going unnoticed.
            skip_await=False,
            # The values name the token's Secret and file, never the token.
            holds_secrets=False,
        )
        # Our dashboards (components.releases.alerting), read by Grafana's file provider
        # from this ConfigMap, mounted as a directory: changes need no restart.
        grafana_depends: list[pulumi.Resource] = [
            ConfigMap(
                f"{name}-dashboards",
                ConfigMapInitArgs(
                    metadata=ObjectMetaArgs(name=DASHBOARDS_CONFIGMAP, namespace=args.namespace),
                    data=dashboard_files(),
                ),
                opts=args.in_namespace(self),
            )
        ]
        if needs_cert and args.secrets.tls is not None:
            grafana_depends.append(
                institution_tls_secret(
                    f"{name}-tls", args.namespace, args.secrets.tls, args.in_namespace(self)
                )
            )
        # No dependency on Prometheus: Grafana only needs its URL, which is fixed.
        self.grafana = args.helm_release(
            f"{name}-grafana",
            charts.GRAFANA,
            parent=self,
            computed=grafana_values(args),
            secrets={"adminPassword": admin_password},
            depends_on=grafana_depends,
            timeout=600,
            # No rollback: Grafana migrates its database on start, and an older Grafana may
            # not start on the newer schema. Fix forward instead.
            atomic=False,
            cleanup_on_fail=True,
            skip_await=False,
            holds_secrets=True,
        )
        host = args.config.grafana_host
        self.grafana_url = pulumi.Output.from_input(args.tls.url(host) if host else None)
        self.register_outputs({"grafana_url": self.grafana_url})


#: Prometheus service discovery role. ``endpointslice`` rather than ``endpoints``: the v1
#: Endpoints API is deprecated since Kubernetes 1.33 (EndpointSlices are GA since 1.21, so
#: every supported cluster has them), and the chart's own jobs already use it (its RBAC
#: grants ``endpointslices``).
#: https://kubernetes.io/blog/2025/04/24/endpoints-deprecation/
SD_ROLE = "endpointslice"


def scrape_jobs(binder_namespace: str, front_door: str | None = None) -> list[dict[str, Any]]:
    """Prometheus scrape jobs for JupyterHub and BinderHub (and a federation's front door).

    Each keeps only the endpoints of its Service, so every replica is scraped (not one pod
    behind the Service address at random). The hub's job authenticates with the token file
    of :data:`METRICS_TOKEN_FILE`.
    """

    def job(name: str, service: str, path: str) -> dict[str, Any]:
        return {
            "job_name": name,
            "metrics_path": path,
            "kubernetes_sd_configs": [
                {"role": SD_ROLE, "namespaces": {"names": [binder_namespace]}}
            ],
            "relabel_configs": [
                {
                    "source_labels": ["__meta_kubernetes_service_name"],
                    "regex": service,
                    "action": "keep",
                },
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            ],
        }

    hub = job("jupyterhub", "hub", "/hub/metrics")
    # `Authorization: Bearer <token>`, the token read from the mounted Secret on each scrape
    # (so a rotated token is picked up without a restart). The hub answers 403 without it.
    # https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config
    hub["authorization"] = {"type": "Bearer", "credentials_file": METRICS_TOKEN_FILE}
    jobs = [
        # z2jh's hub serves /hub/metrics on its `hub` Service (port 8081); BinderHub
        # serves /metrics on the `binder` Service.
        hub,
        job("binderhub", "binder", "/metrics"),
    ]
    if front_door:
        # The redirector serves /metrics at its public address (federation/app.py), on Cloud
        # Run as on a member's cluster: one static target, the front door's host.
        url = urlsplit(front_door)
        jobs.append({"job_name": "federation", "scheme": url.scheme, "metrics_path": "/metrics",
                     "static_configs": [{"targets": [url.netloc]}]})
    return jobs


#: Share of Prometheus' volume its blocks may fill (``server.retentionSize``): the write-ahead
#: log and the compaction of the largest blocks need room beyond it, so Prometheus' docs
#: suggest a size limit well below the disk
#: (https://prometheus.io/docs/prometheus/latest/storage/#operational-aspects).
RETENTION_SHARE = 0.8


def prometheus_volume_size(layers: Sequence[Any]) -> str | None:
    """``server.persistentVolume.size`` of Prometheus' values files, the last that sets it."""
    size = None
    for layer in layers:
        volume = ((layer or {}).get("server") or {}).get("persistentVolume") or {}
        size = volume.get("size", size)
    return str(size) if size else None


def retention_size(volume_size: str | None) -> str | None:
    """``server.retentionSize`` for a volume of ``volume_size`` (a Kubernetes quantity), in
    Prometheus' units (``GB`` = 2**30 bytes: its units are powers of 1024); None without one."""
    if not volume_size:
        return None
    gib = quantity_value(volume_size) / 2**30
    return f"{max(1, int(gib * RETENTION_SHARE))}GB"


def prometheus_values(
    config: MonitoringConfig,
    binder_namespace: str,
    volume_size: str | None = None,
    front_door: str | None = None,
) -> dict[str, Any]:
    """Layer 3 of the Prometheus values: retention (time, and size below the volume's), the
    JupyterHub/BinderHub jobs and the mount of the hub metrics token
    (``server.extraSecretMounts``, which the program owns: a values file's list would be
    replaced, as Helm replaces lists)."""
    size = retention_size(volume_size)
    return {
        "server": {
            "retention": config.retention,
            **({"retentionSize": size} if size else {}),
            "extraSecretMounts": [
                {
                    "name": METRICS_TOKEN_SECRET,
                    "secretName": METRICS_TOKEN_SECRET,
                    "mountPath": METRICS_TOKEN_DIR,
                    # The whole Secret as a directory, not one file through subPath: only
                    # then does the kubelet update the file when the token changes.
                    "subPath": "",
                    "readOnly": True,
                }
            ],
        },
        # The chart takes extra jobs as a YAML string appended to scrape_configs.
        "extraScrapeConfigs": yaml.safe_dump(scrape_jobs(binder_namespace, front_door),
                                             sort_keys=False),
    }


def grafana_values(args: MonitoringArgs) -> dict[str, Any]:
    """Layer 3 of the Grafana values: the Prometheus data source, the Ingress."""
    computed: dict[str, Any] = {
        "datasources": {
            "datasources.yaml": {
                "apiVersion": 1,
                "datasources": [
                    {
                        "name": "Prometheus",
                        "type": "prometheus",
                        "uid": "prometheus",
                        "url": prometheus_url(args.namespace),
                        "access": "proxy",
                        "isDefault": True,
                    }
                ],
            }
        }
    }
    host = args.config.grafana_host
    if host:
        computed["ingress"] = {
            "enabled": True,
            "ingressClassName": args.ingress_class,
            "hosts": [host],
            "annotations": args.tls.annotations(),
            "tls": args.tls.tls("grafana-tls", [host]),
        }
        # Grafana builds redirect and share links from its public URL.
        computed["grafana.ini"] = {"server": {"root_url": args.tls.url(host)}}
    else:
        computed["ingress"] = {"enabled": False}
    computed.update(grafana_dashboard_values())
    return computed
