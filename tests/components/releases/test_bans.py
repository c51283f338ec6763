"""Issue 22, item 4: client-network bans and repository bans in each provider's spec format
(components/releases/bans.py)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from components.config.base import ConfigError
from components.config.public import REPO_PROVIDERS
from components.releases.bans import ban_values, literal_prefix, spec_format_findings
from components.releases.plan import plan_releases
from tests.release_fixtures import config
from tools.mockrun import run_program


def _plan(**limits: Any) -> Any:
    hub = {"host": "binder.example.org", "hubHost": "hub.example.org", "limits": limits}
    return plan_releases(config(binderhub=hub), "gcp")


def _gitlab_spec(path: str, ref: str = "main") -> str:
    # GitLabRepoProvider: quote(namespace, safe="") + "/" + ref (binderhub repoproviders.py).
    return f"{quote(path, safe='')}/{ref}"


def _git_spec(url: str, ref: str = "main") -> str:
    # GitRepoProvider: the URL-escaped repository URL, then the ref.
    return f"{quote(url, safe='')}/{ref}"


def _matches(pattern: str, spec: str) -> bool:
    return re.match(pattern, spec, re.IGNORECASE) is not None  # as RepoProvider.is_banned


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("^evil-org/.*", "evil-org/"),
        ("^evil-org/miner.*", "evil-org/miner"),
        ("^evil-org/miner*", "evil-org/mine"),
        (r"^evil\.org%2Fminer/.*", "evil.org%2Fminer/"),
        ("^(a|b)/.*", ""),
        ("evil/x", "evil/x"),
    ],
)
def test_the_literal_prefix_is_what_every_match_starts_with(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


def test_a_gitlab_ban_written_the_github_way_is_refused_with_the_escaped_form() -> None:
    with pytest.raises(ConfigError) as info:
        _plan(bannedSpecsByProvider={"GitLabRepoProvider": ["^evil-org/miner.*"]})
    message = str(info.value)
    assert "binder:binderhub.limits.bannedSpecsByProvider.GitLabRepoProvider[0]" in message
    assert "can never match" in message
    [suggestion] = re.findall(r"write '([^']+)'", message)
    spec = _gitlab_spec("evil-org/miner-project")
    assert not _matches("^evil-org/miner.*", spec)  # the reason for the check
    assert _matches(suggestion, spec)
    assert not _matches(suggestion, _gitlab_spec("good-org/miner"))


def test_an_escaped_gitlab_ban_is_accepted_and_matches() -> None:
    plan = _plan(bannedSpecsByProvider={"GitLabRepoProvider": ["^evil-org%2F.*"]})
    patterns = ban_values(plan.binderhub.limits)["config"]["GitLabRepoProvider"]["banned_specs"]
    assert patterns == ["^evil-org%2F.*"]
    assert _matches(patterns[0], _gitlab_spec("evil-org/sub/group/repo", "HEAD"))


def test_a_git_ban_with_a_plain_url_is_refused_with_the_escaped_form() -> None:
    with pytest.raises(ConfigError) as info:
        _plan(bannedSpecsByProvider={"GitRepoProvider": ["^https://git.example.org/evil"]})
    message = str(info.value)
    assert "bannedSpecsByProvider.GitRepoProvider[0]" in message
    [suggestion] = re.findall(r"e\.g\. '([^']+)'", message)
    spec = _git_spec("https://git.example.org/evil/miner.git")
    assert _matches(suggestion, spec)
    assert not _matches("^https://git.example.org/evil", spec)


def test_a_ban_for_every_provider_written_the_github_way_is_warned() -> None:
    rec = run_program(lambda: _plan(bannedSpecs=["^evil-org/.*", r"^https%3A%2F%2Fx\.org.*"]))
    [warning] = [line for line in rec.logs if "bannedSpecs[" in line]
    assert warning.startswith("warn")
    assert "binder:binderhub.limits.bannedSpecs[0] '^evil-org/.*'" in warning
    assert "'^evil-org%2F.*'" in warning


def test_provider_lists_repeat_the_common_bans() -> None:
    """A provider's own banned_specs replaces RepoProvider's (traitlets), so its list carries
    both."""
    plan = _plan(
        bannedSpecs=["^spam/.*"],
        bannedSpecsByProvider={"GitLabRepoProvider": ["^evil%2F.*"]},
    )
    config_values = ban_values(plan.binderhub.limits)["config"]
    assert config_values["GitLabRepoProvider"]["banned_specs"] == ["^spam/.*", "^evil%2F.*"]
    assert "GitHubRepoProvider" not in config_values


def test_an_unknown_provider_is_refused_with_the_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        _plan(bannedSpecsByProvider={"GitLab": ["^x%2F.*"]})
    message = str(info.value)
    assert "binder:binderhub.limits.bannedSpecsByProvider" in message
    assert "unknown provider GitLab" in message
    assert all(name in message for name in REPO_PROVIDERS)


def test_banned_networks_become_binderhubs_ban_networks() -> None:
    plan = _plan(bannedNetworks={"192.0.2.0/24": "abuse", "2001:DB8::/32": "abuse v6"})
    assert ban_values(plan.binderhub.limits)["config"]["BinderHub"] == {
        "ban_networks": {"192.0.2.0/24": "abuse", "2001:db8::/32": "abuse v6"}
    }


@pytest.mark.parametrize(
    ("networks", "words"),
    [
        ({"192.0.2.7/24": "x"}, "is not a network in CIDR notation"),
        ({"192.0.2.0/24": " "}, "give a label"),
    ],
)
def test_a_bad_banned_network_is_refused_by_name(networks: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        _plan(bannedNetworks=networks)
    assert "binder:binderhub.limits.bannedNetworks" in str(info.value)
    assert words in str(info.value)


def test_no_bans_no_values() -> None:
    assert ban_values(_plan().binderhub.limits) == {}
    assert spec_format_findings(_plan().binderhub.limits) == ([], [])
