"""The plaintext-credential check of values files, by shape (issue 20, item 5).

CATALOGUE is what a values file really looks like with a credential pasted in, one entry per
shape (the values are made up, of the real format). Every entry must be refused without
echoing the value; the name-only check finds few of them (the figure is asserted, so the
closing note's number is this test's). NOT_CREDENTIALS are look-alikes that must pass.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog import charts
from components.config.base import ConfigError
from components.config.credential_shapes import credential_shapes
from components.releases import values
from tests.chart_data import chart_values

_AUTH = base64.b64encode(b"robot$binder:Xk29fj3kslQ02").decode()
_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiaW5kZXIifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"

#: (shape, a values file holding it, the secret text that must not be echoed).
CATALOGUE: list[tuple[str, dict[str, Any], str]] = [
    ("password key", {"grafana": {"adminPassword": "Xk29fj3kslQ02"}}, "Xk29fj3kslQ02"),
    ("token key", {"hub": {"services": {"binder": {"apiToken": "a1b2c3d4e5f6a7b8"}}}},
     "a1b2c3d4e5f6a7b8"),
    ("secret key", {"hub": {"cookieSecret": "9f8e7d6c5b4a39281706"}}, "9f8e7d6c5b4a39281706"),
    ("tls key", {"proxy": {"https": {"manual": {"key": "-----BEGIN PRIVATE KEY-----\nMIIE"}}}},
     "MIIE"),
    ("env list", {"extraEnv": [{"name": "GITHUB_TOKEN", "value": "a1b2c3d4e5f6a7b8c9d0"}]},
     "a1b2c3d4e5f6a7b8c9d0"),
    ("URL with user:pass@",
     {"config": {"output": "https://binder:Xk29fj3kslQ02@es.example.org:9200"}},
     "Xk29fj3kslQ02"),
    ("connection string", {"db": {"url": "postgresql://hub:Xk29fj3kslQ02@db:5432/hub"}},
     "Xk29fj3kslQ02"),
    ("ADO connection string",
     {"db": {"connection": "Server=db;Database=hub;User Id=hub;Password=Xk29fj3kslQ02;"}},
     "Xk29fj3kslQ02"),
    ("docker auth", {"dockerConfig": {"auths": {"harbor.example.org": {"auth": _AUTH}}}}, _AUTH),
    ("kubeconfig *-data", {"kubeconfig": {"users": [{"name": "ci", "user": {
        "client-key-data": "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo="}}]}},
     "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo="),
    ("bearer header", {"ingress": {"annotations": {
        "nginx.ingress.kubernetes.io/configuration-snippet":
            "proxy_set_header Authorization \"Bearer a1b2c3d4e5f6a7b8c9d0\";"}}},
     "a1b2c3d4e5f6a7b8c9d0"),
    ("Slack webhook", {"alertmanager": {"config": {"global": {
        "slack_api_url": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX"}}}},
     "XXXXXXXXXXXXXXXXXXXX"),
    ("Discord webhook", {"notify": {"url":
        "https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz"}},
     "abcdefghijklmnopqrstuvwxyz"),
    ("token in a query", {"grafana": {"datasource": {
        "url": "https://metrics.example.org/api?access_token=a1b2c3d4e5f6a7b8"}}},
     "a1b2c3d4e5f6a7b8"),
    ("GitHub token in a command", {"hub": {"extraConfig": {
        "github": "c.GitHubRepoProvider.access_token = 'ghp_" + "a" * 36 + "'"}}}, "a" * 36),
    ("GitLab token", {"binderhub": {"extraEnv": {"GL": "glpat-" + "b" * 20}}}, "b" * 20),
    ("AWS access key", {"backup": {"id": "AKIA" + "ABCDEFGHIJKLMNOP"}}, "ABCDEFGHIJKLMNOP"),
    ("JSON Web Token", {"extraConfig": {"jwt": _JWT}}, "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"),
    ("a Secret in extraObjects", {"extraObjects": [{"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "x"}, "stringData": {"conn": "hub:Xk29fj3kslQ02"}}]},
     "Xk29fj3kslQ02"),
]

#: Values that look a little like credentials and are not.
NOT_CREDENTIALS: list[dict[str, Any]] = [
    {"extraEnv": [{"name": "GITHUB_TOKEN", "valueFrom": {"secretKeyRef": {"name": "gh",
                                                                         "key": "token"}}}]},
    {"extraEnv": [{"name": "LOG_LEVEL", "value": "debug"}]},
    {"url": "https://es.example.org:9200/_bulk?pretty=true"},
    {"kubeconfig": {"clusters": [{"cluster": {"certificate-authority-data": "LS0tLS1CRUdJTi"}}]}},
    {"auth": {"type": "github"}},
    {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.2.0"}},
    {"hooks": "https://hooks.example.org/binder"},
    {"description": "Give the bearer token as a secret"},
]


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "helm_configs" / "ebi" / "binderhub.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("shape", "data", "secret"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_each_credential_shape_is_refused_without_echoing_it(
    tmp_path: Path, shape: str, data: dict[str, Any], secret: str
) -> None:
    with pytest.raises(ConfigError) as info:
        values.load_values_file(_write(tmp_path, data))
    message = str(info.value)
    assert "plaintext credential" in message, shape
    assert secret not in message, shape


@pytest.mark.parametrize("data", NOT_CREDENTIALS, ids=lambda d: str(d)[:50])
def test_look_alikes_pass(tmp_path: Path, data: dict[str, Any]) -> None:
    assert values.load_values_file(_write(tmp_path, data)) == data


def test_the_catalogues_hit_rate_before_and_after() -> None:
    """The closing note's figure: of the catalogue, the name-only check (before issue 20)
    found the four keyed by name; names and shapes together find all."""
    by_name = [s for s, data, _ in CATALOGUE if values.credential_paths(data)]
    by_either = [s for s, data, _ in CATALOGUE
                 if values.credential_paths(data) or credential_shapes(data)]
    assert len(CATALOGUE) == 19
    assert by_name == ["password key", "token key", "secret key", "tls key"]
    assert len(by_either) == len(CATALOGUE)


@pytest.mark.parametrize(
    "pin", [*charts.RELEASES, charts.JUPYTERHUB_SUBCHART], ids=lambda pin: pin.chart
)
def test_upstream_defaults_hold_no_credential_shape(pin: charts.ChartPin) -> None:
    """The charts' own values.yaml raise no false alarm by shape either."""
    assert credential_shapes(chart_values(pin)) == []


def test_committed_values_files_hold_no_credential_shape() -> None:
    files = [p for p in values.HELM_CONFIGS.rglob("*.yaml") if not p.name.startswith("secrets")]
    for path in files:
        assert credential_shapes(yaml.safe_load(path.read_text()) or {}) == [], path
