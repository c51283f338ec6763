"""BinderHub's credentials at the repository providers (GitHub, GitLab), and the warning a
public Binder without a GitHub token gets.

Every launch of a GitHub repository asks GitHub's API to resolve its ref. Anonymous requests
are limited to 60 an hour per address, and a cluster behind NAT is one address; a token (or
an OAuth app's id and secret) raises that to 5,000 an hour
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
mybinder.org hit the anonymous limit in its first month
(https://github.com/jupyterhub/mybinder.org-deploy/issues/58) and GitHub's 429s again in 2026
(#3872).

The settings are BinderHub's own, read at the pinned chart's commit
(https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/repoproviders.py):
``GitHubRepoProvider.access_token`` (sent as ``Authorization: token ...``),
``client_id``/``client_secret`` (sent as basic auth) -- ``GistRepoProvider`` subclasses it,
so gists use them too -- and ``GitLabRepoProvider.private_token`` (GitLab's API parameter for
personal, group and project access tokens, also used as the clone credential). BinderHub
exports what GitHub reports left as the gauge ``binderhub_github_rate_limit_remaining``; the
alert ``BinderGitHubRateLimitLow`` watches it.

The binderhub chart keeps ``config:`` in the Secret ``binder-secret`` (templates/secret.yaml),
never in a ConfigMap, so the values below stay secret in the cluster as in Pulumi.
"""

from __future__ import annotations

from typing import Any

from components.config.releases import BinderHubConfig
from components.secrets.deployment import RepoProviderCredentials

#: GitHub's primary rate limit of unauthenticated REST requests, per hour and address.
ANONYMOUS_GITHUB_LIMIT = 60


def repo_provider_secret_values(creds: RepoProviderCredentials) -> dict[str, Any]:
    """Layer 4 of the BinderHub values: ``config.GitHubRepoProvider`` and
    ``config.GitLabRepoProvider`` with the credentials given; empty without any."""
    github: dict[str, Any] = {}
    if creds.github_access_token is not None:
        github["access_token"] = creds.github_access_token
    if creds.github_client_id is not None and creds.github_client_secret is not None:
        github["client_id"] = creds.github_client_id
        github["client_secret"] = creds.github_client_secret
    config: dict[str, Any] = {}
    if github:
        config["GitHubRepoProvider"] = github
    if creds.gitlab_token is not None:
        config["GitLabRepoProvider"] = {"private_token": creds.gitlab_token}
    return {"config": config} if config else {}


def has_github_credentials(creds: RepoProviderCredentials) -> bool:
    """Whether BinderHub authenticates to GitHub's API (a token, or an OAuth app)."""
    return creds.github_access_token is not None or (
        creds.github_client_id is not None and creds.github_client_secret is not None
    )


def github_token_warning(hub: BinderHubConfig, has_github: bool) -> str | None:
    """The plan's warning for a public (anonymous) Binder without GitHub credentials."""
    if has_github or hub.auth.enabled:
        return None
    return (
        f"binder:binderhub: no GitHub API credentials, so BinderHub ({hub.host}) resolves "
        f"GitHub refs anonymously, at {ANONYMOUS_GITHUB_LIMIT} requests an hour for the whole "
        "cluster (one NAT address): a public Binder runs out within minutes and launches "
        "fail. Give a GitHub token as `repoProviders.githubAccessToken` in a secrets file or "
        "`pulumi config set --secret binder:githubAccessToken` (or an OAuth app's "
        "githubClientId/githubClientSecret); see docs/secrets.md."
    )
