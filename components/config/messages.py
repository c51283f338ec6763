"""Configuration errors in our own words: the key, what is wrong and how to fix it.

pydantic reports problems in its own phrasing (``Input should be a valid string``, ``Input tag
'aws' found using 'provider' does not match any of the expected tags``, ``Field required``).
:func:`describe_errors` turns each error into one line that names the key as the user wrote it
(``binder:cluster.kubernetesVersion``) and says what to write instead, per pydantic error type
(https://docs.pydantic.dev/2.11/errors/validation_errors/). Input values are never echoed: a
value typed into the wrong key may be a secret. Only the *kind* of a wrong value (a number, a
boolean) is used, to say that YAML read an unquoted ``1.30`` as the number 1.3.

:func:`stray_namespace_keys` finds config keys under a namespace that looks like ours
(``bindr:cluster``, ``Binder:cluster``), which the program would otherwise never read.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

#: The discriminated union's branch names: pydantic puts the branch it chose into the error's
#: location (``cluster.gke.corePool``); the user wrote ``cluster.corePool``.
PROVIDERS = ("magnum", "gke", "existing")

#: Patterns of the models, in words (the regular expression itself helps no one).
_PATTERNS = {
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": (
        "must be a DNS label: lowercase letters, digits and '-', starting and ending with a "
        "letter or digit, at most 63 characters"
    ),
    r"^\d+(ms|s|m|h|d|w|y)$": "must be a duration such as '15d': a number and one of ms, s, "
    "m, h, d, w, y",
    r"^[a-z0-9][a-z0-9_.-]*$": (
        "must start with a lowercase letter or digit, followed by lowercase letters, digits, "
        "'_', '.' or '-'"
    ),
}


def format_loc(project: str, loc: tuple[int | str, ...]) -> str:
    """``binder:users[2].role`` for a pydantic location."""
    path = f"{project}:"
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif index == 1 and loc[0] == "cluster" and part in PROVIDERS:
            continue  # the union branch pydantic picked, not a key the user wrote
        else:
            path += part if index == 0 else f".{part}"
    return path


def _quote_hint(key: str, value: Any) -> str:
    """Why a number or boolean arrived where text was expected, and how to quote it."""
    if isinstance(value, bool):
        return (
            "; YAML reads an unquoted true or false (PyYAML also yes, no, on and off) as a "
            f'boolean: put the value in quotes ({key}: "...")'
        )
    if isinstance(value, int | float):
        return (
            "; YAML read an unquoted number here (1.30 becomes the number 1.3): put the value "
            f'in quotes, e.g. {key}: "1.30"'
        )
    return ""


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty" if value is None else "something else"


#: Per pydantic error type: the problem, in words, from the error's context and input.
_Describe = Callable[[Mapping[str, Any], Any, str], str]
_DESCRIBE: dict[str, _Describe] = {
    "string_type": lambda ctx, value, key: (
        "must be text, not " + _kind(value) + _quote_hint(key, value)
    ),
    "bool_type": lambda ctx, value, key: f"must be true or false, not {_kind(value)}",
    "bool_parsing": lambda ctx, value, key: "must be true or false",
    "int_type": lambda ctx, value, key: f"must be a whole number, not {_kind(value)}",
    "int_parsing": lambda ctx, value, key: "must be a whole number such as 3",
    "int_from_float": lambda ctx, value, key: "must be a whole number, without a fraction",
    "float_type": lambda ctx, value, key: f"must be a number, not {_kind(value)}",
    "float_parsing": lambda ctx, value, key: "must be a number such as 0.5",
    "dict_type": lambda ctx, value, key: (
        f"must be a mapping (indented `key: value` lines), not {_kind(value)}"
    ),
    "model_type": lambda ctx, value, key: (
        f"must be a mapping (indented `key: value` lines), not {_kind(value)}"
    ),
    "model_attributes_type": lambda ctx, value, key: (
        f"must be a mapping (indented `key: value` lines), not {_kind(value)}"
    ),
    "list_type": lambda ctx, value, key: (
        f"must be a list (lines starting with '- '), not {_kind(value)}"
    ),
    "literal_error": lambda ctx, value, key: f"must be one of {ctx.get('expected')}",
    "enum": lambda ctx, value, key: f"must be one of {ctx.get('expected')}",
    "string_pattern_mismatch": lambda ctx, value, key: _PATTERNS.get(
        str(ctx.get("pattern")),
        f"does not have the expected form (the regular expression {ctx.get('pattern')})",
    ),
    "string_too_long": lambda ctx, value, key: (
        f"must be at most {ctx.get('max_length')} characters long"
    ),
    "string_too_short": lambda ctx, value, key: (
        "must not be empty"
        if ctx.get("min_length") == 1
        else f"must be at least {ctx.get('min_length')} characters long"
    ),
    "too_short": lambda ctx, value, key: f"must have at least {ctx.get('min_length')} entries",
    "too_long": lambda ctx, value, key: f"must have at most {ctx.get('max_length')} entries",
    "greater_than_equal": lambda ctx, value, key: f"must be at least {ctx.get('ge')}",
    "greater_than": lambda ctx, value, key: f"must be more than {ctx.get('gt')}",
    "less_than_equal": lambda ctx, value, key: f"must be at most {ctx.get('le')}",
    "less_than": lambda ctx, value, key: f"must be less than {ctx.get('lt')}",
    "union_tag_invalid": lambda ctx, value, key: (
        f"'{ctx.get('tag')}' is not a {_discriminator(ctx)} this "
        f"program knows; use one of {ctx.get('expected_tags')}"
    ),
    "union_tag_not_found": lambda ctx, value, key: (
        "has no `provider`; add `provider: magnum`, `gke` or `existing`"
        if _discriminator(ctx) == "provider"
        else f"has no `{_discriminator(ctx)}`; add one"
    ),
}


def _discriminator(ctx: Mapping[str, Any]) -> str:
    """The key a discriminated union is told apart by (pydantic quotes it: "'provider'");
    ``provider`` for the cluster, ``platform`` for the federation's front door."""
    return str(ctx.get("discriminator") or "provider").strip("'")


