"""Secrets: Pulumi config secrets and SOPS-encrypted files, carried as Pulumi secrets.

Two sources, usable together (docs/secrets.md):

1. SOPS-encrypted YAML files listed in ``binder:secretsFiles`` (like Helmsman's
   ``secretsFiles:``), decrypted in memory by the real sops (:mod:`components.secrets.sops`). Later
   files
   override earlier ones, key by key.
2. Pulumi config secrets (``pulumi config set --secret binder:registryPassword``), read only
   through ``Config.get_secret``. They override the files. A key set *without* ``--secret``
   sits in plaintext in ``Pulumi.<stack>.yaml`` (and git): it is refused, not read.

:func:`load_secret_material` reads and checks both **before any resource is registered** and
turns every value into a secret ``Output`` at once, so everything derived from it is secret in
state and in outputs (https://www.pulumi.com/docs/iac/concepts/secrets/). The
:class:`Secrets` component then generates the tokens that were not given (``pulumi_random``,
stable across runs because they are resources) and exposes :class:`DeploymentSecrets`, the typed
interface the releases consume. The monitoring secrets (Grafana's admin password and the token
Prometheus reads the hub's metrics with) exist only when ``binder:monitoring.enabled`` is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from components.config.stack import StackConfig
from components.secrets.document import CONFIG_SECRET_KEYS, SLOTS, Slot, parse_document
from components.secrets.sops import SecretsError, decrypt_file


@dataclass(frozen=True)
class SecretMaterial:
    """The secrets given by files and config, each already a secret ``Output``.

    ``None`` means not given. Built by :func:`load_secret_material`, consumed by
    :class:`Secrets`.
    """

    registry_username: pulumi.Output[str] | None = None
    registry_password: pulumi.Output[str] | None = None
    dockerhub_username: pulumi.Output[str] | None = None
    dockerhub_password: pulumi.Output[str] | None = None
    proxy_secret_token: pulumi.Output[str] | None = None
    hub_api_token: pulumi.Output[str] | None = None
    grafana_admin_password: pulumi.Output[str] | None = None
    tls_certificate: pulumi.Output[str] | None = None
    tls_key: pulumi.Output[str] | None = None
    oauth_client_id: pulumi.Output[str] | None = None
    oauth_client_secret: pulumi.Output[str] | None = None
    logging_password: pulumi.Output[str] | None = None
    logging_ca_certificate: pulumi.Output[str] | None = None
    alertmanager_credential: pulumi.Output[str] | None = None
    github_access_token: pulumi.Output[str] | None = None
    github_client_id: pulumi.Output[str] | None = None
    github_client_secret: pulumi.Output[str] | None = None
    gitlab_token: pulumi.Output[str] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each given value came from, by attribute: a file path or ``binder:<key>``.
    Never a value."""
    monitoring_enabled: bool = True
    """``binder:monitoring.enabled``, copied by :func:`load_secret_material`: the
    :class:`Secrets` component makes the monitoring secrets (Grafana's admin password,
    Prometheus' metrics token) only when it is on. Not a secret."""


def _resolve(path: str) -> Path:
    # Pulumi runs the program in the project directory, so relative paths are from there.
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path.cwd() / candidate


def check_config_secrets(keys: Iterable[str]) -> None:
    """Refuse ``binder:<key>`` config values of ``keys`` that were set without ``--secret``.

    ``pulumi config set binder:registryPassword X`` stores X in plaintext in
    ``Pulumi.<stack>.yaml``, and ``Config.get_secret`` still returns it (as a secret
    ``Output``) without a word. The engine tells us which keys it received as secrets
    (``pulumi.runtime.is_config_secret``); a set key that is not one is an error naming the
    keys and the fix, never the value. Call before any resource is registered.
    """
    plain = []
    for key in sorted(set(keys)):
        full = f"binder:{key}"
        # get_config reads the raw value without Config.get's "use get_secret" warning; only
        # whether it is set is used.
        if pulumi.runtime.get_config(full) is not None and not pulumi.runtime.is_config_secret(
            full
        ):
            plain.append(full)
    if not plain:
        return
    stack_file = f"Pulumi.{pulumi.get_stack()}.yaml"
    names = ", ".join(plain)
    verb = "is" if len(plain) == 1 else "are"
    commands = "\n".join(f"    pulumi config set --secret {full}" for full in plain)
    raise SecretsError(
        f"{names} {verb} set in plaintext in {stack_file} (set without --secret), so anyone "
        "who can read the file or its git history can read the secret. Re-set "
        + ("it" if len(plain) == 1 else "each")
        + " as a secret (the command prompts for the value and stores it encrypted as "
        f"`secure: ...`):\n{commands}\n"
        "and, if the file was ever committed or shared, remove the plaintext from git history "
        "(e.g. `git filter-repo`) and rotate (change) the secret."
    )


