"""Strict schema validation of the raw Kubernetes objects a program registers.

Every custom resource of type ``kubernetes:<group>/<version>:<Kind>`` in a
:class:`tools.mockrun.Recording` is validated with `kubernetes-validate
<https://github.com/willthames/kubernetes-validate>`_ in strict mode (unknown fields are
errors) against the schemas of the Kubernetes version the stack targets. What the SDK sends
is what is checked: the recorded ``inputs`` carry ``apiVersion`` and ``kind``.

Anything this helper cannot check is a failure, never a silent pass:

* a Kubernetes version kubernetes-validate has no schemas for;
* a kind without a schema (custom resources such as cert-manager's ``ClusterIssuer``),
  unless the caller passes its schema in ``extra_schemas`` (e.g. the CRD's
  ``openAPIV3Schema``, keyed by ``(apiVersion, kind)``);
* ``...Patch`` resources (partial objects), inputs whose ``apiVersion``/``kind`` disagree
  with the type token, and values still unknown (Pulumi's unknown sentinel).

Helm releases (``kubernetes:helm.sh/...``), providers and components are not raw objects and
are skipped; the custom children of Chart/ConfigGroup components are validated.

Usage::

    from tests.k8s_validate import assert_valid_objects
    checked = assert_valid_objects(recording, "1.33")   # -> names of the objects checked
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kubernetes_validate

from tools.mockrun import Recording, Registered

# jsonschema ships no type stubs; loaded untyped rather than with an `ignore` that would turn
# stale (mypy's warn_unused_ignores) once stubs or an override are added.
jsonschema: Any = importlib.import_module("jsonschema")

# kubernetes-validate re-reads and re-parses its schema files on every call, the shared
# definitions file (several MB) included: ~0.1 s per object, minutes for the rendered charts.
# The bundled files never change, so each is read once per process (the parsed schemas are
# only read by jsonschema, never changed). kubernetes_validate.validate looks the function up
# in its module at each call, so replacing it there is enough.
if not hasattr(kubernetes_validate.utils.schema_contents, "cache_info"):
    kubernetes_validate.utils.schema_contents = functools.cache(
        kubernetes_validate.utils.schema_contents
    )

#: ``kubernetes:rbac.authorization.k8s.io/v1:ClusterRole``; ``core`` is the legacy group.
_TYPE = re.compile(r"^kubernetes:(?P<group>[^/:]+)/(?P<version>[^/:]+):(?P<kind>[A-Za-z0-9]+)$")
#: Groups of type tokens that are not Kubernetes objects (helm.sh/v3:Release) or are
#: components whose children are registered separately.
_NOT_OBJECTS = frozenset({"helm.sh", "yaml", "kustomize"})
#: What the Pulumi SDK sends for a value that is not known yet.
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

Schemas = Mapping[tuple[str, str], Mapping[str, Any]]


class UnvalidatedObjectError(AssertionError):
    """An object could not be validated (no schema, unsupported version, unknown values)."""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def schema_version(kubernetes_version: str) -> str:
    """``1.33`` -> ``1.33.0``; fails if kubernetes-validate has no schemas for it."""
    version = kubernetes_version.removeprefix("v")
    if re.fullmatch(r"\d+\.\d+", version):
        version += ".0"
    known = sorted(set(kubernetes_validate.utils.all_versions()), key=_version_key)
    if version not in known:
        raise UnvalidatedObjectError(
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for "
            f"Kubernetes {kubernetes_version}; it knows {known[0]} to {known[-1]}"
        )
    return version


def raw_objects(recording: Recording) -> list[Registered]:
    """The recorded resources that are raw Kubernetes objects."""
    found = []
    for resource in recording.resources:
        if not resource.custom or not resource.type.startswith("kubernetes:"):
            continue  # components, providers, other clouds
        match = _TYPE.match(resource.type)
        if match is None:
            raise UnvalidatedObjectError(f"unrecognised Kubernetes type token {resource.type}")
        if match["group"] in _NOT_OBJECTS:
            continue
        found.append(resource)
    return found


def _unknown_paths(value: Any, path: str = "") -> Iterable[str]:
    if value == _UNKNOWN:
        yield path or "<value>"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unknown_paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unknown_paths(item, f"{path}[{index}]")


def validate_object(
    type_token: str,
    obj: Mapping[str, Any],
    kubernetes_version: str,
    extra_schemas: Schemas | None = None,
) -> None:
    """Validate one object strictly; raise an AssertionError saying what is wrong."""
    version = schema_version(kubernetes_version)
    match = _TYPE.match(type_token)
    if match is None:
        raise UnvalidatedObjectError(f"unrecognised Kubernetes type token {type_token}")
    group, api, kind = match["group"], match["version"], match["kind"]
    expected_api = api if group == "core" else f"{group}/{api}"
    if kind.endswith("Patch"):
        raise UnvalidatedObjectError(
            f"{type_token}: a Patch is a partial object that strict schemas cannot check; "
            "validate the fields it sets explicitly"
        )
    if obj.get("apiVersion") != expected_api or obj.get("kind") != kind:
        raise UnvalidatedObjectError(
            f"{type_token}: inputs say apiVersion={obj.get('apiVersion')!r} "
            f"kind={obj.get('kind')!r}, expected {expected_api!r} {kind!r}"
        )
    unknown = list(_unknown_paths(dict(obj)))
    if unknown:
        raise UnvalidatedObjectError(f"{type_token}: values not known yet at {unknown}")
    data = dict(obj)
    custom = (extra_schemas or {}).get((expected_api, kind))
    if custom is not None:
        errors = sorted(jsonschema.Draft202012Validator(dict(custom)).iter_errors(data), key=str)
        if errors:
            raise AssertionError(
                f"{type_token}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
            )
        return
    try:
        validated = kubernetes_validate.validate(data, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "<object>"
        raise AssertionError(f"{type_token}: {where}: {exc.message}") from None
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise UnvalidatedObjectError(
            f"{type_token}: {exc.message}; pass its schema in extra_schemas"
        ) from None
    except (
        kubernetes_validate.utils.VersionNotSupportedError,
        kubernetes_validate.InvalidSchemaError,
    ):
        raise UnvalidatedObjectError(
            f"{type_token}: kubernetes-validate cannot check Kubernetes {version}"
        ) from None
    if validated != kubernetes_validate.utils.major_minor(version):
        raise UnvalidatedObjectError(f"{type_token}: validated against {validated}, not {version}")


def assert_valid_objects(
    recording: Recording,
    kubernetes_version: str,
    extra_schemas: Schemas | None = None,
    select: Callable[[Registered], bool] | None = None,
) -> list[str]:
    """Validate every raw object of ``recording``; return ``["<type> <name>", ...]`` checked.

    ``select`` narrows the check to some objects (e.g. one component's children). All
    problems are collected and reported together. Fails if there is nothing to check.
    """
    objects = [r for r in raw_objects(recording) if select is None or select(r)]
    if not objects:
        raise UnvalidatedObjectError("the recording has no raw Kubernetes objects to validate")
    problems = []
    for resource in objects:
        try:
            validate_object(resource.type, resource.inputs, kubernetes_version, extra_schemas)
        except AssertionError as exc:
            problems.append(f"{resource.name}: {exc}")
    if problems:
        raise AssertionError(
            f"{len(problems)} object(s) fail strict validation for Kubernetes "
            f"{kubernetes_version}:\n  " + "\n  ".join(problems)
        )
    return [f"{r.type} {r.name}" for r in objects]
