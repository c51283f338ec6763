"""The federation stack's plan: its configuration and the cloud settings it needs, checked
before any resource (the federation stack's counterpart of :func:`components.plan.build_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config.base import ConfigError
from components.config.federation import (
    CloudRunFrontDoor,
    FederationConfig,
    FederationMember,
    FederationStackConfig,
    parse_federation_config,
)
from components.config.stack import _raw_project_config

#: The digest a new federation stack starts with, before the image workflow's first run.
PLACEHOLDER_DIGEST = "@sha256:" + "0" * 64


def is_federation_stack() -> bool:
    """Whether the current stack is a federation stack (it sets ``binder:federation``)."""
    return pulumi.Config("binder").get("federation") is not None


def load_federation_config() -> FederationStackConfig:
    """The current federation stack's ``binder:`` configuration, validated; a stack that
    sets ``binder:cluster`` too is refused (a federation stack deploys no BinderHub)."""
    raw = _raw_project_config()
    stack = pulumi.get_stack()
    # Pulumi.yaml's default for every stack (the CLI applies it): a federation stack has no
    # secrets files, so the empty default is no setting of its own.
    if raw.get("secretsFiles") == []:
        del raw["secretsFiles"]
    if "cluster" in raw:
        raise ConfigError(
            f"Invalid federation stack configuration (Pulumi.{stack}.yaml):\n  binder:cluster "
            "and binder:federation are both set; a federation stack only runs the front door "
            "(its members are other stacks): remove one of them")
    return parse_federation_config(raw, stack)


@dataclass(frozen=True)
class FederationPlan:
    """Everything the federation stack builds from, validated."""

    stack: str
    config: FederationConfig
    organization: str
    """Where the member stacks are (``organization`` on a self-managed backend)."""
    project: str
    gcp_project: str | None = None
    """Cloud Run: the project (``gcp:project``)."""

    def stack_reference(self, member: FederationMember) -> str:
        """The fully qualified name of a member stack: ``<org>/<project>/<stack>``.
        https://www.pulumi.com/docs/iac/concepts/stacks/#stackreferences"""
        assert member.stack is not None  # noqa: S101 (FederationMember's own validator)
        parts = member.stack.split("/")
        if len(parts) == 1:
            return f"{self.organization}/{self.project}/{parts[0]}"
        if len(parts) == 2:
            return f"{self.organization}/{parts[0]}/{parts[1]}"
        return member.stack


def build_federation_plan(stack: str | None = None) -> FederationPlan:
    """The current federation stack's plan, or the ConfigError that stops it."""
    stack = stack or pulumi.get_stack()
    cfg = load_federation_config().federation
    gcp_project = None
    if isinstance(cfg.front_door, CloudRunFrontDoor):
        gcp_project = pulumi.Config("gcp").get("project")
        if not gcp_project:
            raise ConfigError(
                f"gcp:project is not set in Pulumi.{stack}.yaml; the Cloud Run front door "
                "needs the Google Cloud project it runs in (pulumi config set gcp:project "
                "<project-id>)")
    if PLACEHOLDER_DIGEST in cfg.image:
        pulumi.log.warn(
            f"binder:federation.image is the placeholder digest of Pulumi.{stack}.yaml: set it "
            "to the digest .github/workflows/federation-image.yml printed (the front door "
            "cannot start without a real image)")
    return FederationPlan(stack=stack, config=cfg,
                          organization=pulumi.get_organization() or "organization",
                          project=pulumi.get_project(), gcp_project=gcp_project)
