"""Helm values in layers, merged the way Helm merges them.

Each release's values are built from four layers, later ones winning (like Helmsman's
``valuesFiles`` followed by ``--set``):

1. ``helm_configs/base/<release>.yaml`` -- what every environment shares;
2. ``helm_configs/<stack>/<release>.yaml`` -- the environment's differences, if the file exists;
3. values computed by the program (hostnames, registry, TLS, scheduling), a mapping whose
   leaves may be Pulumi ``Output`` s, or an ``Output`` of a mapping;
4. secrets, whose every leaf is wrapped in ``Output.secret``.

Merging follows Helm (https://helm.sh/docs/chart_template_guide/values_files/): maps merge
recursively, lists and scalars replace. A ``null`` is kept in the merged values and reaches
Helm as a null (the release sets ``allowNullValues``), so that Helm can delete that key from
the chart's defaults; :func:`coalesce` reproduces what Helm then does with the chart's
``values.yaml`` -- including keeping a ``null`` whose key the chart does not have, which a
strict chart schema then rejects.

Leaves stay Outputs: only the secret leaves are secret on the wire, the rest of the values
stays readable in ``pulumi preview --diff``. If a layer is itself an ``Output`` the merged
result is one ``Output`` (secret if any layer is).

Values files are plain YAML and must not hold secrets: ``secrets*.yaml`` files (SOPS, owned by
:mod:`components.secrets.material`) are never read as values, nor is any file with a ``sops`` key
or a
plaintext value under a key that names a credential (:func:`credential_paths`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi

from components.config.base import ConfigError
from components.config.credential_shapes import credential_shapes, is_plain_value
from components.config.yaml_input import read_yaml_file

#: The largest values file read. Ours are a few KiB; and Helm keeps each release (values
#: included) in one Secret, which Kubernetes caps at 1 MiB (MaxSecretSize), so a larger file
#: could not be deployed anyway: https://github.com/helm/community/pull/256 (HIP draft, on
#: release data over MaxSecretSize).
VALUES_MAX_BYTES = 1024 * 1024

#: ``helm_configs/`` of this repository.
HELM_CONFIGS = Path(__file__).resolve().parents[2] / "helm_configs"

#: Key names that name a credential: the last word is token, secret, password/passwd or key
#: (singular or plural), in any case and in camelCase or snake_case: ``apiToken``,
#: ``access_token``, ``private_token``, ``cookieSecret``, ``cookie_secret``, ``adminPassword``,
#: ``tls.key``, ``CryptKeeper.keys``, ``secretAccessKey``, ...
_CREDENTIAL_NAME = re.compile(r"(?i)(token|secret|passw(or)?d|key)s?$")

#: Names that match :data:`_CREDENTIAL_NAME` but hold no credential: the *name* of a
#: Kubernetes Secret or of a key in one, a label or topology key, a switch. Compared
#: case-insensitively with ``_`` and ``-`` removed. From the pinned charts' values.yaml files
#: (grafana ``admin.existingSecret``/``passwordKey``/``userKey``, z2jh ``imagePullSecrets``,
#: binderhub ``image.pullSecrets``, prometheus ``server.podAntiAffinityTopologyKey``, ...).
_NOT_CREDENTIALS = frozenset(
    {
        "existingsecret",
        "passwordkey",
        "userkey",
        "usernamekey",
        "tokenkey",
        "adminpasswordkey",
        "adminuserkey",
        "existingsecretpasswordkey",
        "existingsecretuserkey",
        "imagepullsecret",
        "imagepullsecrets",
        "pullsecrets",
        "envfromsecret",
        "envfromsecrets",
        "configfromsecret",
        "automountserviceaccounttoken",
        "assertnoleakedsecrets",
        "labelkey",
        "topologykey",
        "podantiaffinitytopologykey",
        "servicenamecategorykey",
        "publickey",
    }
)

#: A bare ``key`` is a credential (``tls.key``, z2jh ``proxy.https.manual.key``) except where
#: it names something: a key in a Secret or ConfigMap (``secretKeyRef.key``, z2jh
#: ``proxy.https.secret.key``), a taint (``tolerations[].key``) or a label
#: (``matchExpressions[].key``). Keyed by the enclosing map's (or list's) name.
_NAMING_KEY_PARENTS = frozenset(
    {
        "secretkeyref",
        "configmapkeyref",
        "secret",
        "items",
        "tolerations",
        "matchexpressions",
        "matchfields",
        "nodeselectorterms",
    }
)


def _normalised(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def names_a_credential(key: str, parent: str = "") -> bool:
    """Whether a values key names a credential, given the name of the map (or list) it is in."""
    if not _CREDENTIAL_NAME.search(key) or _normalised(key) in _NOT_CREDENTIALS:
        return False
    return not (key.lower() == "key" and _normalised(parent) in _NAMING_KEY_PARENTS)


Values = dict[str, Any]


# --------------------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------------------


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Deep-merge ``override`` onto ``base`` as Helm merges user values files.

    Maps merge key by key; anything else in ``override`` (a list, a scalar, an ``Output``,
    ``None``) replaces what ``base`` had. ``None`` is kept, so that Helm deletes the key from
    the chart's defaults later (see :func:`coalesce`). Neither argument is modified.
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


def coalesce(
    chart_defaults: Mapping[str, Any],
    user: Mapping[str, Any],
    subcharts: Mapping[str, Mapping[str, Any]] | None = None,
) -> Values:
    """The values Helm renders with: the chart's ``values.yaml`` overlaid with ours.

    Helm 3's ``CoalesceValues`` (``coalesceValues``/``coalesceTablesFullKey`` in
    https://github.com/helm/helm/blob/v3.19.0/pkg/chartutil/coalesce.go; pulumi-kubernetes'
    ``Release`` runs the Helm 3 library), for each key of the chart's defaults:

    * a user ``null`` deletes the key (the chart default is dropped);
    * a key the user does not set gets the chart default;
    * two maps merge recursively by the same rules;
    * anything else: the user's value wins (Helm warns on a map/non-map clash).

    A user key the chart's defaults do **not** have is left exactly as given -- a ``null``
    included, at any depth. Helm then renders (and validates against a strict
    ``values.schema.json``) ``key: null``, so a misspelt or stale key set to ``null`` is an
    error, not a silent no-op.

    ``subcharts`` maps a dependency's name (``jupyterhub`` for binderhub) to its own
    ``values.yaml``: as in Helm's ``coalesceDeps``, the subchart's defaults are coalesced under
    that key *after* the parent's (so the parent chart's ``jupyterhub:`` defaults win over the
    subchart's). ``global`` values are not propagated (none of our charts uses them across a
    dependency). Helm 4 changed some of these rules (helm/helm#31644: a ``null`` over a chart
    default that is itself ``null`` or ``{}`` is kept); this follows Helm 3.
    """
    result = _coalesce_table(_copy(dict(user)), chart_defaults)
    for name, sub_defaults in (subcharts or {}).items():
        given = result.get(name)
        if given is None:
            given = {}
        elif not isinstance(given, Mapping):
            raise ValueError(f"type mismatch on {name}: a subchart's values must be a map")
        result[name] = coalesce(sub_defaults, given)
    return result


def _coalesce_table(dst: Values, src: Mapping[str, Any]) -> Values:
    """Coalesce the chart defaults ``src`` into the user values ``dst`` (modified in place)."""
    for key, default in src.items():
        if key not in dst:
            dst[key] = _copy(default)
        elif dst[key] is None:
            del dst[key]
        elif isinstance(dst[key], Mapping) and isinstance(default, Mapping):
            dst[key] = _coalesce_table(dict(dst[key]), default)
        # else: the user's value wins.
    return dst


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
            "components/secrets/material.py and passed to the releases as Pulumi secrets"
        )
    # Syntax errors, aliases, duplicate keys, non-UTF-8 text and oversized files: one
    # message naming the file, line and column (components/config/yaml_input.py).
    data = read_yaml_file(path, error=ConfigError, max_bytes=VALUES_MAX_BYTES)
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
    named = credential_paths(data)
    leaked = [*named, *(f"{where} ({what})" for where, what in credential_shapes(data)
                        if where not in named)]
    if leaked:
        raise ConfigError(
            f"{path}: plaintext credential(s) at {', '.join(leaked)}; values files are "
            "committed in plaintext: move the value to an encrypted secrets file "
            "(binder:secretsFiles) or to `pulumi config set --secret`. (If such a key holds "
            "no credential, e.g. the name of a Secret, add it to _NOT_CREDENTIALS in "
            "components/releases/values.py.)"
        )
    return dict(data)


def credential_paths(value: Any, path: str = "", parent: str = "") -> list[str]:
    """Paths in ``value`` where a key that names a credential (:func:`names_a_credential`)
    holds a plaintext value: a non-empty string or number, or a list with one (``keys:
    [...]``). Maps under such a key are searched further. Only paths, never values."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            credential = names_a_credential(str(key), parent)
            if credential and (
                is_plain_value(item)
                or (isinstance(item, list) and any(is_plain_value(i) for i in item))
            ):
                found.append(here)
            else:
                found.extend(credential_paths(item, here, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(credential_paths(item, f"{path}[{index}]", parent))
    return found


def file_layers(release: str, stack: str, root: Path | None = None) -> list[Values]:
    """Layers 1 and 2: the base and stack values files of ``release``, parsed."""
    return [load_values_file(path) for path in values_files(release, stack, root)]


def release_values(
    files: Sequence[Values],
    *,
    computed: Layer = None,
    secrets: Mapping[str, Any] | None = None,
) -> pulumi.Input[Values]:
    """The final values of a release: its values ``files`` (base, then stack: see
    :func:`file_layers`), ``computed``, ``secrets``.

    ``secrets`` is wrapped with :func:`secret_layer`, so every leaf of it is a secret.
    """
    return merge_layers(
        *files,
        computed,
        secret_layer(secrets) if secrets else None,
    )
