"""Issue 22, item 1: BinderHub's credentials at GitHub and GitLab, and the plan's warning for
a public Binder without a GitHub token (components/releases/repo_providers.py)."""

from __future__ import annotations

import re

import pulumi
import pytest

from components.catalog import charts
from components.releases.repo_providers import (
    ANONYMOUS_GITHUB_LIMIT,
    github_token_warning,
    repo_provider_secret_values,
)
from components.secrets.deployment import RepoProviderCredentials
from components.secrets.document import SLOTS, parse_document
from components.secrets.sops import SecretsError
from tests.chart_data import chart_dir
from tests.release_fixtures import RELEASE, config, user_values
from tools.mockrun import is_secret, plaintext_leaks, run_stack

TOKENS = {
    "githubAccessToken": "test-github-token-5e0c1",
    "githubClientId": "test-github-client-id-77a",
    "githubClientSecret": "test-github-client-secret-9b2",
    "gitlabToken": "test-gitlab-token-04d6",
}


def test_a_secrets_file_takes_the_repository_provider_credentials():
    values = parse_document("s.yaml", {"repoProviders": dict(TOKENS)})
    assert values == {("repoProviders", key): value for key, value in TOKENS.items()}
    slots = {s.config_key: s for s in SLOTS}
    assert {key: slots[key].section for key in TOKENS} == dict.fromkeys(TOKENS, "repoProviders")


def test_an_unknown_repository_provider_key_is_refused_by_name():
    with pytest.raises(SecretsError, match=r"repoProviders\.githubToken: unknown key") as info:
        parse_document("s.yaml", {"repoProviders": {"githubToken": "x"}})
    assert "githubAccessToken" in str(info.value)


def _binderhub_release(rec):
    [release] = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "binderhub"]
    return release


def test_credentials_reach_binderhubs_providers_as_secrets():
    rec = run_stack("ebi", secrets=TOKENS)
    release = _binderhub_release(rec)
    config_values = user_values(release)["config"]
    assert config_values["GitHubRepoProvider"] == {
        "access_token": TOKENS["githubAccessToken"],
        "client_id": TOKENS["githubClientId"],
        "client_secret": TOKENS["githubClientSecret"],
    }
    assert config_values["GitLabRepoProvider"] == {"private_token": TOKENS["gitlabToken"]}
    github = release.wire["values"]["config"]["GitHubRepoProvider"]
    assert all(is_secret(github[key]) for key in github)
    needles = list(TOKENS.values())
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, needles)) == [], resource.name
    assert not [line for line in rec.logs if list(plaintext_leaks(line, needles))]
    # With a token, no warning about the anonymous limit.
    assert not [line for line in rec.logs if "requests an hour" in line]


def test_the_chart_keeps_binderhubs_config_in_a_secret():
    """The credentials sit under ``config:``, which the chart writes into the Secret
    ``binder-secret`` (templates/secret.yaml), never a ConfigMap."""
    template = (chart_dir(charts.BINDERHUB) / "templates" / "secret.yaml").read_text()
    assert "kind: Secret" in template
    assert re.search(r'pick \.Values "config"', template)
    for path in (chart_dir(charts.BINDERHUB) / "templates").rglob("*.yaml"):
        text = path.read_text()
        if "kind: ConfigMap" in text:
            assert ".Values.config" not in text, path


def test_an_oauth_app_needs_both_halves():
    with pytest.raises(SecretsError, match="GitHub OAuth app is incomplete") as info:
        run_stack("ebi", secrets={"githubClientId": TOKENS["githubClientId"]})
    message = str(info.value)
    assert "repoProviders.githubClientSecret" in message
    assert TOKENS["githubClientId"] not in message


def test_a_public_stack_without_a_github_token_is_warned_of_the_limit():
    rec = run_stack("ebi")
    [warning] = [line for line in rec.logs if "requests an hour" in line]
    assert warning.startswith("warn")
    assert f"at {ANONYMOUS_GITHUB_LIMIT} requests an hour" in warning
    assert "binder:githubAccessToken" in warning
    # Nothing is sent for a provider without credentials.
    assert "GitHubRepoProvider" not in user_values(_binderhub_release(rec))["config"]


def test_an_authenticated_hub_is_not_warned():
    hub = config(
        binderhub={
            "host": "b.example.org",
            "hubHost": "h.example.org",
            "auth": {"type": "github", "allowAll": True},
        }
    ).binderhub
    assert hub is not None
    assert github_token_warning(hub, has_github=False) is None
    public = config().binderhub
    assert public is not None
    assert github_token_warning(public, has_github=True) is None
    assert github_token_warning(public, has_github=False)


def test_an_oauth_app_alone_counts_as_credentials():
    s = pulumi.Output.secret
    values = repo_provider_secret_values(
        RepoProviderCredentials(github_client_id=s("i"), github_client_secret=s("c"))
    )
    assert set(values["config"]["GitHubRepoProvider"]) == {"client_id", "client_secret"}
    assert repo_provider_secret_values(RepoProviderCredentials()) == {}
