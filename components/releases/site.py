"""The service's own face (issue 22, item 6): the about page and abuse contact, the page a
user of a culled server sees, and the site's templates and static files, kept in the
repository per stack and delivered to the pods in ConfigMaps.

**Files**, base then environment (a stack's file replaces the base file of the same path):

* ``helm_configs/<layer>/templates/`` -> BinderHub's ``template_path``. At our chart pin
  BinderHub renders one Jinja template, ``page.html`` (its React app does the rest), loaded
  through ``ChoiceLoader([PrefixLoader({"templates": <BinderHub's own>}), FileSystemLoader([
  template_path, <BinderHub's own>])])``, so ours can ``{% extends "templates/page.html" %}``
  and fill its blocks ``title``, ``meta_social`` and ``extra_header``
  (https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/app.py#L902-L922,
  .../binderhub/templates/page.html). Variables come from ``BinderHub.template_variables``.
* ``helm_configs/<layer>/static/`` -> ``BinderHub.extra_static_path``, served under
  ``/extra_static/`` (``extra_static_url_prefix``, app.py L800-807 and L1087-1098).
* ``helm_configs/<layer>/hub-templates/`` -> JupyterHub's ``template_paths`` (searched before
  its own, which stay reachable as ``templates/...``: jupyterhub 5.3.0 ``app.py``
  ``init_tornado_settings``). A culled anonymous server's URL reaches the hub (the proxy has
  no route any more), whose ``UserUrlHandler`` needs a login; the Binder's null authenticator
  refuses it with a 403 (``handlers/login.py``: auto_login without a login handler), rendered
  from ``403.html`` when there is one (``handlers/base.py`` ``write_error``). Our ``403.html``
  says the Binder stopped and links back to BinderHub (on an anonymous Binder only: with
  logins a 403 is a refused login, and the hub's own text stays), which is what mybinder.org's
  proxy-patches page says (``mybinder/templates/proxy-patches/configmap.yaml`` @ 95860dbc)
  without its nginx Deployment. ``not_running.html`` does the same where the user is kept
  (logins) and would otherwise offer a "Launch Server" button that cannot work on a Binder.

**Delivery**: two ConfigMaps of the program's (``binder-site`` for BinderHub, ``hub-site``
for the hub), mounted through the charts' ``extraVolumes``/``extraVolumeMounts``; a digest
of the files in a pod annotation rolls the pods when a file changes. Not the charts'
``extraFiles``: they land in the Helm release record twice (values and manifest), which Helm
keeps in one Secret. A ConfigMap holds at most 1 MiB of data and binaryData together
(Kubernetes ``ValidateConfigMap``: ``totalSize > core.MaxSecretSize``,
https://github.com/kubernetes/kubernetes/blob/v1.34.1/pkg/apis/core/validation/validation.go);
the plan refuses more, naming the largest files.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config.releases import BinderHubConfig

#: Kubernetes' limit on a ConfigMap's data + binaryData (``core.MaxSecretSize``).
CONFIGMAP_MAX_BYTES = 1024 * 1024
#: The folders of a layer, by what reads them.
BINDER_FOLDERS = ("templates", "static")
HUB_FOLDER = "hub-templates"
#: The ConfigMaps and where the pods see them.
BINDER_CONFIGMAP = "binder-site"
HUB_CONFIGMAP = "hub-site"
BINDER_MOUNT = "/etc/binderhub/site"
HUB_MOUNT = "/etc/jupyterhub/site"
#: ``BinderHub.extra_static_url_prefix``'s default, under ``base_url`` ``/``.
EXTRA_STATIC_URL = "/extra_static/"
#: A ConfigMap key is ``[-._a-zA-Z0-9]+``; ours are made of the path's parts joined by ``--``.
_PART = re.compile(r"^[A-Za-z0-9_][-._A-Za-z0-9]*$")
_TEMPLATE_SUFFIXES = (".html", ".htm", ".j2", ".jinja")


@dataclass(frozen=True)
class SiteFile:
    """One file as a ConfigMap entry."""

    key: str
    """The ConfigMap key, e.g. ``templates--page.html``."""
    path: str
    """Where it appears under the mount, e.g. ``templates/page.html`` (BinderHub's) or
    ``403.html`` (the hub's)."""
    content: bytes
    source: str
    """Where it came from, e.g. ``helm_configs/ebi/static/site.css``."""

    @property
    def text(self) -> str | None:
        """The content as UTF-8 text (a ConfigMap ``data`` entry), None for binary files."""
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class SitePlan:
    """What the BinderHub component delivers: files, settings and template variables."""

    binder_files: tuple[SiteFile, ...] = ()
    hub_files: tuple[SiteFile, ...] = ()
    about_message: str | None = None
    template_variables: Mapping[str, str] = field(default_factory=dict)
    """BinderHub's ``template_variables`` (``site_name``, ``site_logo_url``, ...)."""
    hub_template_vars: Mapping[str, str | bool] = field(default_factory=dict)
    """JupyterHub's ``template_vars`` (``site_name``, ``binder_url``, ``binder_anonymous``:
    whether a 403 means a culled anonymous server rather than a refused login)."""
    opengraph_title: str = "Binder"

    def has(self, folder: str) -> bool:
        return any(f.path.startswith(folder + "/") for f in self.binder_files)


def read_site_files(stack: str, root: Path) -> tuple[dict[str, list[SiteFile]], list[str]]:
    """The site's files by folder, base then ``stack`` (same path: the stack's wins), and
    the problems found (a name that cannot be a ConfigMap key, a template not UTF-8)."""
    found: dict[str, dict[str, SiteFile]] = {f: {} for f in (*BINDER_FOLDERS, HUB_FOLDER)}
    problems: list[str] = []
    for layer in ("base", stack):
        for folder, files in found.items():
            top = root / layer / folder
            if not top.is_dir():
                continue
            for path in sorted(p for p in top.rglob("*") if p.is_file()):
                relative = path.relative_to(top).as_posix()
                source = f"helm_configs/{layer}/{folder}/{relative}"
                bad = [p for p in relative.split("/") if not _PART.match(p) or "--" in p]
                if bad:
                    problems.append(
                        f"  {source}: '{bad[0]}' cannot be part of a ConfigMap key; use "
                        "letters, digits, '.', '_' and single '-' only (no spaces, no '--')"
                    )
                    continue
                content = path.read_bytes()
                site_file = SiteFile(
                    key="--".join([folder, *relative.split("/")]),
                    # The hub's folder is its template path itself (HUB_MOUNT).
                    path=relative if folder == HUB_FOLDER else f"{folder}/{relative}",
                    content=content,
                    source=source,
                )
                template = folder != "static" and relative.endswith(_TEMPLATE_SUFFIXES)
                if template and site_file.text is None:
                    problems.append(f"  {source}: a template must be UTF-8 text")
                    continue
                files[relative] = site_file
    return {folder: list(files.values()) for folder, files in found.items()}, problems


def size_problem(name: str, files: Sequence[SiteFile]) -> str | None:
    """A ConfigMap over Kubernetes' 1 MiB, with its largest files; None if it fits."""
    total = sum(len(f.content) for f in files)
    if total <= CONFIGMAP_MAX_BYTES:
        return None
    largest = sorted(files, key=lambda f: len(f.content), reverse=True)[:3]
    return (
        f"  the site's files for the ConfigMap {name} total {total:,} bytes, over Kubernetes' "
        f"limit of {CONFIGMAP_MAX_BYTES:,} bytes (1 MiB) per ConfigMap; the largest: "
        + ", ".join(f"{f.source} ({len(f.content):,})" for f in largest)
        + ". Shrink or remove files (compress images, drop unused fonts), or serve large "
        "assets from elsewhere and link them"
    )


def about_message(hub: BinderHubConfig) -> str | None:
    """``BinderHub.about_message``: the stack's message, then the abuse contact."""
    about = hub.site.about
    parts = [about.message.strip()] if about.message else []
    if about.abuse_contact:
        address = html.escape(about.abuse_contact)
        parts.append(
            f'<p>To report abuse of this service, e-mail <a href="mailto:{address}">'
            f"{address}</a>.</p>"
        )
    return "\n".join(parts) or None


def plan_site(
    hub: BinderHubConfig, stack: str, root: Path, binder_url: str
) -> tuple[SitePlan, list[str], list[str]]:
    """The site's plan, the problems (bad file names, sizes, a logo or stylesheet that is
    not among the static files) and the warnings (a public Binder without abuse contact)."""
    by_folder, problems = read_site_files(stack, root)
    binder_files = tuple(f for folder in BINDER_FOLDERS for f in by_folder[folder])
    hub_files = tuple(by_folder[HUB_FOLDER])
    static = {f.path.removeprefix("static/") for f in by_folder["static"]}
    variables = {"site_name": hub.site.name}
    for setting, variable in (("logo", "site_logo_url"), ("stylesheet", "site_stylesheet_url")):
        chosen = getattr(hub.site, setting)
        if chosen is None:
            continue
        if chosen not in static:
            problems.append(
                f"  binder:binderhub.site.{setting} is '{chosen}', which is not among the "
                f"static files (helm_configs/base/static/ or helm_configs/{stack}/static/): "
                + (", ".join(sorted(static)) or "there are none")
            )
        variables[variable] = EXTRA_STATIC_URL + chosen
    for name, files in ((BINDER_CONFIGMAP, binder_files), (HUB_CONFIGMAP, hub_files)):
        problem = size_problem(name, files)
        if problem:
            problems.append(problem)
    warnings = []
    if not hub.auth.enabled and not hub.site.about.abuse_contact:
        warnings.append(
            f"binder:binderhub.site.about.abuseContact: not set, so BinderHub's about page "
            f"({binder_url}/about) gives nobody to tell when the public can run code here "
            "and someone abuses it; set an address that reaches the operators, as "
            "mybinder.org does (docs/public.md)"
        )
    plan = SitePlan(
        binder_files=binder_files,
        hub_files=hub_files,
        about_message=about_message(hub),
        template_variables=variables,
        hub_template_vars={
            "site_name": hub.site.name,
            "binder_url": binder_url,
            "binder_anonymous": not hub.auth.enabled,
        },
        opengraph_title=hub.site.name,
    )
    return plan, problems, warnings


def digest(files: Sequence[SiteFile]) -> str:
    """sha256 over the files' keys and contents: a pod annotation that changes with them."""
    sha = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.key):
        sha.update(f.key.encode() + b"\0" + hashlib.sha256(f.content).digest())
    return sha.hexdigest()


def _volume(configmap: str, files: Sequence[SiteFile]) -> dict[str, Any]:
    return {
        "name": "site",
        "configMap": {
            "name": configmap,
            "items": [{"key": f.key, "path": f.path} for f in files],
        },
    }


def site_values(site: SitePlan) -> dict[str, Any]:
    """Layer 3 of the BinderHub values: the about page, the title, the template variables,
    and the two ConfigMaps mounted where BinderHub and the hub read them."""
    binderhub: dict[str, Any] = {
        "default_opengraph_title": site.opengraph_title,
        "template_variables": dict(site.template_variables),
    }
    if site.about_message:
        binderhub["about_message"] = site.about_message
    layer: dict[str, Any] = {"config": {"BinderHub": binderhub}}
    if site.has("templates"):
        binderhub["template_path"] = f"{BINDER_MOUNT}/templates"
    if site.has("static"):
        binderhub["extra_static_path"] = f"{BINDER_MOUNT}/static"
    if site.binder_files:
        layer["extraVolumes"] = [_volume(BINDER_CONFIGMAP, site.binder_files)]
        layer["extraVolumeMounts"] = [{"name": "site", "mountPath": BINDER_MOUNT, "readOnly": True}]
        layer["podAnnotations"] = {"checksum/site": digest(site.binder_files)}
    if site.hub_files:
        layer["jupyterhub"] = {
            "hub": {
                "extraVolumes": [_volume(HUB_CONFIGMAP, site.hub_files)],
                "extraVolumeMounts": [
                    {"name": "site", "mountPath": HUB_MOUNT, "readOnly": True}
                ],
                "annotations": {"checksum/site": digest(site.hub_files)},
                "config": {
                    "JupyterHub": {
                        "template_paths": [HUB_MOUNT],
                        "template_vars": dict(site.hub_template_vars),
                    }
                },
            }
        }
    return layer


def config_map_data(files: Sequence[SiteFile]) -> tuple[dict[str, str], dict[str, str]]:
    """``(data, binaryData)``: text files as they are, others base64-encoded."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for f in files:
        text = f.text
        if text is None:
            binary[f.key] = base64.b64encode(f.content).decode("ascii")
        else:
            data[f.key] = text
    return data, binary


def site_config_maps(
    name: str,
    namespace: str,
    site: SitePlan,
    parent: pulumi.Resource,
    namespace_resources: Sequence[pulumi.Resource] = (),
) -> list[pulumi.Resource]:
    """The ConfigMaps ``binder-site`` and ``hub-site`` (those with files), children
    ``<name>-binder``/``<name>-hub`` of ``parent``. They wait for the Namespace and its
    quota objects among ``namespace_resources`` -- not for what the release's pods need
    besides (a pull Secret, a StorageClass), so they stay off the critical path beside them."""
    waits = [
        r
        for r in namespace_resources
        if isinstance(r, k8s.core.v1.Namespace | k8s.core.v1.ResourceQuota | k8s.core.v1.LimitRange)
    ]
    opts = pulumi.ResourceOptions(parent=parent, depends_on=waits)
    made: list[pulumi.Resource] = []
    for part, configmap, files in (
        ("binder", BINDER_CONFIGMAP, site.binder_files),
        ("hub", HUB_CONFIGMAP, site.hub_files),
    ):
        if not files:
            continue
        data, binary = config_map_data(files)
        made.append(
            k8s.core.v1.ConfigMap(
                f"{name}-{part}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=configmap,
                    namespace=namespace,
                    labels={"app.kubernetes.io/part-of": "binderhub", "component": "site"},
                ),
                data=data or None,
                binary_data=binary or None,
                opts=opts,
            )
        )
    return made

