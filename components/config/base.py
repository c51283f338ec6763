"""Shared pieces of the stack configuration: the error type, the model base and the
Kubernetes-flavoured checks (quantities, label keys and values) every section uses.

Each section of ``binder:`` is modelled in the module of the capability it configures
(:mod:`components.config.cluster`, :mod:`components.config.access`,
:mod:`components.config.releases`); :mod:`components.config.stack` puts them together and
loads them. Every model is frozen and forbids unknown keys, so a typo is an error that names
the key; errors are :class:`ConfigError`, a :class:`pulumi.RunError`, so the CLI prints them
without a traceback.

Docs: https://www.pulumi.com/docs/iac/concepts/config/ (structured configuration).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

import pulumi
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel

PROJECT = "binder"


class ConfigError(pulumi.RunError):
    """A configuration problem, reported to the user without a Python traceback."""


class Model(BaseModel):
    """Base for every config model: frozen, camelCase keys, unknown keys are errors."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        # Never echo input values in messages: a mistyped secret must not reach a log.
        hide_input_in_errors=True,
    )


# --------------------------------------------------------------------------------------
# Kubernetes-flavoured primitives
# --------------------------------------------------------------------------------------

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]

#: A Kubernetes quantity ("500m", "2", "4Gi", "1e3"), as the API server's openapi spec has it.
#: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
QUANTITY = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: Label names and values; prefixes are DNS subdomains.
#: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
#: Namespaces that every cluster already has: creating one would fail, and managing it from


def quantity_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return str(value) if isinstance(value, int | float) else value


def quantity_problem(value: str) -> str:
    return f"'{value}' is not a Kubernetes quantity; write it like '500m', '2', '512Mi' or '4Gi'"


def _checked_quantity(value: Any) -> Any:
    value = quantity_text(value)
    if isinstance(value, str) and not QUANTITY.match(value):
        raise ValueError(quantity_problem(value))
    return value


#: A field holding one Kubernetes quantity; a number is read as its text (``2`` -> ``"2"``).
Quantity = Annotated[str, BeforeValidator(_checked_quantity)]


def label_problems(key: str, value: str, check_value: bool) -> list[str]:
    """What is wrong with a label (or annotation) key and value; empty if nothing."""
    problems = []
    prefix, slash, name = key.rpartition("/")
    if (slash and not DNS_SUBDOMAIN.match(prefix)) or not LABEL_NAME.match(name):
        problems.append(
            "not a valid key: use an optional DNS-subdomain prefix and '/', then at most 63 "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    if check_value and value and not LABEL_NAME.match(value):
        problems.append(
            "label value must be at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit"
        )
    return problems


def config_errors(title: str, problems: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """A ValidationError whose errors point at the exact keys (``users[2].role``).

    A plain ``ValueError`` from a model validator is reported at the model's own location;
    these keep the key path, which :func:`format_validation_error` prints as
    ``binder:users[2].role``.
    """
    from pydantic_core import InitErrorDetails, PydanticCustomError

    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                # The message goes in as context, never as a format template.
                type=PydanticCustomError("binder_config", "{message}", {"message": message}),
                loc=loc,
                input=None,
            )
            for loc, message in problems
        ],
    )


# --------------------------------------------------------------------------------------
# Host names
# --------------------------------------------------------------------------------------

#: One label of a DNS name (RFC 1123 section 2.1, lowercase as Kubernetes requires).
_HOST_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def host_name_problem(value: str, *, allow_ip: bool = False, port_in: str = "") -> str | None:
    """What is wrong with a public host name, in words; ``None`` if nothing.

    A host name is an RFC 1123 DNS name: lowercase labels of letters, digits and '-' (not at
    either end), at most 63 characters each and 253 in all, with no scheme, port, path or
    final dot. That is what Kubernetes accepts as an Ingress host, which must also not be an
    IP address (``validateIngressRules`` checks ``net.ParseIP`` and ``IsDNS1123Subdomain``:
    https://github.com/kubernetes/kubernetes/blob/v1.33.0/pkg/apis/networking/validation/validation.go);
    The Ingress API says the same of ``spec.rules[].host`` (no IP, no port, no final dot):
    https://kubernetes.io/docs/reference/kubernetes-api/service-resources/ingress-v1/#IngressSpec
    (tests/components/config/test_host_names.py pins it). ``allow_ip`` accepts an IP address,
    for hosts that are no Ingress host (the logging backend). ``port_in`` names the setting
    that holds the port, if there is one.
    """
    example = "such as 'binder.example.org'"
    bare = value
    if "://" in bare:
        scheme = bare.split("://", 1)[0]
        return f"must be a bare host name {example}, without the scheme '{scheme}://'"
    if "/" in bare:
        return f"must be a bare host name {example}, without a path (nothing from the '/' on)"
    try:
        ip = ipaddress.ip_address(bare.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        if allow_ip:
            return None
        stand_in = ""
        if ip.version == 4:
            stand_in = f" (a name such as 'binder.{ip}.nip.io' resolves to it)"
        return (
            f"must be a DNS name {example}, not an IP address: Kubernetes refuses an IP "
            f"address as an Ingress host{stand_in}"
        )
    if ":" in bare:
        where = f"; set it in {port_in}" if port_in else "; the ingress listens on 80 and 443"
        return f"must be a bare host name {example}, without a port{where}"
    if bare != bare.lower():
        return f"must be lowercase: write '{bare.lower()}'"
    if bare.endswith("."):
        return f"must not end with a '.': write '{bare.rstrip('.')}'"
    if not bare or len(bare) > 253:
        return f"must be a DNS name {example}, of 1 to 253 characters"
    for label in bare.split("."):
        if not _HOST_LABEL.match(label):
            if not label:
                return f"has an empty part ('..' or a leading '.'); write it {example}"
            if len(label) > 63:
                return f"has a part longer than 63 characters ('{label[:20]}...')"
            return (
                f"has a part '{label}' that is not a DNS label: use lowercase letters, digits "
                "and '-', starting and ending with a letter or digit"
            )
    return None
