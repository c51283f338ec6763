"""Credentials recognised by their shape, not only by the name of their key.

:func:`components.releases.values.credential_paths` finds a plaintext value under a key that
names a credential (``password:``, ``apiToken:``). A red-team pass (issue 20) pasted 14 real
credential shapes into values files and that check found 4: a credential also hides in a
name/value environment list, a URL's ``user:pass@`` or query, a docker ``auth`` field, a
kubeconfig's ``*-data`` fields, an ``Authorization`` header, a connection string, a webhook
URL whose path is the secret (Slack, Discord, Teams), or a token whose prefix says what it is.
:func:`credential_shapes` finds those, by path and shape, never echoing a value.

Only the standard library: the same check runs on values files, before any resource.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any

#: (what it is, pattern) for a plaintext string anywhere in a values file. Token prefixes:
#: GitHub https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/,
#: GitLab https://docs.gitlab.com/security/tokens/#token-prefixes, Slack
#: https://api.slack.com/concepts/token-types, AWS access key ids
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids,
#: Google API keys https://cloud.google.com/docs/authentication/api-keys.
TEXT_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a URL with user:password@", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)),
    ("a credential in a URL's query",
     re.compile(r"[?&](access_token|token|api_?key|key|sig|signature|secret|password|pass)"
                r"=[^&#\s]{8,}", re.I)),
    ("a webhook URL whose path is its secret (Slack, Discord, Teams, Zapier)",
     re.compile(r"https?://(hooks\.slack\.com/(services|workflows|triggers)/|"
                r"(\w+\.)?discord(app)?\.com/api/webhooks/|[\w.-]*webhook\.office\.com/|"
                r"hooks\.zapier\.com/hooks/|api\.telegram\.org/bot\d+:)", re.I)),
    ("an Authorization header", re.compile(r"\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{12,}",
                                           re.I)),
    ("a password in a connection string",
     re.compile(r"(^|[;\s])(password|pwd)\s*=\s*[^;\s]+", re.I)),
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a JSON Web Token",
     re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)

#: kubeconfig and Secret fields that carry key material base64-encoded (``client-key-data``,
#: ``token-data``); ``certificate-authority-data`` is a public CA and not counted.
_DATA_KEY = re.compile(r"(?i)(key|token|secret|password|auth)[-_]?data$")
#: Environment variable names that say they hold a credential (``GITHUB_TOKEN``,
#: ``DB_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``, ``SLACK_WEBHOOK_URL``).
_CREDENTIAL_ENV = re.compile(
    r"(?i)(token|secret|passw(or)?d|pwd|api_?key|access_?key|private_?key|credentials?|"
    r"webhook(_url)?)$")


def is_plain_value(value: Any) -> bool:
    """A non-empty string or number: what a credential looks like. Not a bool (switches such
    as ``automountServiceAccountToken: true``), not null, not a map or list. (Also the test of
    :func:`components.releases.values.credential_paths`.)"""
    return isinstance(value, str | int | float) and not isinstance(value, bool) and value != ""


def _docker_auth(value: Any) -> bool:
    """A docker config ``auth``: base64 of ``user:password``."""
    if not isinstance(value, str) or len(value) < 8:
        return False
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded


def _text_shape(text: str) -> str | None:
    return next((what for what, pattern in TEXT_SHAPES if pattern.search(text)), None)


def credential_shapes(value: Any, path: str = "") -> list[tuple[str, str]]:
    """``(path, what)`` for each plaintext credential in ``value`` found by its shape. Paths
    as :func:`components.releases.values.credential_paths` writes them; no value is quoted."""
    return list(_walk(value, path))


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    def here(key: Any) -> str:
        return f"{path}.{key}" if path else str(key)

    if isinstance(value, Mapping):
        name = value.get("name")
        if (isinstance(name, str) and _CREDENTIAL_ENV.search(name)
                and is_plain_value(value.get("value"))):
            yield here("value"), f"an environment variable named {name}"
        if value.get("kind") == "Secret":
            for field in ("data", "stringData"):
                data = value.get(field)
                if isinstance(data, Mapping) and any(is_plain_value(v) for v in data.values()):
                    yield here(field), "a Secret's data"
        for key, item in value.items():
            if key in ("data", "stringData") and value.get("kind") == "Secret":
                continue
            if key == "auth" and _docker_auth(item):
                yield here(key), "a docker config auth (base64 of user:password)"
            elif key == ".dockerconfigjson" and is_plain_value(item):
                yield here(key), "a docker config"
            elif isinstance(key, str) and _DATA_KEY.search(key) and is_plain_value(item):
                yield here(key), f"a {key} field (base64 key material)"
            else:
                yield from _walk(item, here(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    elif isinstance(value, str):
        what = _text_shape(value)
        if what is not None:
            yield path, what
