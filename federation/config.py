"""The redirector's configuration: one JSON or YAML document, validated at start.

The federation stack renders it (:mod:`components.federation.document`) from these same
models, so what the program writes is what the service accepts. A malformed document -- no
members, a ``null`` entry, no prime or two, a name or URL twice, an unknown key -- stops the
service at start with one message per problem, naming where it is and how to fix it, and no
traceback (mybinder.org's loader removes a ``null`` entry and then reads it: notes in
``../shared/notes/federation.md``).

Only pydantic and PyYAML: the Pulumi program imports this module too, without aiohttp.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

#: A member's name: a DNS label, so it is a safe Prometheus label value and cookie value.
MEMBER_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class FederationConfigError(Exception):
    """The configuration document cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True,
        hide_input_in_errors=True,
    )


def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s?#]*)?", value):
        raise ValueError(
            f"must be an http(s) URL such as 'https://binder.example.org', not '{value}'"
        )
    # A trailing '/' would give '//build/...' after the redirect (a 404 on BinderHub).
    return value.rstrip("/")


class Member(_Model):
    """One BinderHub of the federation."""

    name: str = Field(pattern=MEMBER_NAME)
    """Short name (a DNS label): in metrics, logs and the sticky cookie."""
    url: str
    """The member's public BinderHub URL, e.g. ``https://gcp.binder.example.org``."""
    weight: float = Field(default=1.0, ge=0)
    """Relative share of launches; 0 keeps it checked but out of rotation."""
    prime: bool = False
    """The member whose UI the front door serves, whose ``/versions`` is the reference, and
    which takes every launch when no member is healthy. Exactly one."""
    enabled: bool = True
    """False: never checked nor chosen (a site being taken out for good)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class Checks(_Model):
    """How members are checked (one loop per member)."""

    period_seconds: float = Field(default=15.0, gt=0, le=3600)
    """Between two checks of a member in rotation. The jitter only shortens it."""
    recheck_seconds: float = Field(default=5.0, gt=0, le=3600)
    """Between two checks of a member out of rotation: shorter than the period, so a member
    that recovers is back within one recheck."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """The whole of one check (``/versions`` and ``/health``, retries included)."""
    retries: int = Field(default=3, ge=0, le=10)
    """Connection errors retried within the timeout (a refused or reset connection), each
    after ``retryDelaySeconds``; an answer that fails the check is not retried."""
    retry_delay_seconds: float = Field(default=0.5, ge=0, le=10)
    jitter: float = Field(default=0.1, ge=0, lt=1)
    """Each wait is shortened by up to this fraction, at random, so loops spread out."""
    pod_headroom: int = Field(default=10, ge=0)
    """A member leaves the rotation once running pods + this reach its quota."""

    @model_validator(mode="after")
    def _recheck_sooner(self) -> Checks:
        if self.recheck_seconds > self.period_seconds:
            raise ValueError(
                f"recheckSeconds ({self.recheck_seconds:g}) is longer than periodSeconds "
                f"({self.period_seconds:g}); a member out of rotation is re-checked sooner "
                "than one in it: lower recheckSeconds"
            )
        return self


class StickyCookie(_Model):
    """The cookie that sends a returning user's launches of one repository to one member."""

    name: str = Field(default="binder-member", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    max_age_hours: float = Field(default=4.0, gt=0, le=24 * 30)


class FederationConfig(_Model):
    """The whole document."""

    members: list[Member]
    choice: Literal["rendezvous", "random"] = "rendezvous"
    """``rendezvous``: weighted rendezvous hashing of the repository (refs removed), so one
    repository lands on one member and its image is built and cached once. ``random``:
    weighted random per launch, for when images are shared between members' registries."""
    checks: Checks = Field(default_factory=Checks)
    cookie: StickyCookie = Field(default_factory=StickyCookie)
    public_url: str | None = None
    """The front door's own URL, sent to the prime as the launch host of proxied pages."""
    proxy_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Most time a proxied request to the prime may take."""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("members", mode="before")
    @classmethod
    def _no_empty_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            empty = [i for i, member in enumerate(value) if member is None]
            if empty:
                where = ", ".join(f"members[{i}]" for i in empty)
                raise ValueError(
                    f"{where} is empty (null); remove the entry, or set enabled: false to "
                    "keep a member out"
                )
        return value

    @model_validator(mode="after")
    def _members(self) -> FederationConfig:
        problems = member_list_problems(self.members)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def prime(self) -> Member:
        return next(m for m in self.members if m.prime)


def member_list_problems(members: Sequence[Any], unique: Sequence[str] = ("name", "url")
                         ) -> list[str]:
    """What is wrong with a member list, one sentence per problem: the service's document
    and the federation stack's configuration (components/config/federation.py) share it.
    ``members`` have ``name``, ``prime``, ``enabled`` and the ``unique`` fields (``None``
    values are not compared)."""
    problems = []
    if not members:
        problems.append("members is empty; list at least one member, one of them the prime")
    primes = [m.name for m in members if m.prime]
    if members and len(primes) != 1:
        problems.append(
            "exactly one member must be the prime (prime: true); "
            + (f"found {len(primes)}: {', '.join(primes)}" if primes else "found none")
        )
    for what in unique:
        seen: dict[str, int] = {}
        for member in members:
            value = getattr(member, what)
            if value is not None:
                seen[value] = seen.get(value, 0) + 1
        twice = sorted(v for v, n in seen.items() if n > 1)
        if twice:
            problems.append(f"member {what}s must differ; given more than once: "
                            + ", ".join(twice))
    if any(m.prime and not m.enabled for m in members):
        problems.append("the prime serves the front door's pages and cannot be disabled; "
                        "make another member the prime first")
    return problems


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after", "function-before") and not part.startswith("["):
            out += f".{part}" if out else str(part)
    return out


def describe(error: ValidationError) -> list[str]:
    """One line per problem: where (``members[1].url``) and what, in our words."""
    lines = []
    for item in error.errors():
        where = _where(tuple(item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (remove it or fix its spelling)"
        elif item["type"] == "missing":
            message = "is required"
        lines.append(f"{where}: {message}" if where else message)
    return lines


def parse_config(raw: Any, source: str = "the configuration") -> FederationConfig:
    """Validate a parsed document; a :class:`FederationConfigError` naming ``source``."""
    if not isinstance(raw, Mapping):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise FederationConfigError(
            f"{source}: the document is {kind}; it must be a mapping with a 'members' list"
        )
    try:
        return FederationConfig.model_validate(dict(raw))
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in describe(exc))
        raise FederationConfigError(f"{source} is not a valid federation configuration:\n"
                                    f"{lines}") from None


def load_config_text(text: str, source: str) -> FederationConfig:
    """Validate a JSON document given as text (``$FEDERATION_CONFIG_JSON`` on Cloud Run)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FederationConfigError(f"{source}: not valid JSON: {exc}") from None
    return parse_config(raw, source)


def load_config(path: Path) -> FederationConfig:
    """Read ``path`` (JSON, or YAML) and validate it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise FederationConfigError(
            f"{path}: cannot be read ({exc.strerror}); give the configuration with --config"
        ) from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise FederationConfigError(f"{path}: not valid {path.suffix[1:] or 'YAML'}: "
                                    f"{str(exc).splitlines()[0]}") from None
    return parse_config(raw, str(path))


def render(config: FederationConfig) -> str:
    """The document as the service reads it (JSON, camelCase keys, stable order)."""
    return json.dumps(config.model_dump(by_alias=True, mode="json"), indent=2, sort_keys=True)
