"""Federation settings, with no mocks: a member's ``binder:binderhub.federation`` and the
federation stack's ``binder:federation``; every bad input gives one clear message naming the
setting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config.base import ConfigError
from components.config.federation import (
    CloudRunFrontDoor,
    FederationMembership,
    parse_federation_config,
)
from components.config.stack import parse_config
from components.releases.federation_member import membership_values
from tests.components.config.test_stack import stack_binder_config, with_change

DIGEST = "ghcr.io/bioexcel/binder-federation@sha256:" + "ab" * 32


def federation(**changes: Any) -> dict[str, Any]:
    """The committed federation stack's ``binder:`` keys, with ``binder:federation`` keys
    replaced (``None`` deletes one)."""
    raw = copy.deepcopy(stack_binder_config("federation"))
    for key, value in changes.items():
        if value is None:
            raw["federation"].pop(key, None)
        else:
            raw["federation"][key] = value
    return raw


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_federation_config(raw, "federation")
    message = str(caught.value)
    assert message.startswith("Invalid federation stack configuration (Pulumi.federation.yaml)")
    assert "Traceback" not in message
    return message


def test_the_committed_federation_stack() -> None:
    cfg = parse_federation_config(stack_binder_config("federation"), "federation").federation
    assert cfg.host == "binder.example.org"
    assert cfg.url == "https://binder.example.org"
    assert isinstance(cfg.front_door, CloudRunFrontDoor)
    assert cfg.front_door.min_instances >= 1  # a warm instance keeps the health loops running
    assert [(m.name, m.stack, m.weight, m.prime) for m in cfg.members] == [
        ("gcp", "gcp", 2.0, True), ("ebi", "ebi", 1.0, False)]
    assert cfg.choice == "rendezvous"


def test_a_partner_joins_by_url() -> None:
    members = [*stack_binder_config("federation")["federation"]["members"],
               {"name": "partner", "url": "https://binder.partner.example.org/", "weight": 0.5}]
    cfg = parse_federation_config(federation(members=members)).federation
    partner = cfg.members[-1]
    assert (partner.url, partner.stack, partner.enabled) == (
        "https://binder.partner.example.org", None, True)


@pytest.mark.parametrize(("members", "expected"), [
    ([], "members is empty"),
    ([None], "entry 0 is empty (null)"),
    ([{"name": "a", "stack": "a"}], "exactly one member must be the prime"),
    ([{"name": "a", "stack": "a", "prime": True}, {"name": "b", "stack": "b", "prime": True}],
     "exactly one member must be the prime (prime: true); found 2: a, b"),
    ([{"name": "a", "stack": "a", "prime": True}, {"name": "a", "url": "https://x.example.org"}],
     "member names must differ; given more than once: a"),
    ([{"name": "a", "stack": "a", "url": "https://a.example.org", "prime": True}],
     "give either stack"),
    ([{"name": "a", "prime": True}], "give either stack"),
    ([{"name": "a", "stack": "a", "prime": True, "enabled": False}],
     "cannot be disabled; make another member the prime first"),
    ([{"name": "a", "stack": "gcp", "prime": True}, {"name": "b", "stack": "gcp"}],
     "member stacks must differ; given more than once: gcp"),
    ([{"name": "a", "stack": "a", "prime": True, "weight": -1}], "weight: must be at least 0"),
    ([{"name": "a", "url": "https://a.example.org/hub", "prime": True}], "without a path"),
    ([{"name": "Bad_Name", "stack": "a", "prime": True}], "members[0].name"),
])
def test_bad_member_lists_are_refused(members: list[Any], expected: str) -> None:
    message = refused(federation(members=members))
    assert expected in message
    assert "binder:federation" in message


def test_the_image_must_be_pinned_by_digest() -> None:
    message = refused(federation(image="ghcr.io/bioexcel/binder-federation:latest"))
    assert "binder:federation.image: must name the image by digest" in message
    assert parse_federation_config(federation(image=DIGEST)).federation.image == DIGEST


def test_front_door_settings_are_checked() -> None:
    assert "minInstances (5) is greater than maxInstances (2)" in refused(federation(
        frontDoor={"platform": "cloudRun", "region": "europe-west1", "minInstances": 5,
                   "maxInstances": 2}))
    assert "cloudDns" in refused(federation(frontDoor={
        "platform": "cloudRun", "region": "europe-west1",
        "dns": {"zone": "z", "service": "designate"}}))
    assert "frontDoor.platform: 'heroku' is not a platform" in refused(
        federation(frontDoor={"platform": "heroku"}))
    assert "frontDoor: has no `platform`" in refused(federation(frontDoor={"region": "x"}))
    assert "host" in refused(federation(host="not a host"))


def test_a_front_door_on_a_member_cluster_names_a_member_stack() -> None:
    members = [{"name": "gcp", "stack": "gcp", "prime": True},
               {"name": "partner", "url": "https://binder.partner.example.org"}]
    ok = parse_federation_config(federation(
        members=members, frontDoor={"platform": "memberCluster", "member": "gcp"})).federation
    assert ok.front_door.platform == "memberCluster"
    for member in ("partner", "nobody"):
        message = refused(federation(
            members=members, frontDoor={"platform": "memberCluster", "member": member}))
        assert f"frontDoor.member '{member}' must name an enabled member with `stack`" in message


def test_unknown_keys_are_refused() -> None:
    assert "binder:federation.hots" in refused(federation(hots="x"))


# --- a member stack: binder:binderhub.federation ----------------------------------------


@pytest.mark.parametrize("stack", ["ebi", "gcp"])
def test_the_committed_members_point_at_the_front_door(stack: str) -> None:
    hub = parse_config(stack_binder_config(stack), stack).binderhub
    assert hub is not None
    assert hub.federation is not None
    assert hub.federation.front_door == "https://binder.example.org"
    # Its quota, given (ebi) or derived by the plan (gcp): test_federation_member.py.


def test_a_members_quota_may_be_left_to_the_plan() -> None:
    """The configuration accepts a member without limits.totalPods: the plan derives the
    quota from the user pool where it can and refuses the member where it cannot
    (tests/components/releases/test_federation_member.py)."""
    raw = copy.deepcopy(stack_binder_config("ebi"))
    raw["binderhub"]["limits"].pop("totalPods")
    assert parse_config(raw, "ebi").binderhub is not None
    raw["binderhub"].pop("federation")
    hub = parse_config(raw, "ebi").binderhub
    assert hub is not None
    assert hub.limits.total_pods is None


@pytest.mark.parametrize(("url", "expected"), [
    ("binder.example.org", "front door's URL"),
    ("https://binder.example.org/v2", "without a path"),
    ("https://binder.example.org/?x=1", "without a path"),
    ("ftp://binder.example.org", "front door's URL"),
])
def test_a_bad_front_door_url_is_refused(url: str, expected: str) -> None:
    raw = with_change("ebi", "binderhub.federation.frontDoor", url)
    with pytest.raises(ConfigError, match=r"binderhub\.federation\.frontDoor") as caught:
        parse_config(raw, "ebi")
    assert expected in str(caught.value)


def test_membership_values() -> None:
    """BinderHub's settings of a member (components/releases/federation_member.py cites them):
    badges and launch links name the front door, events its host; only it may call the API."""
    assert membership_values(None) == {}
    values = membership_values(FederationMembership(front_door="https://binder.example.org/"))
    assert values == {"config": {"BinderHub": {
        "badge_base_url": "https://binder.example.org/",
        "normalized_origin": "binder.example.org",
        "cors_allow_origin": "https://binder.example.org",
    }}}
