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
BinderHub values (:func:`components.binderhub.binderhub_values`): stable ``job`` labels
(``up{job="jupyterhub"}``) for dashboards and alerts, discovery limited to the BinderHub
namespace, and no dependence on what annotations a chart version happens to set.
Grafana is provisioned with Prometheus as its default data source
(https://grafana.com/docs/grafana/latest/administration/provisioning/#data-sources), its admin
password comes from the secrets, and it gets an Ingress with TLS when
``binder:monitoring.grafanaHost`` is set.

Monitoring does not wait for BinderHub: its scrape jobs find the Services whenever they appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components import charts, values
from components.config import ConfigError, MonitoringConfig
from components.ingress_tls import IngressTls, institution_tls_secret
from components.secrets import DeploymentSecrets


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


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`."""

    stack: str
    """Stack name; selects ``helm_configs/<stack>/{prometheus,grafana}.yaml``."""
    config: MonitoringConfig
    """``binder:monitoring``: Grafana's hostname, Prometheus' retention."""
    secrets: DeploymentSecrets
    """Grafana's admin password (and an institution certificate, if that is the source)."""
    tls: IngressTls
    """Certificate source for Grafana's Ingress."""
    ingress_class: str
    """IngressClass of Grafana's Ingress."""
    binder_namespace: str = "binder"
    """Where the ``hub`` and ``binder`` Services are."""
    namespace: str = "monitoring"
    """Namespace of both releases."""
    namespace_resources: Sequence[pulumi.Resource] = ()
    """What the bootstrap makes of the namespace (the Namespace and its quota/limits); the
    release waits for all of it. Empty: Helm creates the namespace."""
    values_root: Path | None = None
    """``helm_configs`` directory; the repository's by default."""


class Monitoring(pulumi.ComponentResource):
    """The Prometheus and Grafana releases."""

    prometheus: pulumi.CustomResource
    grafana: pulumi.CustomResource
    grafana_url: pulumi.Output[str | None]
    """Public URL of Grafana, or None without ``grafanaHost``."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Backstop: releases.check_release_secrets runs the same check before any resource.
        check_grafana_certificate(args.config, args.tls.source, args.secrets.tls is not None)
        needs_cert = bool(args.config.grafana_host) and args.tls.source == "institution"
        super().__init__("binder:monitoring:Monitoring", name, None, opts)
        depends = list(args.namespace_resources)
        self.prometheus = charts.helm_release(
            f"{name}-prometheus",
            charts.PROMETHEUS,
            namespace=args.namespace,
            values=values.release_values(
                charts.PROMETHEUS.release,
                args.stack,
                computed=prometheus_values(args.config, args.binder_namespace),
                root=args.values_root,
            ),
            create_namespace=not args.namespace_resources,
            # The server's volume is provisioned and attached first (Cinder, PD): minutes.
            timeout=600,
            # Prometheus keeps no state a rollback could break; a failed upgrade goes back to
            # the last working monitoring rather than leaving none.
            atomic=True,
            cleanup_on_fail=True,
            # Wait, so a broken monitoring stack fails `pulumi up` instead of going unnoticed.
            skip_await=False,
            holds_secrets=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        grafana_depends = list(depends)
        if needs_cert and args.secrets.tls is not None:
            grafana_depends.append(
                institution_tls_secret(
                    f"{name}-tls",
                    args.namespace,
                    args.secrets.tls,
                    pulumi.ResourceOptions(parent=self, depends_on=depends),
                )
            )
        # No dependency on Prometheus: Grafana only needs its URL, which is fixed.
        self.grafana = charts.helm_release(
            f"{name}-grafana",
            charts.GRAFANA,
            namespace=args.namespace,
            values=values.release_values(
                charts.GRAFANA.release,
                args.stack,
                computed=grafana_values(args),
                secrets={"adminPassword": args.secrets.grafana_admin_password},
                root=args.values_root,
            ),
            create_namespace=not args.namespace_resources,
            timeout=600,
            # No rollback: Grafana migrates its database on start, and an older Grafana may
            # not start on the newer schema. Fix forward instead.
            atomic=False,
            cleanup_on_fail=True,
            skip_await=False,
            holds_secrets=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grafana_depends),
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


def scrape_jobs(binder_namespace: str) -> list[dict[str, Any]]:
    """Prometheus scrape jobs for JupyterHub and BinderHub.

    Each keeps only the endpoints of its Service, so every replica is scraped (not one pod
    behind the Service address at random).
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

    return [
        # z2jh's hub serves /hub/metrics on its `hub` Service (port 8081); BinderHub
        # serves /metrics on the `binder` Service.
        job("jupyterhub", "hub", "/hub/metrics"),
        job("binderhub", "binder", "/metrics"),
    ]


def prometheus_values(config: MonitoringConfig, binder_namespace: str) -> dict[str, Any]:
    """Layer 3 of the Prometheus values: retention and the JupyterHub/BinderHub jobs."""
    return {
        "server": {"retention": config.retention},
        # The chart takes extra jobs as a YAML string appended to scrape_configs.
        "extraScrapeConfigs": yaml.safe_dump(scrape_jobs(binder_namespace), sort_keys=False),
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
    return computed
