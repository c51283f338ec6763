"""Bans (issue 22, item 4): client networks refused by BinderHub, and repository bans checked
against each provider's spec format.

**Client networks** (``limits.bannedNetworks``) become ``BinderHub.ban_networks`` (binderhub
``app.py`` L757-775 @ b9fad995): every BinderHub handler but the health check answers 403
to a request whose ``remote_ip`` lies in one (``base.py`` ``check_request_ip``). BinderHub's
HTTP server runs with ``xheaders=True`` (``app.py`` ``start``), so ``remote_ip`` is the
``X-Real-Ip`` Traefik sets, and Traefik takes the client's address from the connection (GKE:
``externalTrafficPolicy: Local`` keeps it) or, on ``ebi``, from the PROXY protocol header
Octavia sends, trusted only from the nodes' subnet. Traefik replaces any ``X-Forwarded-*``
or ``X-Real-Ip`` a client sends itself, because ``forwardedHeaders`` trusts nobody
(https://doc.traefik.io/traefik/routing/entrypoints/#forwarded-headers). So the ban is
BinderHub's, on every stack: a NetworkPolicy in front of Traefik, mybinder.org's
``netpol-ingress.yaml``, cannot work on ``ebi``, where every connection comes from the
Octavia amphora (and, with ``externalTrafficPolicy: Cluster``, through another node).
BinderHub's ban stops launches and builds; a running server's URL stays reachable.

**Repository bans**: BinderHub matches ``banned_specs`` with ``re.match(pattern, spec,
re.IGNORECASE)`` against the provider's *spec* (repoproviders.py ``is_banned``), and the specs
differ: ``owner/repo/ref`` on GitHub, but ``<url-escaped namespace>/<ref>`` on GitLab
(``group%2Fproject/ref``, ``GitLabRepoProvider``) and ``<url-escaped URL>/<ref>`` for Git
(``https%3A%2F%2Fexample.org%2Frepo/ref``, ``GitRepoProvider``). mybinder.org learnt it when
GitLab bans written as ``owner/repo`` matched nothing (mybinder.org-deploy #2124, #2126).
The plan refuses a GitLab or Git ban that is not escaped and warns about a ban for every
provider (``limits.bannedSpecs``) that is written the GitHub way.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from components.config.service import LaunchLimits

_META = set(".^$*+?{}[]()|\\")


def literal_prefix(pattern: str) -> str:
    """The literal text every spec matching ``pattern`` starts with (``re.match``)."""
    text = pattern[1:] if pattern.startswith("^") else pattern
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            out.append(text[i + 1])
            i += 2
            continue
        if char in _META:
            # A quantifier makes the character before it optional.
            if char in "*?{" and out:
                out.pop()
            break
        out.append(char)
        i += 1
    return "".join(out)


def _github_shaped(prefix: str) -> bool:
    """``owner/...`` with an unescaped slash inside the repository's name."""
    head, slash, _ = prefix.partition("/")
    return bool(slash) and bool(head) and not re.search(r"%2f|%3a", head, re.IGNORECASE)


def _gitlab_suggestion(pattern: str) -> str:
    return pattern.replace("/", "%2F", 1)


def spec_format_findings(limits: LaunchLimits) -> tuple[list[str], list[str]]:
    """``(problems, warnings)`` of the repository patterns against the providers' specs."""
    problems: list[str] = []
    warnings: list[str] = []
    by_provider = limits.banned_specs_by_provider
    for index, pattern in enumerate(by_provider.get("GitLabRepoProvider", [])):
        if _github_shaped(literal_prefix(pattern)):
            problems.append(
                f"  binder:binderhub.limits.bannedSpecsByProvider.GitLabRepoProvider[{index}] "
                f"'{pattern}' can never match: a GitLab spec is the URL-escaped project path, "
                "then the ref (group%2Fproject/main); write "
                f"'{_gitlab_suggestion(pattern)}'"
            )
    for index, pattern in enumerate(by_provider.get("GitRepoProvider", [])):
        prefix = literal_prefix(pattern)
        if "://" in prefix or _github_shaped(prefix):
            url = prefix.split("/")[0] if "://" not in prefix else prefix
            problems.append(
                f"  binder:binderhub.limits.bannedSpecsByProvider.GitRepoProvider[{index}] "
                f"'{pattern}' can never match: a Git spec is the URL-escaped repository URL, "
                "then the ref (https%3A%2F%2Fexample.org%2Frepo.git/main); write it "
                f"escaped, e.g. '^{re.escape(quote(url, safe=''))}'"
            )
    everywhere = [
        *(("bannedSpecs", i, p) for i, p in enumerate(limits.banned_specs)),
        *(("highQuotaSpecs", i, p) for i, p in enumerate(limits.high_quota_specs)),
        *(("quotaRaises", i, r.pattern) for i, r in enumerate(limits.quota_raises)),
    ]
    for setting, index, pattern in everywhere:
        if _github_shaped(literal_prefix(pattern)):
            warnings.append(
                f"binder:binderhub.limits.{setting}[{index}] '{pattern}' applies to every "
                "provider but only matches GitHub-style specs (owner/repo/ref): GitLab and Git "
                "specs are URL-escaped. For the same names on GitLab add "
                f"'{_gitlab_suggestion(pattern)}' under "
                "limits.bannedSpecsByProvider.GitLabRepoProvider (or move this pattern under "
                "GitHubRepoProvider to say it is meant for GitHub)"
                if setting == "bannedSpecs"
                else f"binder:binderhub.limits.{setting}[{index}] '{pattern}' only matches "
                "GitHub-style specs (owner/repo/ref); on GitLab write "
                f"'{_gitlab_suggestion(pattern)}' (URL-escaped) as a separate entry"
            )
    return problems, warnings


def ban_values(limits: LaunchLimits) -> dict[str, Any]:
    """The binderhub chart's ``config:`` for the client-network ban and the per-provider
    repository bans. A provider's own ``banned_specs`` replaces (traitlets) the one set on
    ``RepoProvider``, so each list repeats the bans for every provider."""
    config: dict[str, Any] = {}
    if limits.banned_networks:
        config["BinderHub"] = {"ban_networks": dict(limits.banned_networks)}
    for provider, patterns in sorted(limits.banned_specs_by_provider.items()):
        config[provider] = {"banned_specs": [*limits.banned_specs, *patterns]}
    return {"config": config} if config else {}
