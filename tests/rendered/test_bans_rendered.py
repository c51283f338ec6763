"""Issue 22, item 4: where client bans happen, read from the rendered objects of every case.

BinderHub refuses ``BinderHub.ban_networks`` by ``remote_ip``, which (``xheaders=True``) is
the ``X-Real-Ip`` Traefik sets from the client's address -- on ``ebi`` the PROXY protocol's.
That only holds while Traefik trusts no client-sent forwarded headers: checked here on the
rendered Traefik, with the configuration BinderHub reads (its Secret ``binder-secret``).
"""

from __future__ import annotations

import pytest

from tests import fast_yaml
from tests.rendered.objects import Index
from tests.rendered.support import CASES, Case, rendered, require_chart_data


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def _binderhub_config(index: Index) -> dict:
    binder = index.release("binderhub")
    secret = index.one("Secret", "binder-secret", binder.namespace)
    return fast_yaml.safe_load(secret.body["stringData"]["values.yaml"])["config"]


def test_binderhub_reads_the_banned_networks(index: Index) -> None:
    hub = index.case.cfg.binderhub
    assert hub is not None
    config = _binderhub_config(index)
    found = config.get("BinderHub", {}).get("ban_networks", {})
    assert found == hub.limits.banned_networks
    if index.case.case.id == "local-all-on":
        assert found, "the case that exercises bans has none"
        assert config["GitLabRepoProvider"]["banned_specs"] == ["^evil-org/.*", "^evil-org%2F.*"]


def test_traefik_trusts_no_client_sent_forwarded_headers(index: Index) -> None:
    if index.case.cfg.ingress.controller != "traefik":
        pytest.skip("no Traefik of ours in this case")
    [(_, pod)] = [
        (o, p) for o, p in index.pods() if o.kind == "Deployment" and o.name == "traefik"
    ]
    args = [a for c in pod["spec"]["containers"] for a in c.get("args") or []]
    assert args, "Traefik's arguments were not found"
    assert not [a for a in args if "forwardedHeaders" in a], args
    if index.case.case.stack == "ebi":
        # The client's address comes from Octavia's PROXY header, trusted from the nodes only.
        trusted = [a for a in args if "proxyProtocol.trustedIPs" in a]
        assert trusted
        assert all("0.0.0.0/0" not in a for a in trusted)
