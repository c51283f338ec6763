"""Issue 22, items 6 and 7, on the rendered objects of every case: the BinderHub pods (two for
an anonymous Binder, sharing one build token key), and the site's own face."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from components.releases.replicas import binderhub_replicas
from tests import fast_yaml
from tests.rendered.objects import Index, labels_match
from tests.rendered.support import CASES, Case, rendered, require_chart_data


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def index(request: pytest.FixtureRequest) -> Index:
    require_chart_data()
    case: Case = request.param
    return Index(rendered(case))


def _binder(index: Index) -> Mapping[str, Any]:
    """The rendered ``binder`` Deployment's body."""
    binder = index.release("binderhub")
    return index.one("Deployment", "binder", binder.namespace).body


def _config(index: Index) -> dict:
    binder = index.release("binderhub")
    secret = index.one("Secret", "binder-secret", binder.namespace)
    return fast_yaml.safe_load(secret.body["stringData"]["values.yaml"])["config"]


def test_binderhub_runs_the_planned_pods_with_one_build_token_key(index: Index) -> None:
    hub = index.case.cfg.binderhub
    assert hub is not None
    body = _binder(index)
    expected = binderhub_replicas(hub)
    assert body["spec"]["replicas"] == expected
    # Pulumi.local.yaml asks for one (a laptop); every other case is anonymous: two.
    assert expected == (1 if index.case.case.id == "local" else 2)
    # Every pod reads the one Secret, and in it the one key: a build token signed by one pod
    # is accepted by the other.
    volumes = body["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "secret": {"secretName": "binder-secret"}} in volumes
    key = _config(index)["BinderHub"]["build_token_secret"]
    assert isinstance(key, str)
    assert key
    if expected > 1:
        # A drain takes one pod at a time (the chart's PodDisruptionBudget), the two prefer
        # separate nodes, and an update replaces one pod at a time (no maxUnavailable 0
        # override needed: Kubernetes' 25% rounds down to 0 for two pods).
        labels = body["spec"]["template"]["metadata"]["labels"]
        [pdb] = [
            o for o in index.find("PodDisruptionBudget", "binderhub")
            if labels_match(o.body["spec"]["selector"], labels)
        ]
        assert pdb.body["spec"]["maxUnavailable"] == 1
        affinity = body["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        [term] = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
        assert labels_match(term["podAffinityTerm"]["labelSelector"], labels)
        assert body["spec"].get("strategy", {}).get("rollingUpdate") in (None, {})
