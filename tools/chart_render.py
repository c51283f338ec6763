"""Render the program's Helm releases offline, with the real upstream charts.

Each ``kubernetes:helm.sh/v3:Release`` that a :class:`tools.mockrun.Recording` holds is rendered
with the exact chart, version, release name, namespace and values the Release carries, using
the complete chart sources in ``<repo>/../shared/charts/<chart>/<version>/`` (``make
chart-data`` puts them there; they are never copied into the repository). No cluster, no
network and no ``helm`` binary: the Helm Go SDK is called through PyPI ``helm-python-sdk``
(import name ``helm_python``, https://pypi.org/project/helm-python-sdk/).

What Helm would create is then known before anyone deploys, so tests can check every object.

Faithful to ``helm template``/``helm install`` in the ways that matter here:

* ``kube_version`` and ``api_versions`` are always set, as ``helm template --kube-version
  --api-versions`` would, to what a cluster of the stack's Kubernetes minor version serves
  (from the same bundled schemas the tests validate against, see :func:`api_versions_for`)
  plus the CRDs the releases install. Without them charts ask ``.Capabilities.APIVersions.Has
  "policy/v1/PodDisruptionBudget"``, get no, and render an API no supported cluster serves.
* Manifests are split into documents the way Helm's ``releaseutil.SplitManifests`` does
  (https://github.com/helm/helm/blob/main/pkg/release/v1/util/manifest.go: the separator
  ``(?:^|\\s*\\n)---\\s*``); plain ``yaml.safe_load_all`` fails on cert-manager's
  ``---# comment`` joins. Empty documents are dropped, as Helm drops them.
* The chart's ``crds/`` directory is installed by ``helm install`` before the templates
  unless ``skipCrds`` is set (https://helm.sh/docs/chart_best_practices/custom_resource_definitions/),
  so those CRDs are part of the objects a release creates here too.
* Test hooks (``helm.sh/hook: test``) are only created by ``helm test``, never by an install
  or upgrade (https://helm.sh/docs/topics/chart_tests/): they are left out. Other hooks
  (pre-/post-install Jobs) are created by the install and are kept.

Secrets: every value the Release carries as a Pulumi secret is replaced by a placeholder of
a realistic shape (a 64-hex token, a PEM-looking certificate, ...), derived from its path in
the values and never from the secret itself, so the render holds no secret and two renders
of the same program are identical.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from components.config.yaml_input import load_written
from tools.mockrun import REPO, Recording, Registered, is_secret

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
#: Where ``make chart-data`` (CI) or the shared checkout puts the complete chart sources.
DEFAULT_CHARTS_DIR = REPO.parent / "shared" / "charts"
#: Helm's document separator is ``(?:^|\s*\n)---\s*`` (releaseutil.SplitManifests, see the
#: module docstring). Python's engine backtracks badly on its ``\s*\n`` over the CRDs' long
#: indentation runs (a second per stack), so the leading whitespace is left with the previous
#: document instead: the same documents, give or take trailing whitespace, which YAML ignores.
_SEPARATOR = re.compile(r"(?:^|\n)---\s*")
def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` semantics at libyaml's speed: the CRDs alone are ~2 MB of YAML,
    which the pure-Python parser takes seconds to read."""
    return load_written(text)
#: What the Pulumi SDK sends for a value that is not known yet.
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: API versions switched off by default on every cluster: alpha always; beta APIs added
#: since Kubernetes 1.24 are off by default too (KEP-3136,
#: https://github.com/kubernetes/enhancements/tree/master/keps/sig-architecture/3136-beta-apis-off-by-default),
#: and every beta version in the 1.25+ schemas we support is one of those or already removed
#: from serving. A chart that finds them "served" would render objects no cluster accepts.
_OFF_BY_DEFAULT = re.compile(r"^v\d+(alpha|beta)\d+$")


class ChartRenderError(Exception):
    """A release cannot be rendered offline; the message says why and how to fix it."""


class ChartDataMissingError(ChartRenderError):
    """The upstream chart sources are not where the renderer looks for them."""


@dataclass(frozen=True)
class RenderedRelease:
    """One Helm release and every object it would create."""

    resource: str
    """The Pulumi resource name of the Release (e.g. ``releases-binderhub-release``)."""
    chart: str
    version: str
    name: str
    """The Helm release name."""
    namespace: str
    objects: list[dict[str, Any]]


