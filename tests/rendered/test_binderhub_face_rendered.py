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


# ---- item 6: the site's templates and static files ---------------------------------------


def _mounted(pod: Mapping[str, Any], container: str, configmap: str) -> tuple[str, list]:
    """``(mount path, items)`` of the ConfigMap ``configmap`` in ``container``."""
    [volume] = [
        v for v in pod["spec"]["volumes"] if (v.get("configMap") or {}).get("name") == configmap
    ]
    [box] = [c for c in pod["spec"]["containers"] if c["name"] == container]
    [mount] = [m for m in box["volumeMounts"] if m["name"] == volume["name"]]
    assert mount.get("readOnly") is True
    assert "subPath" not in mount, "a subPath mount never sees a changed file"
    return mount["mountPath"], volume["configMap"]["items"]


def test_binderhub_reads_the_sites_files_from_the_programs_configmap(index: Index) -> None:
    binder = index.release("binderhub")
    pod = _binder(index)["spec"]["template"]
    mount, items = _mounted(pod, "binder", "binder-site")
    configmap = index.one("ConfigMap", "binder-site", binder.namespace)
    assert configmap.source.startswith("raw "), "the program's own ConfigMap, not the chart's"
    keys = {**(configmap.body.get("data") or {}), **(configmap.body.get("binaryData") or {})}
    # Every item names a key the ConfigMap has (else the pod never starts), and every key is
    # mounted.
    assert sorted(i["key"] for i in items) == sorted(keys)
    paths = {i["path"] for i in items}
    config = _config(index)["BinderHub"]
    # BinderHub finds page.html in its template path (helm_configs/base/templates/page.html).
    assert f"{config['template_path']}/page.html" in {f"{mount}/{p}" for p in paths}
    if any(p.startswith("static/") for p in paths):
        assert config["extra_static_path"] == f"{mount}/static"
    hub = index.case.cfg.binderhub
    assert hub is not None
    assert config["template_variables"]["site_name"] == hub.site.name
    assert config["default_opengraph_title"] == hub.site.name
    if hub.site.about.abuse_contact:
        assert f"mailto:{hub.site.about.abuse_contact}" in config["about_message"]
    # A changed file rolls the pods.
    assert pod["metadata"]["annotations"]["checksum/site"]


def test_the_hub_answers_a_culled_servers_url_with_the_sites_page(index: Index) -> None:
    binder = index.release("binderhub")
    [(_, pod)] = [(o, p) for o, p in index.pods() if o.kind == "Deployment" and o.name == "hub"]
    mount, items = _mounted(pod, "hub", "hub-site")
    configmap = index.one("ConfigMap", "hub-site", binder.namespace)
    assert sorted(i["key"] for i in items) == sorted(configmap.body["data"])
    hub_config = index.hub_values()["hub"]["config"]["JupyterHub"]
    [template_path] = hub_config["template_paths"]
    # The files where the hub looks for them: <template path>/403.html (the error page a
    # culled anonymous server's URL ends at) and not_running.html.
    files = {f"{mount}/{i['path']}" for i in items}
    assert {f"{template_path}/403.html", f"{template_path}/not_running.html"} <= files
    hub = index.case.cfg.binderhub
    assert hub is not None
    assert hub_config["template_vars"]["binder_url"].endswith(hub.host)
    # Every committed case is anonymous: a 403 there is a culled server's URL.
    assert hub_config["template_vars"]["binder_anonymous"] is (not hub.auth.enabled)
    assert pod["metadata"]["annotations"]["checksum/site"]
