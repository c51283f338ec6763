"""A deploy marker: one Grafana annotation per deploy, tagged with the stack and the commit.

    GRAFANA_API_TOKEN=... python -m tools.grafana_annotation gcp --commit "$(git rev-parse HEAD)"
    python -m tools.grafana_annotation gcp --commit abc123 --grafana-url https://grafana.example.org

deploy-stack.yml runs it after each ``pulumi up``, as mybinder.org-deploy's ``cd.yml`` runs
``post-grafana-annotation.py`` on each deploy
(https://github.com/jupyterhub/mybinder.org-deploy/blob/main/post-grafana-annotation.py).
It posts an organization annotation (no dashboard) through Grafana's annotations API,
``POST /api/annotations`` with ``time`` (ms), ``tags`` and ``text``
(https://grafana.com/docs/grafana/v12.4/developer-resources/api-reference/http-api/annotations/;
the legacy ``/api`` route, still served by Grafana 13, our chart's app version). Its tags are
``deploy``, ``stack:<stack>`` and ``commit:<first 12 hex digits>``; every dashboard of ours
shows the ``deploy`` annotations (tools/dashboards.py, "Deploys").

Where Grafana is: ``--grafana-url``, else the stack output ``grafana_url`` (``pulumi stack
output``), else ``binder:monitoring.grafanaHost`` of ``Pulumi.<stack>.yaml``. The token is a
Grafana service account token with the Editor role (``annotations:create``), from the
environment variable ``GRAFANA_API_TOKEN``; it is sent only over https (or to a loopback
address) and never printed. Without a token, or with no Grafana host, nothing is posted and
the tool says so (exit 0): markers are optional. Exit status 1: Grafana refused or did not
answer; 2: bad usage. Standard library only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from components.config.yaml_input import YamlInputError, read_stack_config
from tools.smoke import _as_url, pulumi_outputs, stack_file, stack_file_hosts

TOKEN_ENV = "GRAFANA_API_TOKEN"  # noqa: S105 (the variable's name, not a token)
TAG = "deploy"
USER_AGENT = "binder-deploy-marker/1 (+tools/grafana_annotation.py)"


class UsageError(Exception):
    """Bad input: one line in our words."""


def stack_name(stack: str) -> str:
    """``org/gcp`` -> ``gcp``."""
    return stack.rsplit("/", 1)[-1]


def short_commit(commit: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{7,64}", commit):
        raise UsageError(f"--commit {commit!r} is not a commit (7 to 64 lowercase hex digits)")
    return commit[:12]


def annotation(stack: str, commit: str, link: str | None, now_ms: int) -> dict[str, Any]:
    """The body of ``POST /api/annotations``."""
    name, sha = stack_name(stack), short_commit(commit)
    text = f"Deploy of {name} at {sha}"
    if link:
        text += f": {link}"
    return {"time": now_ms, "tags": [TAG, f"stack:{name}", f"commit:{sha}"], "text": text}


def stack_file_grafana(stack: str) -> str | None:
    """``binder:monitoring.grafanaHost`` of ``Pulumi.<stack>.yaml`` as a URL."""
    path = stack_file(stack)
    if not path.is_file():
        return None
    try:
        config = read_stack_config(path)
    except YamlInputError as exc:
        raise UsageError(str(exc)) from None
    monitoring = config.get("binder:monitoring") or {}
    host = monitoring.get("grafanaHost") if isinstance(monitoring, dict) else None
    if not isinstance(host, str) or not host:
        return None
    # The same scheme as the service's own names (binder:tls.source none: http).
    binder, _, _ = stack_file_hosts(stack)
    return _as_url(host, "http" if binder and binder.startswith("http://") else "https")


def grafana_url(
    stack: str,
    given: str | None,
    read_outputs: Callable[[str], tuple[dict[str, Any], str | None]] = pulumi_outputs,
) -> tuple[str | None, str]:
    """``(url, where it came from)``; ``url`` None when no Grafana is exposed."""
    if given:
        return _as_url(given), "--grafana-url"
    outputs, why = read_outputs(stack)
    value = outputs.get("grafana_url")
    if isinstance(value, str) and value and value != "[secret]":
        return _as_url(value), "the stack output grafana_url"
    from_file = stack_file_grafana(stack)
    if from_file:
        return from_file, f"{stack_file(stack).name} (binder:monitoring.grafanaHost)"
    reason = f" ({why})" if why else ""
    return None, f"no stack output grafana_url{reason} and no binder:monitoring.grafanaHost"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_url(url: str) -> str:
    """The API endpoint of a Grafana URL; the token goes over https only (or to loopback)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http(s) URL of a Grafana")
    if parts.scheme != "https" and not _loopback(parts.hostname):
        raise UsageError(
            f"{url} is not https: the Grafana token would cross the network in clear text"
        )
    return f"{url.rstrip('/')}/api/annotations"


def post(endpoint: str, token: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (http(s) only, check_url)
        endpoint, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Accept": "application/json", "User-Agent": USER_AGENT},
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
        answer = json.loads(resp.read(1 << 16) or b"{}")
    return answer if isinstance(answer, dict) else {}


def _refusal(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read(1 << 16)).get("message", "")
    except (ValueError, AttributeError):
        message = ""
    hint = {401: "the token is not valid (GRAFANA_API_TOKEN)",
            403: "the token's service account may not create annotations: give it the "
                 "Editor role"}.get(exc.code, "")
    return "; ".join(p for p in (f"HTTP {exc.code}", message, hint) if p)


def main(
    argv: list[str] | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    read_outputs: Callable[[str], tuple[dict[str, Any], str | None]] = pulumi_outputs,
) -> int:
    out = out or sys.stdout
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m tools.grafana_annotation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("stack", help="the stack deployed (org/stack or stack)")
    parser.add_argument("--commit", required=True, help="the commit deployed (hex)")
    parser.add_argument("--link", help="a link for the text, e.g. the CI run")
    parser.add_argument("--grafana-url", help="Grafana's URL (default: the stack's)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    args = parser.parse_args(argv)
    try:
        body = annotation(args.stack, args.commit, args.link, int(time.time() * 1000))
        url, source = grafana_url(args.stack, args.grafana_url, read_outputs)
        endpoint = check_url(url) if url else None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if endpoint is None:
        print(f"No deploy marker: Grafana is not exposed ({source}).", file=out)
        return 0
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"No deploy marker in {url}: {TOKEN_ENV} is not set (docs/day-two.md "
              "'Deploy markers').", file=out)
        return 0
    try:
        answer = post(endpoint, token, body, args.timeout)
    except urllib.error.HTTPError as exc:
        print(f"error: Grafana at {url} refused the deploy marker: {_refusal(exc)}",
              file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"error: Grafana at {url} did not take the deploy marker: {reason}",
              file=sys.stderr)
        return 1
    print(f"Deploy marker {answer.get('id', '?')} in {url} ({source}): "
          f"{', '.join(body['tags'])}", file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
