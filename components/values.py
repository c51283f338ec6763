"""Helm values in layers, merged the way Helm merges them.

Each release's values are built from four layers, later ones winning (like Helmsman's
``valuesFiles`` followed by ``--set``):

1. ``helm_configs/base/<release>.yaml`` -- what every environment shares;
2. ``helm_configs/<stack>/<release>.yaml`` -- the environment's differences, if the file exists;
3. values computed by the program (hostnames, registry, TLS, scheduling), a mapping whose
   leaves may be Pulumi ``Output`` s, or an ``Output`` of a mapping;
4. secrets, whose every leaf is wrapped in ``Output.secret``.

Merging follows Helm (https://helm.sh/docs/chart_template_guide/values_files/): maps merge
recursively, lists and scalars replace. A ``null`` is kept in the merged values so that Helm
deletes that key from the chart's defaults (the release sets ``allowNullValues``);
:func:`coalesce` reproduces what Helm then does with the chart's ``values.yaml``.

Leaves stay Outputs: only the secret leaves are secret on the wire, the rest of the values
stays readable in ``pulumi preview --diff``. If a layer is itself an ``Output`` the merged
result is one ``Output`` (secret if any layer is).

Values files are plain YAML and must not hold secrets: ``secrets*.yaml`` files (SOPS, owned by
:mod:`components.secrets`) are never read as values, nor is any file with a ``sops`` key or a
plaintext value under a key that names a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config import ConfigError

#: ``helm_configs/`` of this repository.
HELM_CONFIGS = Path(__file__).resolve().parent.parent / "helm_configs"

#: Keys whose plaintext value in a values file is a leaked credential. Matched on the whole
#: key, case-insensitively; keys such as ``passwordKey`` or ``existingSecret`` (names of
#: Kubernetes Secrets) are fine.
_SECRET_KEY = re.compile(
    r"(?i)^(.*password|secret_?token|api_?token|token|client_?secret|private_?key|tls\.key|"
    r"access_?key|secret_?key|auth_?token)$"
)

Values = dict[str, Any]


# --------------------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------------------


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Deep-merge ``override`` onto ``base`` as Helm merges user values files.

    Maps merge key by key; anything else in ``override`` (a list, a scalar, an ``Output``,
    ``None``) replaces what ``base`` had. ``None`` is kept, so that Helm deletes the key from
    the chart's defaults later. Neither argument is modified.
    """
    merged: Values = {key: _copy(value) for key, value in base.items()}
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = _copy(value)
    return merged


def _copy(value: Any) -> Any:
    """A copy of the containers in ``value``; leaves (scalars, Outputs) are shared."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def coalesce(chart_defaults: Mapping[str, Any], user: Mapping[str, Any]) -> Values:
    """The values Helm renders with: the chart's ``values.yaml`` overlaid with ours.

    Helm's ``coalesce`` rules (https://github.com/helm/helm/blob/main/pkg/chart/common/util/coalesce.go):
    a user ``null`` deletes the key; maps merge recursively; anything else replaces.
    """
    result: Values = _copy(dict(chart_defaults))
    for key, value in user.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = coalesce(result[key], value)
        elif isinstance(value, Mapping):
            result[key] = coalesce({}, value)
        else:
            result[key] = _copy(value)
    return result


def _is_output(value: Any) -> bool:
    return isinstance(value, pulumi.Output)


def secret_layer(values: Mapping[str, Any]) -> Values:
    """``values`` with every non-null leaf wrapped in ``Output.secret``.

    Re-wrapping an already secret Output is harmless; wrapping a plain value makes sure a
    credential handed over as a plain string still travels as a secret.
    """
    out: Values = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = secret_layer(value)
        elif value is None:
            out[key] = None
        else:
            out[key] = pulumi.Output.secret(value)
    return out


Layer = Mapping[str, Any] | pulumi.Output[Any] | None


def merge_layers(*layers: Layer) -> pulumi.Input[Values]:
    """Merge layers in order. Plain mappings (with Output leaves) give a plain mapping; if any
    layer is an ``Output`` of a mapping, the result is one ``Output`` of the merged mapping."""
    present = [layer for layer in layers if layer is not None]
    if not any(_is_output(layer) for layer in present):
        merged: Values = {}
        for layer in present:
            merged = merge(merged, layer)  # type: ignore[arg-type]
        return merged

    def _merge_all(resolved: list[Any]) -> Values:
        result: Values = {}
        for layer in resolved:
            result = merge(result, layer or {})
        return result

    # Output.all resolves nested Outputs too, and is secret if any of them is.
    return pulumi.Output.all(*[pulumi.Output.from_input(layer) for layer in present]).apply(
        _merge_all
    )


def resolve(values: pulumi.Input[Mapping[str, Any]]) -> pulumi.Output[Values]:
    """All layers resolved into one ``Output`` (secret if any leaf is)."""
    return pulumi.Output.from_input(values).apply(lambda v: dict(v))


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def values_files(release: str, stack: str, root: Path | None = None) -> list[Path]:
    """The values files of ``release`` for ``stack``, base first. The base file must exist."""
    root = root or HELM_CONFIGS
    base = root / "base" / f"{release}.yaml"
    if not base.is_file():
        raise ConfigError(
            f"{base}: missing values file for release '{release}'; every release needs "
            f"helm_configs/base/{release}.yaml (it may be an empty mapping `{{}}`)"
        )
    files = [base]
    override = root / stack / f"{release}.yaml"
    if override.is_file():
        files.append(override)
    return files


def load_values_file(path: Path) -> Values:
    """Read one plain values file. Errors name the file and say how to fix it."""
    if path.name.startswith("secrets"):
        raise ConfigError(
            f"{path}: refusing to read a secrets file as Helm values; secrets are decrypted by "
            "components/secrets.py and passed to the releases as Pulumi secrets"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}; fix the syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read values file: {exc.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{path}: a values file must be a YAML mapping at the top level, not "
            f"{type(data).__name__}"
        )
    if "sops" in data:
        raise ConfigError(
            f"{path}: this is a SOPS-encrypted file; list it under binder:secretsFiles instead "
            "of using it as Helm values"
        )
    leaked = list(_secret_like_keys(data))
    if leaked:
        raise ConfigError(
            f"{path}: plaintext credential(s) at {', '.join(leaked)}; values files are "
            "committed in plaintext: move the value to an encrypted secrets file "
            "(binder:secretsFiles) or to `pulumi config set --secret`"
        )
    return dict(data)


def _secret_like_keys(value: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _SECRET_KEY.match(str(key)) and isinstance(item, str | int) and str(item):
                found.append(here)
            else:
                found.extend(_secret_like_keys(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_secret_like_keys(item, f"{path}[{index}]"))
    return found


def file_layers(release: str, stack: str, root: Path | None = None) -> list[Values]:
    """Layers 1 and 2: the base and stack values files of ``release``, parsed."""
    return [load_values_file(path) for path in values_files(release, stack, root)]


def release_values(
    release: str,
    stack: str,
    *,
    computed: Layer = None,
    secrets: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> pulumi.Input[Values]:
    """The final values of ``release``: base file, stack file, ``computed``, ``secrets``.

    ``secrets`` is wrapped with :func:`secret_layer`, so every leaf of it is a secret.
    """
    return merge_layers(
        *file_layers(release, stack, root),
        computed,
        secret_layer(secrets) if secrets else None,
    )
