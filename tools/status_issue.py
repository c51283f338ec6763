"""One GitHub issue per failing stack: opened on failure, updated while it fails, closed on
recovery. The scheduled outside checks (``outside.yml``) and drift detection (``drift.yml``)
report through it.

    python -m tools.status_issue outside-check --results DIR --stacks ebi gcp

For each stack, ``DIR/<stack>.status`` holds the check's exit status (a number) and
``DIR/<stack>.txt`` its report; a stack without a status file is failing ("the check did not
run": a job that died before reporting must not pass for a healthy service). Then, per stack:

* failing, no open issue: one is opened, labelled with the kind, its title naming the stack;
* failing, an open issue: its body is replaced by the newest report (no notification), and a
  comment is added only when what fails changed (the ``FAIL``/``error`` lines), so a pager
  hears about a new failure, not about every run of an old one;
* passing, an open issue: a comment says it recovered, and the issue is closed;
* passing, no open issue: nothing.

The issue is found by a marker in its body (``<!-- binder-status: <kind>/<stack> -->``)
among the open issues carrying the kind's label, so renaming its title changes nothing.
GitHub's REST API through the standard library only; ``GITHUB_TOKEN`` needs ``issues:
write``, and nothing else (https://docs.github.com/en/rest/issues/issues). Exit status: 0 when
every stack was reported, 1 when the API refused something, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: Every kind of report, its label and the title of its issues.
KINDS = {
    "outside-check": ("outside-check", "Outside check failing: {stack}"),
    "drift": ("drift", "Drift: stack {stack} differs from its program"),
}
#: GitHub refuses bodies over 65,536 characters.
MAX_REPORT = 60_000
TIMEOUT = 30
USER_AGENT = "binder-status-issue/1 (+tools/status_issue.py)"


class GitHubError(Exception):
    """The API refused a request."""


@dataclass(frozen=True)
class Result:
    stack: str
    ok: bool
    report: str


def read_results(directory: Path, stacks: list[str]) -> list[Result]:
    """The stacks' results, a missing or unreadable status counting as a failure."""
    results = []
    for stack in stacks:
        status_file, report_file = directory / f"{stack}.status", directory / f"{stack}.txt"
        report = report_file.read_text(errors="replace") if report_file.is_file() else ""
        try:
            status = int(status_file.read_text().strip())
        except (OSError, ValueError):
            note = f"The check of stack {stack} did not run to the end: no exit status."
            results.append(Result(stack, False, f"{note}\n{report}".strip()))
            continue
        results.append(Result(stack, status == 0, report))
    return results


def failure_signature(report: str) -> str:
    """What fails, without what changes on every run (durations, attempts, timestamps)."""
    lines = [
        re.sub(r"\d+(\.\d+)?", "#", line.strip())
        for line in report.splitlines()
        if line.startswith(("FAIL", "error")) or " ~ " in line or line.strip().startswith(
            ("~ ", "+ ", "- ", "+-", "-+")
        )
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


class GitHub:
    """The few REST calls this needs."""

    def __init__(self, api: str, repository: str, token: str) -> None:
        self.base = f"{api.rstrip('/')}/repos/{repository}"
        self.token = token

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = f"{self.base}{path}"
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise GitHubError(f"{url}: not an http(s) URL")
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
            url,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": USER_AGENT,
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read(2000).decode(errors="replace")
            raise GitHubError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise GitHubError(f"{method} {path}: {exc}") from None
        return json.loads(text) if text else None

    def open_issues(self, label: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"state": "open", "labels": label, "per_page": 100})
        issues = self.call("GET", f"/issues?{query}") or []
        # The issues API lists pull requests too.
        return [i for i in issues if isinstance(i, dict) and "pull_request" not in i]


def marker(kind: str, stack: str) -> str:
    return f"<!-- binder-status: {kind}/{stack} -->"


