"""Redaction for everything the offline render writes: Pulumi secrets, their placeholders in
rendered objects, Secret data, and checksums of rendered content (see :mod:`tools.render`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi.runtime import rpc

from tools import chart_render
from tools.mockrun import Registered, is_secret, plaintext_leaks

REDACTED = "<redacted:secret>"
LEAK = "<redacted:secret-outside-a-pulumi-secret>"
UNKNOWN = "<unknown until deployed>"
CHECKSUM = "<checksum of rendered content: omitted>"
#: Shorter secret texts (a username such as ``admin``) would match ordinary words.
MIN_NEEDLE = 8


# --------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------


def redact(value: Any) -> Any:
    """``value`` (wire form) with every secret replaced by :data:`REDACTED`.

    A secret scalar becomes the mark; a secret mapping or list keeps its shape (keys, length)
    with every leaf replaced, so a reviewer still sees *where* secrets go.
    """
    if is_secret(value):
        return _redact_all(value.get("value"))
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        # The wire (protobuf Struct) carries every number as a double: 8081 arrives as
        # 8081.0. Helm reads both alike; print what the values files say.
        return int(value)
    return value


def _redact_all(value: Any) -> Any:
    if is_secret(value):
        return _redact_all(value.get("value"))
    if isinstance(value, dict):
        return {k: _redact_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_all(v) for v in value]
    return REDACTED


def secret_texts(value: Any, inside: bool = False, *, whole_only: bool = False) -> Iterator[str]:
    """Every string that sits inside a secret marker in ``value`` (wire form).

    ``whole_only``: only the strings that are a marker's whole value -- a password, a token,
    a key, a kubeconfig, what the program carries as a secret of its own. A string inside a
    secret mapping or list is then not one by itself: the registry URL beside the credentials
    it belongs to is secret only by company, and finding it in an image prefix is no leak
    (issue 20). The secret material in such a mapping comes from the secrets files or config,
    whose values the render looks for separately."""
    if is_secret(value):
        inner = value.get("value")
        if whole_only and isinstance(inner, str):
            yield inner
        else:
            yield from secret_texts(inner, True, whole_only=whole_only)
    elif isinstance(value, dict):
        for v in value.values():
            yield from secret_texts(v, inside, whole_only=whole_only)
    elif isinstance(value, list):
        for v in value:
            yield from secret_texts(v, inside, whole_only=whole_only)
    elif inside and not whole_only and isinstance(value, str):
        yield value


def scrub(value: Any, needles: list[str], path: str, leaks: list[str]) -> Any:
    """Redact plaintext strings (already outside secrets) that contain a secret's text."""
    if isinstance(value, dict):
        return {k: scrub(v, needles, f"{path}.{k}", leaks) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, needles, f"{path}[{i}]", leaks) for i, v in enumerate(value)]
    if (
        isinstance(value, str)
        and value not in (REDACTED, UNKNOWN)
        and any(n in value for n in needles)
    ):
        leaks.append(path)
        return LEAK
    return value


# --------------------------------------------------------------------------------------
# Rendered objects
# --------------------------------------------------------------------------------------


def placeholder_texts(release: Registered) -> list[str]:
    """The texts :mod:`tools.chart_render` gives the chart instead of ``release``'s secret
    values: every string under a secret marker in the values it renders with."""
    found: list[str] = []

    def walk(wire: Any, given: Any) -> None:
        if is_secret(wire):
            found.extend(str(t) for t in _leaves(given) if isinstance(t, str))
        elif isinstance(wire, dict) and isinstance(given, dict):
            for key, value in wire.items():
                walk(value, given.get(key))
        elif isinstance(wire, list) and isinstance(given, list):
            for w, g in zip(wire, given, strict=False):
                walk(w, g)

    walk(release.wire.get("values") or {}, chart_render.values_for_render(release))
    return found


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _hides(text: str, needles: list[str]) -> bool:
    """A needle is in ``text`` as is or base64-encoded (as :func:`plaintext_leaks` looks)."""
    return bool(needles) and any(True for _ in plaintext_leaks(text, needles))


def redact_object(
    obj: Any, placeholders: list[str], secrets: list[str], where: str, leaks: list[str]
) -> Any:
    """A rendered (or raw) Kubernetes object as it may be written down.

    * a ``Secret``'s ``data`` and ``stringData`` keep their keys, every value is redacted;
    * ``checksum/*`` annotations become :data:`CHECKSUM` (see the module docstring);
    * a placeholder of a Pulumi secret is replaced by :data:`REDACTED` where it stands as
      text; a string that holds one base64-encoded is redacted whole;
    * a string holding a real secret's text (which the render never hands the chart) is
      replaced by :data:`LEAK` and reported in ``leaks``.
    """
    if not isinstance(obj, dict):
        return obj
    result = dict(obj)
    if obj.get("kind") == "Secret" and str(obj.get("apiVersion", "v1")) == "v1":
        for field_name in ("data", "stringData"):
            if isinstance(obj.get(field_name), dict):
                result[field_name] = {k: REDACTED for k in obj[field_name]}
    return _redact_strings(_omit_checksums(result), placeholders, secrets, where, leaks)


def _omit_checksums(value: Any) -> Any:
    """Every ``annotations`` mapping (the object's, a pod template's) with its
    ``checksum/*`` values replaced by :data:`CHECKSUM`."""
    if isinstance(value, dict):
        return {
            k: (
                {
                    a: (CHECKSUM if str(a).startswith("checksum/") else _omit_checksums(v2))
                    for a, v2 in v.items()
                }
                if k == "annotations" and isinstance(v, dict)
                else _omit_checksums(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_omit_checksums(v) for v in value]
    return value


def _redact_strings(
    value: Any, placeholders: list[str], secrets: list[str], path: str, leaks: list[str]
) -> Any:
    if isinstance(value, dict):
        return {
            k: _redact_strings(v, placeholders, secrets, f"{path}.{k}", leaks)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _redact_strings(v, placeholders, secrets, f"{path}[{i}]", leaks)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or value in (REDACTED, UNKNOWN, CHECKSUM, LEAK):
        return value
    if _hides(value, secrets):
        leaks.append(path)
        return LEAK
    for needle in placeholders:  # longest first, so no needle is cut by a shorter one
        value = value.replace(needle, REDACTED)
    if _hides(value, placeholders):
        return REDACTED
    return value
