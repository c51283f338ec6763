"""Shared helpers for the release component tests (issue 5)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from components.catalog.charts import ChartPin
from components.config.stack import StackConfig, parse_config
from components.secrets.deployment import (
    DeploymentSecrets,
    OAuthClient,
    RegistryCredentials,
    TlsCertificate,
)
from tests.chart_data import normalise
from tools.mockrun import Recording, Registered, run_program

RELEASE = "kubernetes:helm.sh/v3:Release"
CUSTOM_RESOURCE_ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"

#: Recognisable plaintexts of every test secret: none may appear outside a secret marker.
PLAINTEXTS = {
    "proxy": "test-proxy-token-0123456789",
    "hub_api": "test-hub-api-token-0123456789",
    "grafana": "test-grafana-password-0123",
    "metrics": "test-prometheus-metrics-token-0123",
    "registry_user": "test-registry-user",
    "registry_password": "test-registry-password-0123",
    "tls_cert": "-----BEGIN CERTIFICATE-----\ntest-cert\n-----END CERTIFICATE-----\n",
    "tls_key": "-----BEGIN PRIVATE KEY-----\ntest-key\n-----END PRIVATE KEY-----\n",
    "logging": "test-logging-password-0123",
    "oauth_id": "test-oauth-client-id-0123",
    "oauth_secret": "test-oauth-client-secret-0123",
    "build_token": "0123456789abcdef0123456789abcdef",
}
NEEDLES = [v for k, v in PLAINTEXTS.items() if k not in ("registry_user", "tls_cert")]


def fake_secrets(
    *,
    registry: bool = True,
    tls: bool = False,
    logging_password: bool = False,
    oauth: bool = False,
    monitoring: bool = True,
) -> DeploymentSecrets:
    """A DeploymentSecrets of secret Outputs, as components.secrets.material hands them over; the
    monitoring secrets (Grafana's password, Prometheus' metrics token) only with
    ``monitoring``, as for a stack with ``binder:monitoring.enabled``."""
    s = pulumi.Output.secret
    return DeploymentSecrets(
        proxy_secret_token=s(PLAINTEXTS["proxy"]),
        hub_api_token=s(PLAINTEXTS["hub_api"]),
        grafana_admin_password=s(PLAINTEXTS["grafana"]) if monitoring else None,
        prometheus_metrics_token=s(PLAINTEXTS["metrics"]) if monitoring else None,
        registry=RegistryCredentials(
            username=s(PLAINTEXTS["registry_user"]), password=s(PLAINTEXTS["registry_password"])
        )
        if registry
        else None,
        tls=TlsCertificate(certificate=s(PLAINTEXTS["tls_cert"]), key=s(PLAINTEXTS["tls_key"]))
        if tls
        else None,
        logging_password=s(PLAINTEXTS["logging"]) if logging_password else None,
        oauth=OAuthClient(
            client_id=s(PLAINTEXTS["oauth_id"]), client_secret=s(PLAINTEXTS["oauth_secret"])
        )
        if oauth
        else None,
        build_token_secret=s(PLAINTEXTS["build_token"]),
    )


#: A GKE stack (it has a labelled and tainted user pool) with every release switched on.
BASE_CONFIG: dict[str, Any] = {
    "cluster": {
        "provider": "gke",
        "name": "test",
        "corePool": {"machineType": "e2-standard-4", "autoscaling": {"minNodes": 1, "maxNodes": 2}},
        "userPool": {"machineType": "n2-highmem-4", "autoscaling": {"minNodes": 0, "maxNodes": 4}},
    },
    "binderhub": {"host": "binder.example.org", "hubHost": "hub.example.org"},
    "registry": {"prefix": "example/binder-"},
    "ingress": {"controller": "traefik", "className": "traefik"},
    "tls": {"source": "letsencrypt", "issuer": "production", "email": "ops@example.org"},
    "certManager": {"enabled": True},
    "monitoring": {"enabled": True, "grafanaHost": "grafana.example.org"},
    "logging": {"enabled": True},
}


def config(**overrides: Any) -> StackConfig:
    """BASE_CONFIG with top-level keys replaced (``None`` removes one)."""
    raw = dict(BASE_CONFIG)
    for key, value in overrides.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return parse_config(raw)


def run(program: Callable[[], Any]) -> Recording:
    return run_program(program)


def release_of(recording: Recording, pin: ChartPin) -> Registered:
    found = [r for r in recording.of_type(RELEASE) if r.inputs.get("chart") == pin.chart]
    assert len(found) == 1, f"expected one {pin.chart} release, found {len(found)}"
    return found[0]


def charts_released(recording: Recording) -> set[str]:
    return {r.inputs["chart"] for r in recording.of_type(RELEASE)}


def user_values(release: Registered) -> dict[str, Any]:
    """The ``values`` input as the engine received it, secrets unwrapped, numbers as YAML."""
    values = release.inputs.get("values", {})
    assert isinstance(values, Mapping)
    return normalise(values)


def namespace(name: str) -> pulumi.Resource:
    """A Namespace as the bootstrap would hand it over."""
    from pulumi_kubernetes.core.v1 import Namespace
    from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

    return Namespace(f"ns-{name}", metadata=ObjectMetaArgs(name=name))


def file_values(stack: str = "gcp", root: Path | None = None) -> dict[str, tuple[Any, ...]]:
    """Layers 1 and 2 (base and ``stack`` values files) of every pinned release, read as the
    plan reads them (:func:`components.releases.values.file_layers`)."""
    from components.catalog import charts
    from components.releases import values

    return {
        pin.release: tuple(values.file_layers(pin.release, stack, root)) for pin in charts.RELEASES
    }


def release_plan(cfg: StackConfig | None = None, stack: str = "gcp", root: Path | None = None):
    """The releases' plan of ``cfg`` (default :func:`config`) for ``stack``."""
    from components.releases.plan import plan_releases

    return plan_releases(cfg or config(), stack, values_root=root)


def values_root_with(tmp_path: Path, stack: str, files: Mapping[str, str]) -> Path:
    """A copy of helm_configs/base (no secrets files) plus ``<stack>/<release>.yaml`` files."""
    from components.releases.values import HELM_CONFIGS

    root = tmp_path / "helm_configs"
    (root / "base").mkdir(parents=True)
    for path in (HELM_CONFIGS / "base").glob("*.yaml"):
        if not path.name.startswith("secrets"):
            shutil.copy(path, root / "base" / path.name)
    (root / stack).mkdir()
    for release, text in files.items():
        (root / stack / f"{release}.yaml").write_text(text)
    return root


STACKS = ("ebi", "gcp", "local", "no-overrides")
