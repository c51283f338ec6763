"""The members of the federation, and the redirector's configuration they make.

A member with ``stack`` is read through a ``pulumi.StackReference``
(https://www.pulumi.com/docs/iac/concepts/stacks/#stackreferences): its ``binder_url``, and
what the member stack exports for the federation (:func:`components.federation.member.
export_membership`): ``versions`` (its chart pins), ``launch_quota``,
``federation_front_door``. A partner's BinderHub is given by ``url``.

When the outputs are known (``pulumi preview``/``up`` read them from the member stacks'
state), each member is compared with the prime, and each difference is a warning naming both
sides: chart pins (the redirector would also keep a member with other versions out of
rotation, at run time), a missing quota, a member that points at another front door. A member
stack without ``binder_url`` (not deployed yet) stops the run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pulumi

from components.config.base import ConfigError
from components.config.federation import FederationConfig as StackFederationConfig
from components.federation.plan import FederationPlan
from federation.config import parse_config, render


@dataclass(frozen=True)
class FederationMembersArgs:
    """Inputs of :class:`FederationMembers`."""

    plan: FederationPlan


def redirector_document(cfg: StackFederationConfig, urls: dict[str, str]) -> str:
    """The redirector's configuration (JSON), validated by the service's own models."""
    raw = {
        "members": [{"name": m.name, "url": urls[m.name], "weight": m.weight,
                     "prime": m.prime, "enabled": m.enabled} for m in cfg.members],
        "choice": cfg.choice,
        "checks": cfg.checks.model_dump(by_alias=True),
        "cookie": cfg.cookie.model_dump(by_alias=True),
        "publicUrl": cfg.url,
    }
    return render(parse_config(raw, "the rendered federation configuration"))


def membership_warnings(cfg: StackFederationConfig, outputs: dict[str, dict[str, Any]]
                        ) -> list[str]:
    """What differs between each member stack and the prime, or from what membership needs:
    one sentence per problem, naming both sides. ``outputs``: member name -> its stack
    outputs (members with ``stack`` only)."""
    warnings = []
    prime = cfg.members[[m.prime for m in cfg.members].index(True)]
    reference = outputs.get(prime.name, {}).get("versions") or {}
    for member in cfg.members:
        if member.name not in outputs or not member.enabled:
            continue
        got = outputs[member.name]
        versions = got.get("versions") or {}
        if member.name != prime.name and reference:
            for chart in sorted(set(reference) | set(versions)):
                if versions.get(chart) != reference.get(chart):
                    warnings.append(
                        f"member {member.name} pins the {chart} chart at "
                        f"{versions.get(chart, 'nothing')}, the prime {prime.name} at "
                        f"{reference.get(chart, 'nothing')}: the front door keeps it out of "
                        "rotation (version_mismatch) until both run the same version")
        if got.get("launch_quota") is None:
            warnings.append(
                f"member {member.name} sets no launch quota: the front door keeps it out of "
                "rotation (no_quota); set binder:binderhub.limits.totalPods in its stack")
        front_door = got.get("federation_front_door")
        if front_door != cfg.url:
            warnings.append(
                f"member {member.name} points its badges and launch links at "
                f"{front_door or 'itself'}, not at this front door: set "
                f"binder:binderhub.federation.frontDoor: {cfg.url} in its stack")
    return warnings


class FederationMembers(pulumi.ComponentResource):
    """One StackReference per member stack; the members' URLs and the redirector's
    configuration."""

    references: dict[str, pulumi.StackReference]
    urls: dict[str, pulumi.Output[str]]
    document: pulumi.Output[str]

    def __init__(self, name: str, args: FederationMembersArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("binder:federation:FederationMembers", name, None, opts)
        plan, cfg = args.plan, args.plan.config
        child = pulumi.ResourceOptions(parent=self)
        self.references = {}
        self.urls = {}
        for member in cfg.members:
            if member.stack is None:
                self.urls[member.name] = pulumi.Output.from_input(member.url or "")
                continue
            qualified = plan.stack_reference(member)
            reference = pulumi.StackReference(f"{name}-{member.name}", stack_name=qualified,
                                              opts=child)
            self.references[member.name] = reference
            self.urls[member.name] = reference.get_output("binder_url").apply(
                functools.partial(_required_url, member=member.name, reference=qualified))
        exported = {member: pulumi.Output.all(*(ref.get_output(key) for key in _READ)).apply(
                        _named) for member, ref in self.references.items()}
        pulumi.Output.all(**exported).apply(lambda outputs: self._warn(cfg, outputs))
        self.document = pulumi.Output.all(**self.urls).apply(
            lambda urls: redirector_document(cfg, urls))
        self.register_outputs({"urls": self.urls})

    def _warn(self, cfg: StackFederationConfig, outputs: dict[str, dict[str, Any]]) -> None:
        for warning in membership_warnings(cfg, outputs):
            pulumi.log.warn(warning, resource=self)

    def output(self, member: str, key: str) -> pulumi.Output[Any]:
        """An output of a member stack (secret if the member stack keeps it secret)."""
        return self.references[member].get_output(key)


#: The member stacks' outputs compared across the federation.
_READ = ("versions", "launch_quota", "federation_front_door")


def _named(values: list[Any]) -> dict[str, Any]:
    return dict(zip(_READ, values, strict=True))


def _required_url(url: Any, *, member: str, reference: str) -> str:
    if not isinstance(url, str) or not url:
        raise ConfigError(
            f"member {member}: the stack {reference} has no binder_url output; deploy it "
            "first (make up STACK=...), or give the member's url instead of its stack")
    return url
