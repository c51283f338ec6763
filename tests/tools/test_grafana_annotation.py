"""tools/grafana_annotation.py (deploy markers) against a small stand-in of Grafana's
annotations API on 127.0.0.1."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.local_server import serving
from tools import grafana_annotation as marker

TOKEN = "glsa_test-token"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeGrafana(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # loopback only
        self.posted: list[dict[str, Any]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        grafana = self.server
        answer: dict[str, Any]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/api/annotations":
            status, answer = 404, {"message": "Not found"}
        elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
            status, answer = 401, {"message": "invalid API key"}
        elif grafana.status != 200:
            status, answer = grafana.status, {"message": "You'll need additional permissions"}
        else:
            grafana.posted.append(body)
            status, answer = 200, {"message": "Annotation added", "id": len(grafana.posted)}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with serving(FakeGrafana()) as server:
        yield server


def _no_outputs(stack: str) -> tuple[dict[str, Any], str | None]:
    return {}, "the Pulumi CLI is not installed"


def _run(args: list[str], token: str | None = TOKEN,
         outputs: dict[str, Any] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = marker.main(
        args, out=out, environ={marker.TOKEN_ENV: token} if token else {},
        read_outputs=(lambda stack: (outputs, None)) if outputs is not None else _no_outputs,
    )
    return code, out.getvalue()


def test_a_deploy_posts_one_annotation_tagged_with_stack_and_commit(
    grafana: FakeGrafana,
) -> None:
    before = int(time.time() * 1000)
    code, out = _run(["acme/gcp", "--commit", COMMIT, "--link", "https://ci.example.org/run/7"],
                     outputs={"grafana_url": grafana.url})
    assert code == 0, out
    (posted,) = grafana.posted
    assert posted["tags"] == ["deploy", "stack:gcp", "commit:0123456789ab"]
    assert posted["text"] == "Deploy of gcp at 0123456789ab: https://ci.example.org/run/7"
    assert before <= posted["time"] <= int(time.time() * 1000)
    assert "dashboardUID" not in posted  # an organization annotation: every dashboard
    assert out.startswith(f"Deploy marker 1 in {grafana.url} (the stack output grafana_url)")
    assert TOKEN not in out


def test_refusals_are_one_line_naming_the_fix(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _run(["gcp", "--commit", COMMIT, "--grafana-url", grafana.url], token="wrong")
    assert code == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"error: Grafana at {grafana.url} refused the deploy marker: HTTP 401; "
                           "invalid API key; the token is not valid (GRAFANA_API_TOKEN)")
    grafana.status = 403
    assert _run(["gcp", "--commit", COMMIT, "--grafana-url", grafana.url])[0] == 1
    assert "give it the Editor role" in capsys.readouterr().err
    assert grafana.posted == []


def test_a_grafana_that_does_not_answer_fails_quickly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = FakeGrafana()  # bound, never served: closed right away
    url = server.url
    server.server_close()
    started = time.monotonic()
    assert _run(["gcp", "--commit", COMMIT, "--grafana-url", url, "--timeout", "2"])[0] == 1
    assert time.monotonic() - started < 5
    assert f"error: Grafana at {url} did not take the deploy marker" in capsys.readouterr().err


def test_without_a_token_nothing_is_posted_and_it_says_so(grafana: FakeGrafana) -> None:
    code, out = _run(["gcp", "--commit", COMMIT, "--grafana-url", grafana.url], token=None)
    assert code == 0
    assert "GRAFANA_API_TOKEN is not set" in out
    assert grafana.posted == []


def test_grafana_is_found_in_the_outputs_then_the_stack_file() -> None:
    assert marker.grafana_url("gcp", None, lambda s: ({"grafana_url": "https://g.example"},
                                                      None)) == (
        "https://g.example", "the stack output grafana_url")
    assert marker.grafana_url("acme/gcp", None, _no_outputs) == (
        "https://grafana.binder.gcp.example.org",
        "Pulumi.gcp.yaml (binder:monitoring.grafanaHost)")
    url, why = marker.grafana_url("local", None, _no_outputs)
    assert url is None
    assert "the Pulumi CLI is not installed" in why


def test_no_grafana_exposed_posts_nothing() -> None:
    code, out = _run(["local", "--commit", COMMIT])
    assert code == 0
    assert out.startswith("No deploy marker: Grafana is not exposed")


@pytest.mark.parametrize(
    ("args", "message"),
    [(["gcp", "--commit", "main"], "--commit 'main' is not a commit"),
     (["gcp", "--commit", COMMIT, "--grafana-url", "http://grafana.example.org"],
      "is not https: the Grafana token would cross the network in clear text"),
     (["gcp", "--commit", COMMIT, "--grafana-url", "ftp://grafana.example.org"],
      "is not an http(s) URL of a Grafana")],
)
def test_bad_usage_is_refused_before_any_request(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(args)[0] == 2
    assert message in capsys.readouterr().err