def load_secret_material(cfg: StackConfig) -> SecretMaterial:
    """Read the SOPS files of ``cfg.secrets_files`` and the config secrets; check them.

    Call before any resource is registered: every problem is a :class:`SecretsError`.
    Values become secret ``Output``s here, before anything else sees them.
    """
    # Config first: a plaintext config secret is refused before any file is decrypted.
    check_config_secrets(CONFIG_SECRET_KEYS)
    found: dict[str, pulumi.Output[str]] = {}
    sources: dict[str, str] = {}
    by_place = {(s.section, s.key): s for s in SLOTS}
    for name in cfg.secrets_files:
        plaintext = decrypt_file(_resolve(name), name)
        try:
            values = parse_document(name, plaintext)
        finally:
            # These `del`s only drop our names for the plaintext (so tracebacks that show
            # locals do not show it); Python cannot erase it from memory.
            del plaintext
        for place, value in values.items():
            slot = by_place[place]
            found[slot.attr] = pulumi.Output.secret(value)
            sources[slot.attr] = name
        del values

    config = pulumi.Config("binder")
    for slot in SLOTS:
        secret = config.get_secret(slot.config_key)
        if secret is not None:
            found[slot.attr] = pulumi.Output.secret(secret)
            sources[slot.attr] = f"binder:{slot.config_key}"

    material = SecretMaterial(
        **found, sources=dict(sources), monitoring_enabled=cfg.monitoring.enabled
    )
    _check_combinations(cfg, material)
    return material


def _where(slot: Slot) -> str:
    return (
        f"`{slot.section}.{slot.key}` in a secrets file (`sops <file>`) or "
        f"`pulumi config set --secret binder:{slot.config_key}`"
    )


def _check_combinations(cfg: StackConfig, material: SecretMaterial) -> None:
    """Values that only make sense together; reported by name, never by value."""
    slots = {s.attr: s for s in SLOTS}
    problems = []
    for first, second, what in (
        ("registry_username", "registry_password", "registry account"),
        ("dockerhub_username", "dockerhub_password", "Docker Hub account"),
        ("tls_certificate", "tls_key", "TLS certificate"),
        ("oauth_client_id", "oauth_client_secret", "OAuth client"),
        ("github_client_id", "github_client_secret", "GitHub OAuth app"),
    ):
        have_first = getattr(material, first) is not None
        have_second = getattr(material, second) is not None
        if have_first != have_second:
            given, missing = (first, second) if have_first else (second, first)
            problems.append(
                f"  the {what} is incomplete: {slots[given].section}.{slots[given].key} is "
                f"given (from {material.sources[given]}) but "
                f"{slots[missing].section}.{slots[missing].key} is not; add "
                + _where(slots[missing])
            )
    tls_source = cfg.tls.source if cfg.tls else None
    if tls_source == "institution" and material.tls_certificate is None:
        problems.append(
            "  binder:tls.source is 'institution' but no certificate was given; add "
            + _where(slots["tls_certificate"])
            + " and the same for its key (tls.key / binder:tlsKey)"
        )
    if problems:
        raise SecretsError("Invalid secrets:\n" + "\n".join(problems))
    if material.tls_certificate is not None and tls_source != "institution":
        pulumi.log.warn(
            "A TLS certificate is given but binder:tls.source is "
            f"'{tls_source or 'unset'}', so it is not used; set binder:tls.source to "
            "'institution' to use it."
        )
    if material.grafana_admin_password is not None and not cfg.monitoring.enabled:
        pulumi.log.warn(
            "A Grafana admin password is given (from "
            f"{material.sources.get('grafana_admin_password', 'the secrets')}) but "
            "binder:monitoring.enabled is false, so there is no Grafana and it is not used."
        )
