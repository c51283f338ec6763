"""Upstream Helm chart data for tests: ``values.yaml`` and ``values.schema.json``.

The files live OUTSIDE the repository, in ``<repo>/../shared/charts/<chart>/<version>/``
(``tools/fetch_chart_data.py`` puts the published charts' files there, locally and in CI);
they are never copied in. A test that needs them fails -- it does not skip -- with a message
saying what is missing and how to fetch it.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from components.catalog.charts import ChartPin
from components.releases.values import coalesce
from tests import fast_yaml

# jsonschema ships no type stubs (see tests/k8s_validate.py).
jsonschema: Any = importlib.import_module("jsonschema")

REPO = Path(__file__).resolve().parent.parent
CHARTS_DIR = REPO.parent / "shared" / "charts"


def chart_dir(pin: ChartPin) -> Path:
    path = CHARTS_DIR / pin.chart / pin.version
    if not path.is_dir():
        pytest.fail(
            f"Upstream chart data for {pin.chart} {pin.version} is missing: expected "
            f"{path}/ with values.yaml (and values.schema.json where upstream has one). "
            "It lives in shared/charts beside the repository clone, never in the repository: "
            "fetch every pinned chart there with `make chart-data` (`python -m "
            "tools.fetch_chart_data`, needs the Helm CLI).",
            pytrace=False,
        )
    return path


@functools.cache
def _load_yaml(path: Path) -> Any:
    return fast_yaml.safe_load(path.read_text())


@functools.cache
def _load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def chart_values(pin: ChartPin) -> dict[str, Any]:
    """The chart's own ``values.yaml``."""
    path = chart_dir(pin) / "values.yaml"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the upstream chart data", pytrace=False)
    return _load_yaml(path) or {}


def chart_yaml(pin: ChartPin) -> dict[str, Any]:
    path = chart_dir(pin) / "Chart.yaml"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the upstream chart data", pytrace=False)
    return _load_yaml(path) or {}


def subchart_values(pin: ChartPin) -> dict[str, dict[str, Any]]:
    """``{name: values.yaml}`` of the subcharts vendored under ``charts/`` (e.g. prometheus'
    alertmanager)."""
    root = chart_dir(pin) / "charts"
    if not root.is_dir():
        return {}
    return {
        sub.name: _load_yaml(sub / "values.yaml") or {}
        for sub in sorted(root.iterdir())
        if (sub / "values.yaml").is_file()
    }


def has_schema(pin: ChartPin) -> bool:
    return (chart_dir(pin) / "values.schema.json").is_file()


def chart_schema(pin: ChartPin) -> dict[str, Any]:
    """The chart's ``values.schema.json``; fails if upstream data lacks it."""
    path = chart_dir(pin) / "values.schema.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the upstream chart data", pytrace=False)
    return _load_json(path)


def helm_values(pin: ChartPin, user: Mapping[str, Any]) -> dict[str, Any]:
    """What Helm renders with: the chart's ``values.yaml`` coalesced with ``user``."""
    return coalesce(chart_values(pin), normalise(user))


def normalise(value: Any) -> Any:
    """Wire values back to YAML types: the engine carries every number as a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


#: Validators by schema object (kept alive here, so an id is never reused): checking a chart's
#: schema against its metaschema costs ten times validating values against it.
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Any]] = {}


def _validator(schema: Mapping[str, Any]) -> Any:
    if id(schema) not in _VALIDATORS:
        validator_cls = jsonschema.validators.validator_for(
            schema, default=jsonschema.Draft7Validator)
        validator_cls.check_schema(schema)
        _VALIDATORS[id(schema)] = (schema, validator_cls(schema))
    return _VALIDATORS[id(schema)][1]


def schema_errors(values: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every schema violation, as ``path: message`` lines (draft taken from ``$schema``)."""
    validator = _validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(values)
    )


