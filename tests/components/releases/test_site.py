"""Issue 22, item 6: the service's own face (components/config/site.py,
components/releases/site.py) -- the files per stack, their limits, the values, the
ConfigMaps, and every committed template parsed and rendered with BinderHub's Jinja."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2
import pytest

from components.config.base import ConfigError
from components.releases import site as site_module
from components.releases.plan import plan_releases
from components.releases.site import (
    BINDER_MOUNT,
    CONFIGMAP_MAX_BYTES,
    HUB_MOUNT,
    about_message,
    plan_site,
    site_config_maps,
    site_values,
)
from components.releases.values import HELM_CONFIGS
from tests.release_fixtures import BASE_CONFIG, config, run

#: The blocks of the parents our templates extend, at the versions our chart pin runs: BinderHub
#: b9fad995 ``binderhub/templates/page.html`` (title, meta_social, extra_header; the page also
#: sets ``window.pageConfig`` before extra_header and loads the bundle after it), JupyterHub
#: 5.3.0 (z2jh 4.2.0's hub) ``share/jupyterhub/templates/error.html`` (h1_error, error_detail,
#: beside page.html's title) and ``not_running.html`` (heading, message, start_button).
#: Stand-ins that keep the block structure (not the upstream text), so a block name we
#: misspell -- which Jinja would silently ignore -- fails here.
PARENTS = {
    "templates/page.html": (
        "<title>{% block title %}Binder{% endblock %}</title>"
        "{% block meta_social %}<meta property='og:title'>{% endblock meta_social %}"
        "<script>window.pageConfig = {{ page_config|tojson }};</script>"
        "{% block extra_header %}{% endblock extra_header %}"
        "<script src='bundle.js'></script>"
    ),
    "templates/error.html": (
        "<title>{% block title %}JupyterHub{% endblock title %}</title>"
        "{% block h1_error %}<h1>{{ status_code }}</h1>{% endblock h1_error %}"
        "{% block error_detail %}{{ message }}{% endblock error_detail %}"
    ),
    "templates/not_running.html": (
        "<title>{% block title %}JupyterHub{% endblock title %}</title>"
        "{% block heading %}<h1>Server not running</h1>{% endblock heading %}"
        "{% block message %}Would you like to start it?{% endblock message %}"
        "{% block start_button %}<a href='{{ spawn_url }}'>Launch</a>{% endblock start_button %}"
    ),
}
#: Parsing only (nothing is rendered with it), with the escaping BinderHub uses.
_PARSER = jinja2.Environment(autoescape=True)
PARENT_BLOCKS = {
    name: {b.name for b in _PARSER.parse(source).find_all(jinja2.nodes.Block)}
    for name, source in PARENTS.items()
}


def _env(folder: Path) -> jinja2.Environment:
    """As BinderHub (and JupyterHub) load templates: the parents under the ``templates/``
    prefix, then the site's folder; autoescape on, Jinja's default Undefined (binderhub
    app.py L902-922)."""
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PrefixLoader({"templates": jinja2.DictLoader(
                    {k.removeprefix("templates/"): v for k, v in PARENTS.items()}
                )}),
                jinja2.FileSystemLoader(str(folder)),
            ]
        ),
        autoescape=True,
    )


def _committed_templates() -> list[Path]:
    return sorted(
        p
        for folder in ("templates", "hub-templates")
        for p in HELM_CONFIGS.glob(f"*/{folder}/**/*.html")
    )


@pytest.mark.parametrize(
    "path", _committed_templates(), ids=lambda p: str(p.relative_to(HELM_CONFIGS))
)
def test_every_committed_template_is_valid_jinja_and_overrides_only_real_blocks(
    path: Path,
) -> None:
    source = path.read_text(encoding="utf-8")
    tree = _PARSER.parse(source)  # a syntax error fails here
    [extends] = list(tree.find_all(jinja2.nodes.Extends))
    parent = extends.template.value  # type: ignore[attr-defined]
    assert parent in PARENTS, f"{path}: extends {parent}, which the test does not know"
    ours = {b.name for b in tree.find_all(jinja2.nodes.Block)}
    assert ours <= PARENT_BLOCKS[parent], f"{path}: blocks {ours - PARENT_BLOCKS[parent]}"


def test_the_base_page_shows_the_sites_name_logo_and_stylesheet() -> None:
    env = _env(HELM_CONFIGS / "base" / "templates")
    page = env.get_template("page.html").render(
        page_config={"logoUrl": "/static/logo.svg"},
        site_name="BioExcel <Binder>",
        site_logo_url="/extra_static/logo.svg",
        site_stylesheet_url="/extra_static/site.css",
    )
    assert "<title>BioExcel &lt;Binder&gt;</title>" in page  # escaped, as BinderHub renders
    config_at = page.index("window.pageConfig = ")
    logo_at = page.index('window.pageConfig.logoUrl = "/extra_static/logo.svg";')
    # After BinderHub sets pageConfig and before its bundle reads it.
    assert config_at < logo_at < page.index("bundle.js")
    assert '<link href="/extra_static/site.css" rel="stylesheet">' in page
    plain = env.get_template("page.html").render(page_config={}, site_name="Binder")
    assert "logoUrl =" not in plain
    assert "stylesheet" not in plain


def test_the_culled_server_pages_send_users_back_to_binderhub() -> None:
    env = _env(HELM_CONFIGS / "base" / "hub-templates")
    variables = {"site_name": "Binder", "binder_url": "https://binder.example.org"}
    gone = env.get_template("403.html").render(
        status_code=403, message="", binder_anonymous=True, **variables
    )
    assert "This Binder has stopped" in gone
    assert '<a href="https://binder.example.org">Binder</a>' in gone
    assert "https://binder.example.org/v2/gh/" in gone
    # With logins a 403 is a refused login (OAuthenticator): the hub's own page says so.
    refused = env.get_template("403.html").render(
        status_code=403, message="User x is not allowed.", binder_anonymous=False, **variables
    )
    assert "This Binder has stopped" not in refused
    assert "User x is not allowed." in refused
    kept = env.get_template("not_running.html").render(spawn_url="/hub/spawn", **variables)
    assert "/hub/spawn" not in kept, "no Launch Server button on a Binder"
    assert 'href="https://binder.example.org"' in kept


# ---- the plan ----------------------------------------------------------------------------


def _hub(**site: Any) -> Any:
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], "site": site})
    assert cfg.binderhub is not None
    return cfg.binderhub


def _hub_with_auth() -> Any:
    auth = {"type": "github", "allowedOrganizations": ["bioexcel"]}
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], "auth": auth})
    assert cfg.binderhub is not None
    return cfg.binderhub


def _root(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return tmp_path


URL = "https://binder.example.org"


def test_the_stacks_file_replaces_the_base_file_of_the_same_path(tmp_path: Path) -> None:
    root = _root(tmp_path, {
        "base/templates/page.html": b"base page",
        "base/static/site.css": b"base css",
        "ebi/static/site.css": b"ebi css",
        "ebi/static/img/logo.svg": b"<svg/>",
        "base/hub-templates/403.html": b"gone",
    })
    plan, problems, _ = plan_site(_hub(logo="img/logo.svg"), "ebi", root, URL)
    assert problems == []
    files = {f.path: f for f in plan.binder_files}
    assert files["static/site.css"].content == b"ebi css"
    assert files["static/site.css"].source == "helm_configs/ebi/static/site.css"
    assert files["templates/page.html"].content == b"base page"
    assert files["static/img/logo.svg"].key == "static--img--logo.svg"
    assert [f.path for f in plan.hub_files] == ["403.html"]
    assert plan.template_variables == {
        "site_name": "Binder",
        "site_logo_url": "/extra_static/img/logo.svg",
    }
    assert plan.hub_template_vars == {
        "site_name": "Binder",
        "binder_url": URL,
        "binder_anonymous": True,
    }
    with_logins = _hub_with_auth()
    logins_plan = plan_site(with_logins, "ebi", root, URL)[0]
    assert logins_plan.hub_template_vars["binder_anonymous"] is False


def test_over_a_configmaps_limit_is_refused_naming_the_largest_files(tmp_path: Path) -> None:
    half = CONFIGMAP_MAX_BYTES // 2
    root = _root(tmp_path, {
        "base/static/a.png": b"\x89" * half,
        "gcp/static/b.png": b"\x89" * half,
        "gcp/static/c.png": b"\x89" * 10,
    })
    _, problems, _ = plan_site(_hub(), "gcp", root, URL)
    [problem] = problems
    assert "ConfigMap binder-site" in problem
    assert f"{half * 2 + 10:,} bytes" in problem
    assert "1 MiB" in problem
    assert "helm_configs/base/static/a.png" in problem
    # Exactly the limit fits (Kubernetes refuses only more than MaxSecretSize).
    exact = _root(tmp_path / "exact", {"base/static/a.png": b"\x89" * CONFIGMAP_MAX_BYTES})
    assert plan_site(_hub(), "gcp", exact, URL)[1] == []


@pytest.mark.parametrize(
    ("name", "words"),
    [("my logo.svg", "'my logo.svg' cannot be part of a ConfigMap key"),
     ("a--b.css", "no '--'"),
     ("é.css", "cannot be part of a ConfigMap key")],
)
def test_a_file_name_that_cannot_be_a_configmap_key_is_refused(
    tmp_path: Path, name: str, words: str
) -> None:
    root = _root(tmp_path, {f"base/static/{name}": b"x"})
    [problem] = plan_site(_hub(), "gcp", root, URL)[1]
    assert f"helm_configs/base/static/{name}" in problem
    assert words in problem


def test_a_template_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path, {"base/templates/page.html": b"\xff\xfe<html>"})
    [problem] = plan_site(_hub(), "gcp", root, URL)[1]
    assert "helm_configs/base/templates/page.html: a template must be UTF-8 text" in problem


def test_a_logo_that_is_not_among_the_static_files_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path, {"base/static/site.css": b"x"})
    [problem] = plan_site(_hub(logo="logo.svg"), "gcp", root, URL)[1]
    assert "binder:binderhub.site.logo is 'logo.svg'" in problem
    assert "site.css" in problem


def test_the_plan_reports_site_problems_with_the_rest(tmp_path: Path) -> None:
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], "site": {"stylesheet": "x.css"}})
    with pytest.raises(ConfigError, match=r"binder:binderhub\.site\.stylesheet is 'x\.css'"):
        plan_releases(cfg, "gcp", values_root=HELM_CONFIGS)


def test_a_public_binder_without_abuse_contact_is_warned(tmp_path: Path) -> None:
    _, _, warnings = plan_site(_hub(), "gcp", tmp_path, URL)
    [warning] = warnings
    assert "binder:binderhub.site.about.abuseContact: not set" in warning
    assert f"{URL}/about" in warning
    assert plan_site(_hub(about={"abuseContact": "abuse@example.org"}), "gcp", tmp_path, URL)[
        2
    ] == []


def test_the_about_message_ends_with_the_abuse_contact() -> None:
    hub = _hub(about={"message": "<p>Run by EMBL-EBI.</p>", "abuseContact": "abuse@example.org"})
    assert about_message(hub) == (
        "<p>Run by EMBL-EBI.</p>\n<p>To report abuse of this service, e-mail "
        '<a href="mailto:abuse@example.org">abuse@example.org</a>.</p>'
    )
    assert about_message(_hub()) is None


@pytest.mark.parametrize("contact", ["abuse", "a b@example.org", "<x@example.org>"])
def test_an_abuse_contact_that_is_not_an_address_is_refused(contact: str) -> None:
    with pytest.raises(ConfigError, match=r"binder:binderhub\.site\.about\.abuseContact"):
        _hub(about={"abuseContact": contact})


# ---- values and ConfigMaps ---------------------------------------------------------------


def test_values_mount_the_files_and_roll_the_pods_when_they_change(tmp_path: Path) -> None:
    files = {"base/templates/page.html": b"page", "base/hub-templates/403.html": b"gone"}
    plan, _, _ = plan_site(_hub(), "gcp", _root(tmp_path, files), URL)
    layer = site_values(plan)
    binderhub = layer["config"]["BinderHub"]
    assert binderhub["template_path"] == f"{BINDER_MOUNT}/templates"
    assert "extra_static_path" not in binderhub  # no static files
    assert layer["extraVolumes"] == [{
        "name": "site",
        "configMap": {
            "name": "binder-site",
            "items": [{"key": "templates--page.html", "path": "templates/page.html"}],
        },
    }]
    assert layer["extraVolumeMounts"] == [
        {"name": "site", "mountPath": BINDER_MOUNT, "readOnly": True}
    ]
    hub = layer["jupyterhub"]["hub"]
    assert hub["config"]["JupyterHub"]["template_paths"] == [HUB_MOUNT]
    assert hub["extraVolumes"][0]["configMap"]["items"] == [
        {"key": "hub-templates--403.html", "path": "403.html"}
    ]
    before = (layer["podAnnotations"]["checksum/site"], hub["annotations"]["checksum/site"])
    (tmp_path / "base/templates/page.html").write_bytes(b"page, changed")
    changed = site_values(plan_site(_hub(), "gcp", tmp_path, URL)[0])
    assert changed["podAnnotations"]["checksum/site"] != before[0]
    assert changed["jupyterhub"]["hub"]["annotations"]["checksum/site"] == before[1]


def test_no_files_no_volumes(tmp_path: Path) -> None:
    layer = site_values(plan_site(_hub(), "gcp", tmp_path, URL)[0])
    assert set(layer) == {"config"}
    assert "template_path" not in layer["config"]["BinderHub"]


def test_configmaps_hold_text_as_data_and_the_rest_as_binary_data(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    root = _root(tmp_path, {"base/static/logo.png": png, "base/static/site.css": b"a{}",
                            "base/hub-templates/403.html": b"gone"})
    plan, _, _ = plan_site(_hub(), "gcp", root, URL)

    def program() -> None:
        import pulumi

        site_config_maps("bh-site", "binder", plan, pulumi.ComponentResource("t:t:T", "t"))

    rec = run(program)
    binder = rec.one("kubernetes:core/v1:ConfigMap", "bh-site-binder")
    assert binder.inputs["metadata"]["name"] == "binder-site"
    assert binder.inputs["metadata"]["namespace"] == "binder"
    assert binder.inputs["data"] == {"static--site.css": "a{}"}
    assert base64.b64decode(binder.inputs["binaryData"]["static--logo.png"]) == png
    hub = rec.one("kubernetes:core/v1:ConfigMap", "bh-site-hub")
    assert hub.inputs["metadata"]["name"] == "hub-site"
    assert hub.inputs["data"] == {"hub-templates--403.html": "gone"}


def test_the_limit_is_kubernetes_maxsecretsize() -> None:
    assert site_module.CONFIGMAP_MAX_BYTES == 1024 * 1024


def test_configmaps_wait_for_their_namespace_not_for_the_pull_secret(tmp_path: Path) -> None:
    """Beside the Docker Hub pull Secret on the critical path, not after it."""
    plan, _, _ = plan_site(_hub(), "gcp", _root(tmp_path, {"base/static/a.css": b"a"}), URL)

    def program() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        ns = k8s.core.v1.Namespace("ns", metadata={"name": "binder"})
        pull = k8s.core.v1.Secret("pull", metadata={"name": "dockerhub-pull"})
        parent = pulumi.ComponentResource("t:t:T", "t")
        site_config_maps("bh-site", "binder", plan, parent, [ns, pull])

    rec = run(program)
    binder = rec.one("kubernetes:core/v1:ConfigMap", "bh-site-binder")
    assert binder.dependencies == [rec.one("kubernetes:core/v1:Namespace", "ns").urn]


def test_a_values_file_that_sets_the_sites_values_is_refused_naming_the_setting() -> None:
    from components.releases.owned_values import owned_problems

    layer = {"config": {"BinderHub": {"about_message": "<p>hi</p>"}}}
    [problem] = owned_problems("binderhub", layer, "helm_configs/gcp/binderhub.yaml")
    assert "binder:binderhub.site.about" in problem
    hub = {"jupyterhub": {"hub": {"config": {"JupyterHub": {"template_paths": ["/x"]}}}}}
    [problem] = owned_problems("binderhub", hub, "helm_configs/gcp/binderhub.yaml")
    assert "hub-templates" in problem