# --------------------------------------------------------------------------------------
# Kubernetes versions and the APIs a cluster serves
# --------------------------------------------------------------------------------------


def helm_kube_version(kube_version: str) -> str:
    """``1.33`` / ``v1.33`` / ``1.33.2`` -> ``v1.33.0`` style, as Helm's ``--kube-version``."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", kube_version.strip())
    if match is None:
        raise ChartRenderError(
            f"Kubernetes version {kube_version!r} is not MAJOR.MINOR (e.g. 1.33)"
        )
    return f"v{match[1]}.{match[2]}.{match[3] or 0}"


@functools.cache
def _builtin_api_versions(minor: str) -> tuple[str, ...]:
    """Group/versions and group/version/kinds of the built-in APIs of Kubernetes ``minor``.

    Read from kubernetes-validate's bundled OpenAPI schemas for that version (the same files
    tests/k8s_validate.py validates against): each definition of the ``io.k8s.api.*`` and
    ``io.k8s.kube-aggregator``/``apiextensions`` packages carries its
    ``x-kubernetes-group-version-kind``. apimachinery's meta types (DeleteOptions,
    WatchEvent) are skipped: they list every group/version ever registered, removed ones too.
    """
    import importlib.resources

    import kubernetes_validate

    known = set(kubernetes_validate.utils.all_versions())
    wanted = f"{minor}.0"
    if wanted not in known:
        raise ChartRenderError(
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for "
            f"Kubernetes {minor}, so the APIs such a cluster serves are not known here; "
            "upgrade kubernetes-validate or use a version it knows"
        )
    ref = importlib.resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{wanted}-local-strict/_definitions.json"
    )
    definitions = json.loads(ref.read_text())["$defs"]
    found: set[str] = set()
    for key, definition in definitions.items():
        if key.startswith("io.k8s.apimachinery."):
            continue
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            if _OFF_BY_DEFAULT.match(gvk["version"]) or gvk["kind"].endswith("List"):
                continue
            group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            found.add(group_version)
            found.add(f"{group_version}/{gvk['kind']}")
    return tuple(sorted(found))


def _minor(kube_version: str) -> str:
    return ".".join(helm_kube_version(kube_version).removeprefix("v").split(".")[:2])


def api_versions_for(kube_version: str, crds: Iterable[Mapping[str, Any]]) -> list[str]:
    """What a cluster of ``kube_version`` serves, plus what ``crds`` add.

    The list holds ``group/version`` and ``group/version/Kind`` entries (``v1``,
    ``v1/Pod``, ``policy/v1``, ``policy/v1/PodDisruptionBudget``), the two forms charts test
    with ``.Capabilities.APIVersions.Has``. Each CRD adds its served versions.
    """
    found = set(_builtin_api_versions(_minor(kube_version)))
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if version.get("served", True):
                found.add(f"{group}/{version['name']}")
                found.add(f"{group}/{version['name']}/{kind}")
    return sorted(found)


# --------------------------------------------------------------------------------------
# Rendering one release
# --------------------------------------------------------------------------------------


@functools.cache
def _load_chart(path: Path) -> Any:
    """The chart loaded once per process (an immutable native handle, safe to share)."""
    from helm_python import Chart

    return Chart.load(path)


def check_chart_dir(chart_dir: Path) -> Path:
    """``chart_dir`` if it is a chart directory; otherwise a clear error."""
    if not (chart_dir / "Chart.yaml").is_file():
        raise ChartDataMissingError(
            f"The upstream chart sources are missing: {chart_dir}/Chart.yaml does not exist. "
            "They live beside the repository clone in shared/charts/<chart>/<version>/, never "
            "in the repository. Fetch every pinned chart there with `make chart-data`."
        )
    return chart_dir


def split_manifest(text: str) -> list[str]:
    """Documents of one rendered template, split as Helm splits them."""
    return [doc for doc in _SEPARATOR.split(text) if doc.strip()]


@functools.lru_cache(maxsize=8192)
def _parse_document(document: str) -> Any:
    """One rendered document, parsed once per process: the second pass of
    :func:`render_recording` (more API versions) mostly yields the same texts. Callers get
    deep copies (render_release), so the shared object is never changed."""
    return _load_yaml(document)


def _is_test_hook(obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    hooks = {h.strip() for h in str(annotations.get("helm.sh/hook", "")).split(",")}
    return bool(hooks & {"test", "test-success", "test-failure"})


@functools.cache
def _render_cached(
    chart_dir: Path, values_json: str, options_json: str
) -> tuple[tuple[str, str], ...]:
    from helm_python import _native

    chart = _load_chart(chart_dir)
    try:
        rendered = _native.call_string("helm_render", chart._raw(), values_json, options_json)
    except Exception as exc:  # the SDK's own error types, all with Helm's message
        raise ChartRenderError(f"helm could not render {chart_dir}: {exc}") from None
    manifests: dict[str, str] = json.loads(rendered)
    return tuple(sorted(manifests.items()))


def crd_directory_objects(chart_dir: Path) -> list[dict[str, Any]]:
    """The CRDs of the chart's ``crds/`` directories (chart and subcharts). ``helm install``
    creates them once; ``helm upgrade`` never touches them."""
    return [_copy(o) for o in _crd_files(check_chart_dir(chart_dir).resolve())]


@functools.cache
def _crd_files(chart_dir: Path) -> tuple[dict[str, Any], ...]:
    """The CRDs of the chart's (and its subcharts') ``crds/`` directories, as objects."""
    return tuple(
        doc
        for entry in _load_chart(chart_dir).crds
        for text in split_manifest(entry["data"])
        if isinstance(doc := _load_yaml(text), dict) and doc
    )


def render_release(
    chart_dir: Path,
    *,
    name: str,
    namespace: str,
    values: Mapping[str, Any],
    kube_version: str,
    api_versions: Sequence[str],
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """The objects ``helm install`` of ``chart_dir`` would create, in template order.

    ``include_crds`` also returns the chart's ``crds/`` CRDs first (an install creates them
    unless ``skipCrds``). The Helm SDK's options take ``kube_version`` and ``api_versions``
    (its Python ``Chart.render`` does not expose them yet; the native ``helm_render``
    decodes them from its JSON options, as ``helm template`` takes ``--kube-version`` and
    ``--api-versions``).
    """
    check_chart_dir(chart_dir)
    options = {
        "name": name,
        "namespace": namespace,
        "is_install": True,
        "kube_version": helm_kube_version(kube_version),
        "api_versions": sorted(set(api_versions)),
    }
    objects = _objects_cached(
        chart_dir.resolve(),
        json.dumps(_normalise(values), sort_keys=True),
        json.dumps(options, sort_keys=True),
        include_crds,
    )
    # Callers may edit what they get; the cache keeps its own copy.
    return [_copy(o) for o in objects]


@functools.cache
def _objects_cached(
    chart_dir: Path, values_json: str, options_json: str, include_crds: bool
) -> tuple[dict[str, Any], ...]:
    name = json.loads(options_json)["name"]
    objects: list[dict[str, Any]] = list(_crd_files(chart_dir)) if include_crds else []
    for template, text in _render_cached(chart_dir, values_json, options_json):
        if template.endswith("NOTES.txt"):
            continue
        for document in split_manifest(text):
            try:
                obj = _parse_document(document)
            except yaml.YAMLError as exc:
                raise ChartRenderError(
                    f"{template} (release {name}) rendered a document that is not YAML: {exc}"
                ) from None
            if obj is None or obj == {}:
                continue
            if not isinstance(obj, dict):
                raise ChartRenderError(
                    f"{template} (release {name}) rendered a {type(obj).__name__}, not an object"
                )
            if not _is_test_hook(obj):
                objects.append(obj)
    return tuple(objects)


def _copy(value: Any) -> Any:
    """A deep copy of parsed YAML (maps, lists, scalars), several times faster than
    copy.deepcopy, which the render of a stack would otherwise spend most of its time in."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _normalise(value: Any) -> Any:
    """Wire values back to YAML types: the engine carries every number as a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# Secrets -> placeholders
# --------------------------------------------------------------------------------------


def _digest(path: str, size: int = 32) -> str:
    return hashlib.sha256(f"chart-render-placeholder:{path}".encode()).hexdigest()[: size * 2]


def placeholder(path: str, value: Any) -> Any:
    """A stand-in for the secret at ``path`` of the same shape as ``value``; never derived
    from ``value``'s content beyond its type and, for PEM, its ``BEGIN`` label."""
    if isinstance(value, Mapping):
        return {k: placeholder(f"{path}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholder(f"{path}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value  # a number's shape is its type; keep it (e.g. a port)
    text = str(value)
    pem = re.match(r"\s*-----BEGIN ([A-Z0-9 ]+)-----", text)
    if pem:
        body = (_digest(path) * 2).encode()
        import base64

        b64 = base64.b64encode(body).decode()
        return f"-----BEGIN {pem[1]}-----\n{b64}\n-----END {pem[1]}-----\n"
    key = path.rpartition(".")[2].lower()
    if "user" in key:
        return f"placeholder-user-{_digest(path, 4)}"
    if "password" in key:
        return f"placeholder-password-{_digest(path, 8)}"
    return _digest(path)  # tokens, keys, cookie secrets: 64 hex characters


def values_for_render(release: Registered) -> dict[str, Any]:
    """The Release's final values with every secret replaced by a placeholder."""

    def walk(value: Any, path: str) -> Any:
        if is_secret(value):
            from tools.mockrun import unwrap

            return placeholder(path, unwrap(value))
        if value == _UNKNOWN:
            raise ChartRenderError(
                f"{release.name}: {path} is not known until deployed, so the release cannot "
                "be rendered offline; render a recording made with preview=False"
            )
        if isinstance(value, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    values = release.wire.get("values") or {}
    result = walk(values, "")
    if not isinstance(result, dict):
        raise ChartRenderError(f"{release.name}: values are not a mapping")
    return _normalise(result)


# --------------------------------------------------------------------------------------
# A whole recording
# --------------------------------------------------------------------------------------


def chart_and_version(inputs: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The chart name and version a Release's inputs pin: ``chart`` and ``version``, or, with
    ``binder:charts.directory``, the ``<directory>/<chart>/<version>`` path that names the
    same pin (:func:`components.catalog.charts.local_chart_path`)."""
    chart, version = inputs.get("chart"), inputs.get("version")
    if chart and not version and "/" in str(chart):
        *_, chart, version = PurePosixPath(str(chart)).parts
    return (str(chart) if chart else None), (str(version) if version else None)


def _release_fields(release: Registered) -> tuple[str, str, str, str]:
    inputs = release.inputs
    chart, version = chart_and_version(inputs)
    name, namespace = inputs.get("name") or release.name, inputs.get("namespace") or "default"
    if not chart or not version:
        raise ChartRenderError(f"{release.name}: the Release has no pinned chart and version")
    if "valueYamlFiles" in inputs:
        raise ChartRenderError(
            f"{release.name}: valueYamlFiles are not rendered offline; pass values instead"
        )
    return str(chart), str(version), str(name), str(namespace)


def render_recording(
    recording: Recording, *, kube_version: str, charts_dir: Path = DEFAULT_CHARTS_DIR
) -> list[RenderedRelease]:
    """Render every Helm release of ``recording`` for a cluster of ``kube_version``.

    ``api_versions`` hold the cluster's built-in APIs plus every CRD the releases install
    (their ``crds/`` and any CRDs their templates render, such as cert-manager's with
    ``crds.enabled``): a release's templates see the CRDs of every release, as on a cluster
    where they were all installed before. Rendering is repeated once if the rendered CRDs
    add API versions the first pass did not know.
    """
    releases = sorted(recording.of_type(RELEASE_TYPE), key=lambda r: r.name)
    prepared = []
    for release in releases:
        chart, version, name, namespace = _release_fields(release)
        chart_dir = check_chart_dir(charts_dir / chart / version)
        include_crds = not release.inputs.get("skipCrds", False)
        prepared.append(
            (release, chart, version, name, namespace, chart_dir, include_crds,
             values_for_render(release))
        )
    crds: list[Mapping[str, Any]] = [
        crd for *_, chart_dir, include, _v in prepared if include
        for crd in _crd_files(chart_dir)
    ]
    api_versions = api_versions_for(kube_version, crds)
    for _ in range(3):
        rendered = [
            RenderedRelease(
                resource=release.name, chart=chart, version=version, name=name,
                namespace=namespace,
                objects=render_release(
                    chart_dir, name=name, namespace=namespace, values=values,
                    kube_version=kube_version, api_versions=api_versions,
                    include_crds=include_crds,
                ),
            )
            for release, chart, version, name, namespace, chart_dir, include_crds, values
            in prepared
        ]
        every_crd = [o for r in rendered for o in r.objects]
        wider = api_versions_for(kube_version, every_crd)
        if wider == api_versions:
            return rendered
        api_versions = wider
    raise ChartRenderError("the releases' CRDs keep changing with the API versions offered")