def describe_error(err: ErrorDetails) -> str:
    """The problem of one pydantic error in our words, without the key (callers name it)."""
    kind = err["type"]
    if kind in _DESCRIBE:
        loc = tuple(err["loc"])
        key = next((str(p) for p in reversed(loc) if isinstance(p, str)), "key")
        return _DESCRIBE[kind](err.get("ctx") or {}, err.get("input"), key)
    if kind == "missing":
        return "missing; add it"
    # Our own validators (value_error, binder_config) speak our words already.
    return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, lists, dicts, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """A model's keys as written in a stack file (aliases), with their annotations."""
    return {f.alias or name: f.annotation for name, f in model.model_fields.items()}


def _models_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The models that may hold the keys at ``loc`` (list indexes and mapping keys such as a
    namespace's name stay at the models of their container)."""
    models = [root]
    for part in loc:
        following = [m for model in models
                     for m in _models_in(_keys(model).get(part)) if isinstance(part, str)]
        models = following or models
    return models


def _all_keys(root: type[BaseModel]) -> list[tuple[str, tuple[str, ...]]]:
    """Every key of ``root`` and the models below it, with its path, shortest paths first."""
    found: list[tuple[str, tuple[str, ...]]] = []
    queue: list[tuple[type[BaseModel], tuple[str, ...]]] = [(root, ())]
    seen: set[type[BaseModel]] = set()
    while queue:
        model, path = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        for key, annotation in _keys(model).items():
            found.append((key, (*path, key)))
            queue.extend((m, (*path, key)) for m in _models_in(annotation))
    return found


def unknown_key_hint(root: type[BaseModel], loc: tuple[Any, ...], project: str) -> str:
    """For an unknown key at ``loc``: "did you mean" a near key of the same mapping, or where a
    key of that name belongs (``binder:auth`` -> ``binder:binderhub.auth``); empty if neither."""
    key = loc[-1]
    if not isinstance(key, str):
        return ""
    here = sorted({k for m in _models_at(root, loc[:-1]) for k in _keys(m)})
    near = difflib.get_close_matches(key, here, n=1, cutoff=0.75)
    if near:
        return f"; did you mean `{near[0]}`?"
    elsewhere = [path for name, path in _all_keys(root)
                 if name.lower() == key.lower() and path != tuple(loc)]
    if elsewhere:
        return f"; `{key}` belongs at {project}:{'.'.join(elsewhere[0])}"
    return ""


def describe_errors(
    error: ValidationError,
    *,
    project: str,
    stack: str | None,
    known_keys: Iterable[str] = (),
    root: type[BaseModel] | None = None,
) -> list[str]:
    """One line per problem: ``binder:<key>: <what is wrong>; <how to fix it>``."""
    stack_file = f"Pulumi.{stack}.yaml" if stack else "the stack's settings file"
    lines = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "union_tag_invalid":
            loc = (*loc, _discriminator(err.get("ctx") or {}))
        if kind == "missing":
            msg = f"missing; add it to {stack_file}"
        elif kind == "extra_forbidden":
            msg = "unknown key; remove it or fix its spelling"
            hint = unknown_key_hint(root, loc, project) if root is not None else ""
            msg += hint
            if len(loc) == 1 and known_keys:
                msg += f" (known keys are {', '.join(sorted(known_keys))})"
        else:
            msg = describe_error(err)
        lines.append(f"  {format_loc(project, loc)}: {msg}")
    return lines


def stray_namespace_keys(keys: Iterable[str], project: str) -> list[str]:
    """Config keys whose namespace looks like ``project`` but is not it, with the fix.

    The Pulumi CLI hands the program every key of ``Pulumi.<stack>.yaml``; a key under
    ``bindr:`` is silently never read, and only the missing ``binder:`` key would be reported.
    """
    problems = []
    for full_key in keys:
        namespace, colon, key = full_key.partition(":")
        if not colon or namespace == project:
            continue
        near = namespace.lower() == project or (
            difflib.SequenceMatcher(None, namespace.lower(), project).ratio() >= 0.75
        )
        if near:
            problems.append(
                f"  {full_key}: unknown namespace `{namespace}:`; did you mean `{project}:`, as "
                f"in `{project}:{key}`? This program reads only keys under `{project}:`"
            )
    return sorted(problems)
