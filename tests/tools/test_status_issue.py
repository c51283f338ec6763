"""tools/status_issue.py against a small stand-in of GitHub's issues API on 127.0.0.1: an
issue opened on failure, updated (commented only when what fails changes), closed on
recovery; nothing written while all is well."""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.local_server import serving
from tools import status_issue

TOKEN = "ghs_test-token"
REPO = "acme/binder"


class FakeGitHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # loopback only
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.calls: list[str] = []
        self.fail_next: int | None = None


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        gh = self.server
        url = urllib.parse.urlsplit(self.path)
        gh.calls.append(f"{method} {url.path}")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"message": "Bad credentials"})
        if gh.fail_next is not None:
            status, gh.fail_next = gh.fail_next, None
            return self._send(status, {"message": "Resource not accessible by integration"})
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        prefix = f"/repos/{REPO}/issues"
        if method == "GET" and url.path == prefix:
            query = urllib.parse.parse_qs(url.query)
            label = query["labels"][0]
            found = [i for i in gh.issues.values()
                     if i["state"] == query["state"][0] and label in i["labels"]]
            return self._send(200, found)
        if method == "POST" and url.path == prefix:
            number = len(gh.issues) + 1
            gh.issues[number] = {"number": number, "state": "open", **body}
            return self._send(201, gh.issues[number])
        parts = url.path[len(prefix):].strip("/").split("/")
        number = int(parts[0])
        if method == "PATCH":
            gh.issues[number].update(body)
            return self._send(200, gh.issues[number])
        if method == "POST" and parts[1:] == ["comments"]:
            gh.comments.setdefault(number, []).append(body["body"])
            return self._send(201, {"id": 1})
        return self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    with serving(server):
        yield server


def _env(server: FakeGitHub) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "42",
    }


def report(
    server: FakeGitHub, tmp_path: Path, kind: str, results: dict[str, tuple[int | None, str]]
) -> tuple[int, str]:
    folder = tmp_path / "results"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for stack, (status, text) in results.items():
        (folder / f"{stack}.txt").write_text(text)
        if status is not None:
            (folder / f"{stack}.status").write_text(f"{status}\n")
    out = io.StringIO()
    code = status_issue.main(
        [kind, "--results", str(folder), "--stacks", *results], out=out, environ=_env(server)
    )
    return code, out.getvalue()


FAILING = ("Smoke test of stack 'ebi'\nPASS  TLS binder.ebi.example.org:443: valid\n"
           "FAIL  BinderHub /health: HTTP 503, failing: JupyterHub API [3 attempts]\n"
           "Result: FAIL (3 of 4 checks passed)\n")
FAILING_AGAIN = FAILING.replace("[3 attempts]", "[2 attempts]")
OTHER_FAILURE = FAILING.replace("BinderHub /health: HTTP 503", "JupyterHub /hub/health: HTTP 502")
PASSING = "Smoke test of stack 'ebi'\nResult: PASS (4 of 4 checks passed)\n"


def test_an_issue_is_opened_updated_and_closed(github: FakeGitHub, tmp_path: Path) -> None:
    code, out = report(github, tmp_path, "outside-check", {"ebi": (1, FAILING),
                                                          "gcp": (0, PASSING)})
    assert code == 0
    assert out.splitlines() == ["ebi: failing, opened #1", "gcp: passing, no open issue"]
    (issue,) = github.issues.values()
    assert issue["title"] == "Outside check failing: ebi"
    assert issue["labels"] == ["outside-check"]
    assert "<!-- binder-status: outside-check/ebi -->" in issue["body"]
    assert "FAIL  BinderHub /health: HTTP 503" in issue["body"]
    assert "[this run](https://github.example/acme/binder/actions/runs/42)" in issue["body"]

    # The same failure again (only the attempt count differs): the body is refreshed, no
    # comment is made (no notification for an old failure).
    code, out = report(github, tmp_path, "outside-check", {"ebi": (1, FAILING_AGAIN)})
    assert (code, out.strip()) == (0, "ebi: still failing, updated #1")
    assert "[2 attempts]" in github.issues[1]["body"]
    assert github.comments == {}

    # Something else fails: a comment, so whoever watches the issue hears of it.
    code, out = report(github, tmp_path, "outside-check", {"ebi": (1, OTHER_FAILURE)})
    assert out.strip() == "ebi: still failing, updated #1 (what fails changed: commented)"
    assert "JupyterHub /hub/health: HTTP 502" in github.comments[1][0]

    # Recovery closes it.
    code, out = report(github, tmp_path, "outside-check", {"ebi": (0, PASSING)})
    assert (code, out.strip()) == (0, "ebi: passing again, closed #1")
    assert github.issues[1]["state"] == "closed"
    assert github.issues[1]["state_reason"] == "completed"
    assert github.comments[1][-1].startswith("Passing again in [this run]")

    # A new failure after that opens a new issue.
    code, out = report(github, tmp_path, "outside-check", {"ebi": (1, FAILING)})
    assert out.strip() == "ebi: failing, opened #2"