def _signature_in(body: str) -> str | None:
    found = re.search(r"<!-- failing: ([0-9a-f]+) -->", body)
    return found.group(1) if found else None


def issue_body(kind: str, result: Result, run_url: str | None) -> str:
    report = result.report
    if len(report) > MAX_REPORT:
        report = report[-MAX_REPORT:]
        report = "(the report's start is cut: it was too long)\n" + report
    where = f"[this run]({run_url})" if run_url else "the latest run"
    what = {
        "outside-check": "The scheduled smoke test of the public service failed",
        "drift": "`pulumi preview --refresh --expect-no-changes` found changes",
    }[kind]
    return (
        f"{marker(kind, result.stack)}\n<!-- failing: {failure_signature(result.report)} -->\n"
        f"{what} for stack `{result.stack}` in {where}. This issue is updated while it "
        "fails and closed when it passes again (docs/day-two.md).\n\n"
        f"```\n{report.strip()}\n```\n"
    )


def report_stack(
    github: GitHub, kind: str, result: Result, issues: list[dict[str, Any]],
    run_url: str | None, out: TextIO,
) -> None:
    label, title = KINDS[kind]
    mark = marker(kind, result.stack)
    existing = next((i for i in issues if mark in str(i.get("body") or "")), None)
    if result.ok:
        if existing is None:
            print(f"{result.stack}: passing, no open issue", file=out)
            return
        number = existing["number"]
        github.call("POST", f"/issues/{number}/comments", {
            "body": f"Passing again in {f'[this run]({run_url})' if run_url else 'the latest run'}"
                    ": closing."})
        github.call("PATCH", f"/issues/{number}", {"state": "closed",
                                                   "state_reason": "completed"})
        print(f"{result.stack}: passing again, closed #{number}", file=out)
        return
    body = issue_body(kind, result, run_url)
    if existing is None:
        created = github.call("POST", "/issues", {
            "title": title.format(stack=result.stack), "body": body, "labels": [label]})
        print(f"{result.stack}: failing, opened #{created['number']}", file=out)
        return
    number = existing["number"]
    changed = _signature_in(str(existing.get("body") or "")) != failure_signature(result.report)
    github.call("PATCH", f"/issues/{number}", {"body": body})
    if changed:
        github.call("POST", f"/issues/{number}/comments", {
            "body": "What fails changed:\n\n```\n"
                    f"{result.report.strip()[-MAX_REPORT:]}\n```\n"})
    print(f"{result.stack}: still failing, updated #{number}"
          f"{' (what fails changed: commented)' if changed else ''}", file=out)


def main(argv: list[str] | None = None, out: TextIO | None = None,
         environ: Mapping[str, str] | None = None) -> int:
    out = out or sys.stdout
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m tools.status_issue", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--results", type=Path, required=True,
                        help="folder of <stack>.status and <stack>.txt files")
    parser.add_argument("--stacks", nargs="+", required=True, metavar="STACK")
    args = parser.parse_args(argv)
    missing = [n for n in ("GITHUB_TOKEN", "GITHUB_REPOSITORY") if not env.get(n)]
    if missing:
        print(f"error: set {' and '.join(missing)} (GitHub Actions sets GITHUB_REPOSITORY; "
              "pass the job's token, with `issues: write`, as GITHUB_TOKEN)", file=sys.stderr)
        return 2
    github = GitHub(env.get("GITHUB_API_URL") or "https://api.github.com",
                    env["GITHUB_REPOSITORY"], env["GITHUB_TOKEN"])
    run_url = None
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_RUN_ID"):
        run_url = (f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/"
                   f"{env['GITHUB_RUN_ID']}")
    results = read_results(args.results, args.stacks)
    try:
        issues = github.open_issues(KINDS[args.kind][0])
        for result in results:
            report_stack(github, args.kind, result, issues, run_url, out)
    except GitHubError as exc:
        print(f"error: GitHub refused a request: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