def unknown_keys(
    ours: Mapping[str, Any],
    chart: Mapping[str, Any],
    open_paths: frozenset[str] = frozenset(),
    path: str = "",
) -> Iterator[str]:
    """Keys of ``ours`` that the chart's ``values.yaml`` does not have (likely typos).

    A chart key whose default is an empty map (``podAnnotations: {}``) takes any keys, and
    so does every path in ``open_paths`` (maps the chart documents only in comments, or
    free-form configuration such as ``grafana.ini``).
    """
    for key, value in ours.items():
        here = f"{path}.{key}" if path else str(key)
        if here in open_paths:
            continue
        if key not in chart:
            yield here
            continue
        default = chart[key]
        if isinstance(value, Mapping) and isinstance(default, Mapping) and default:
            yield from unknown_keys(value, default, open_paths, here)


#: Paths our values may set although the chart's ``values.yaml`` does not list them: keys it
#: documents only in comments, and free-form configuration passed through as is.
OPEN_PATHS: dict[str, frozenset[str]] = {
    # `adminPassword`, `ingress.ingressClassName` and `persistence.storageClassName` are
    # commented-out examples in values.yaml; `grafana.ini` is Grafana's own INI file as a map.
    "grafana": frozenset(
        {"adminPassword", "ingress.ingressClassName", "persistence.storageClassName", "grafana.ini"}
    ),
    # `priorityClassName` is a commented-out example; fileConfigs holds fluentd's own files.
    "fluentd": frozenset({"priorityClassName", "fileConfigs"}),
    # `server.persistentVolume.storageClass` and `alertmanager.persistence.storageClass` are
    # commented-out examples; `kube-state-metrics.nodeSelector` is a key of the vendored
    # subchart's own values.yaml (charts/kube-state-metrics/values.yaml), which the parent's
    # values.yaml does not repeat; `alertmanager.config` is Alertmanager's own configuration
    # file (checked by `amtool check-config` in tests/components/releases/test_alerting.py).
    "prometheus": frozenset(
        {
            "server.persistentVolume.storageClass",
            "kube-state-metrics.nodeSelector",
            "alertmanager.persistence.storageClass",
            "alertmanager.config",
        }
    ),
}
#: Charts whose schema does not reject unknown keys (none, or not strict): for these, our
#: keys are checked against the chart's values.yaml instead.
KEY_CHECKED = frozenset({"grafana", "fluentd", "prometheus"})


def release_problems(pin: ChartPin, user: Mapping[str, Any]) -> list[str]:
    """Everything wrong with ``user`` values for ``pin``: schema violations of the values Helm
    would render with, and -- for charts without a strict schema -- keys the chart does not
    know. For BinderHub its ``jupyterhub`` part is also checked against the JupyterHub
    subchart's own (strict) schema, which the binderhub schema leaves open."""
    from components.catalog import charts

    user = normalise(user)
    problems: list[str] = []
    if has_schema(pin):
        problems += schema_errors(helm_values(pin, user), chart_schema(pin))
    if pin.chart in KEY_CHECKED:
        # A vendored subchart's keys are known too (its own values.yaml under its name), as
        # Helm coalesces them.
        defaults = coalesce(chart_values(pin), {}, subchart_values(pin))
        problems += [
            f"{key}: not a key of {pin.chart} {pin.version} values.yaml"
            for key in unknown_keys(user, defaults, OPEN_PATHS.get(pin.chart, frozenset()))
        ]
    if pin is charts.BINDERHUB:
        sub = charts.JUPYTERHUB_SUBCHART
        # Helm: ours coalesced with the parent chart's values.yaml (its `jupyterhub:` part
        # included), then with the subchart's own values.yaml under `jupyterhub`.
        merged = coalesce(chart_values(pin), user, {"jupyterhub": chart_values(sub)})
        problems += [
            f"jupyterhub.{p}" for p in schema_errors(merged["jupyterhub"], chart_schema(sub))
        ]
    return problems