def test_nothing_is_written_while_everything_passes(github: FakeGitHub, tmp_path: Path) -> None:
    code, _ = report(github, tmp_path, "drift", {"staging": (0, "no changes"),
                                                 "gcp": (0, "no changes")})
    assert code == 0
    assert [c.split()[0] for c in github.calls] == ["GET"]


def test_a_check_that_did_not_finish_counts_as_failing(
    github: FakeGitHub, tmp_path: Path
) -> None:
    code, out = report(github, tmp_path, "drift", {"gcp": (None, "")})
    assert (code, out.strip()) == (0, "gcp: failing, opened #1")
    issue = github.issues[1]
    assert issue["title"] == "Drift: stack gcp differs from its program"
    assert issue["labels"] == ["drift"]
    assert "The check of stack gcp did not run to the end: no exit status." in issue["body"]


def test_other_kinds_stacks_and_pull_requests_are_left_alone(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.issues[1] = {"number": 1, "state": "open", "labels": ["drift"], "title": "x",
                        "body": "<!-- binder-status: drift/ebi -->"}
    github.issues[2] = {"number": 2, "state": "open", "labels": ["outside-check"],
                        "title": "x", "body": "<!-- binder-status: outside-check/gcp -->"}
    github.issues[3] = {"number": 3, "state": "open", "labels": ["outside-check"], "title": "x",
                        "body": "<!-- binder-status: outside-check/ebi -->",
                        "pull_request": {"url": "..."}}
    code, out = report(github, tmp_path, "outside-check", {"ebi": (0, PASSING)})
    assert (code, out.strip()) == (0, "ebi: passing, no open issue")
    assert all(i["state"] == "open" for i in github.issues.values())


def test_a_long_report_keeps_its_end(github: FakeGitHub, tmp_path: Path) -> None:
    long = "x" * 100 + "\n" + "y\n" * 40_000 + "FAIL  the end\n"
    report(github, tmp_path, "drift", {"ebi": (255, long)})
    body = github.issues[1]["body"]
    assert len(body) < 65_536
    assert "FAIL  the end" in body
    assert "(the report's start is cut: it was too long)" in body


def test_a_refused_request_fails_with_githubs_message(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.fail_next = 403
    code, _ = report(github, tmp_path, "outside-check", {"ebi": (1, FAILING)})
    assert code == 1
    assert capsys.readouterr().err.startswith(
        "error: GitHub refused a request: GET /issues?state=open&labels=outside-check"
        "&per_page=100: HTTP 403 "
    )


def test_without_a_token_it_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = status_issue.main(["drift", "--results", str(tmp_path), "--stacks", "ebi"],
                             out=io.StringIO(), environ={"GITHUB_REPOSITORY": REPO})
    assert code == 2
    assert "set GITHUB_TOKEN" in capsys.readouterr().err


def test_failure_signature_ignores_numbers_but_not_what_fails() -> None:
    sig = status_issue.failure_signature
    assert sig(FAILING) == sig(FAILING_AGAIN)
    assert sig(FAILING) != sig(OTHER_FAILURE)
    drift = "    ~ kubernetes:core/v1:ConfigMap releases-monitoring-dashboards update [diff: ~d]\n"
    assert sig(drift) != sig(drift.replace("ConfigMap", "Secret"))
