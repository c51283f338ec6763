"""tools/smoke.py against a local HTTPS server on 127.0.0.1 serving BinderHub's endpoints.

A throw-away CA and server certificates (for localhost/127.0.0.1, and one for another name)
are made with the openssl CLI at test time. The server listens on loopback only, every
response and event stream it sends is bounded, and it stops with each test.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.local_server import serving
from tools import smoke

TOKEN = "launch-token-that-must-never-be-printed"
HEALTHY = {
    "ok": True,
    "checks": [
        {"service": "JupyterHub API", "ok": True},
        {"service": "Docker registry", "ok": True},
        {"service": "Pod quota", "ok": True, "total_pods": 3, "quota": 100},
    ],
}
VERSIONS = {"binderhub": "1.0.0-0.dev.git.3958.haf9ca8b1", "builder_info": {"build_image": "x"}}


# --------------------------------------------------------------------------------------
# A CA and certificates, made with openssl
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    good: tuple[Path, Path]
    """Certificate and key for localhost and 127.0.0.1."""
    wrong: tuple[Path, Path]
    """Certificate and key for wrong.example.org, from the same CA."""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _leaf(directory: Path, name: str, cn: str, san: str) -> tuple[Path, Path]:
    (directory / f"{name}.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=directory,
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "30", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.pem", cwd=directory,
    )
    return directory / f"{name}.pem", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed to make test certificates: apt-get install openssl")
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-sha256",
        "-subj", "/O=Smoke Test CA/CN=Smoke Test Root",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d,
    )
    good = _leaf(d, "good", "localhost", "DNS:localhost,IP:127.0.0.1")
    wrong = _leaf(d, "wrong", "wrong.example.org", "DNS:wrong.example.org")
    return Pki(d / "ca.pem", good, wrong)


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

class Answers:
    """Successive answers of one route, the last one repeated: a service that settles."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)

    def next(self) -> tuple[int, Any]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


#: One response: (status, JSON body), an SSE script [(delay_seconds, raw text), ...], or
#: :class:`Answers`.
Route = tuple[int, Any] | list[tuple[float, str]] | Answers


def sse(*events: dict[str, Any], delay: float = 0.05) -> list[tuple[float, str]]:
    return [(delay, f"data: {json.dumps(e)}\n\n") for e in events]


def heartbeats(seconds: float, every: float = 0.1) -> list[tuple[float, str]]:
    return [(every, ": keepalive\n\n")] * int(seconds / every)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    hits: list[str]
    #: (method path, Authorization header) of every request.
    auth: list[tuple[str, str | None]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-stream (the timeout test) is expected; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        """Routes keyed ``POST /path``; the body is read and ignored."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(f"POST {self.path}")

    def do_GET(self) -> None:
        self._answer(self.path)

    def _answer(self, key: str) -> None:
        self.server.hits.append(key)
        self.server.auth.append((key, self.headers.get("Authorization")))
        route = self.server.routes.get(key, (404, {"message": "not found"}))
        if isinstance(route, list):  # a server-sent event stream, bounded by its script
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for delay, chunk in route:
                time.sleep(delay)
                try:
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up
            return
        status, body = route.next() if isinstance(route, Answers) else route
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve(routes: dict[str, Route], cert: tuple[Path, Path] | None) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)  # loopback only
    server.routes = routes
    server.hits = []
    server.auth = []
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        # Handshake in the handler thread, so a client that rejects the certificate cannot
        # stall the accept loop.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    with serving(server):
        yield server


def healthy_routes(**extra: Route) -> dict[str, Route]:
    routes: dict[str, Route] = {
        "/health": (200, HEALTHY),
        "/versions": (200, VERSIONS),
        "/hub/health": (200, ""),
    }
    routes.update({k.replace("__", "/"): v for k, v in extra.items()})
    return routes


LAUNCH = "binderhub-ci-repos/cached-minimal-dockerfile"
BUILD = f"/build/gh/{LAUNCH}/HEAD"


def run(
    server: _Server, *extra: str, host: str = "localhost", scheme: str = "https",
    cafile: Path | None = None,
) -> tuple[int, str]:
    url = f"{scheme}://{host}:{server.server_address[1]}"
    argv = ["--binder-url", url, "--hub-url", url, "--attempts", "1", "--timeout", "5"]
    if cafile is not None:
        argv += ["--cafile", str(cafile)]
    out = io.StringIO()
    code = smoke.main([*argv, *extra], out=out)
    return code, out.getvalue()


# --------------------------------------------------------------------------------------
# Checks against the server
# --------------------------------------------------------------------------------------


READY_STEPS = (
    {"phase": "waiting", "message": "Waiting for build to start..."},
    {"phase": "fetching", "message": "Fetching repository"},
    {"phase": "building", "message": "Step 1/3 : FROM python:3.12"},
    {"phase": "built", "message": "Built image"},
    {"phase": "launching", "message": "Launching server..."},
)
SERVER_API = "/user/x/api"


def ready(server: _Server, host: str = "localhost", **extra: Any) -> list[tuple[float, str]]:
    """The build stream of a launch that ends ready, its server on ``host`` at the test
    server's port (BinderHub names the server by the hub's public URL)."""
    url = f"https://{host}:{server.server_address[1]}/user/x/"
    stream = sse(*READY_STEPS, {"phase": "ready", "message": "server running", "url": url,
                                "token": TOKEN, "image": "registry/x:abc", **extra})
    stream.insert(2, (0.05, ": heartbeat\n\n"))
    return stream


def launched_server_routes(**extra: Route) -> dict[str, Route]:
    """A healthy service whose launched Jupyter server answers /api and its shutdown."""
    return healthy_routes(**{
        SERVER_API.replace("/", "__"): (200, {"version": "2.17.0"}),
        **extra,
    }) | {f"POST {SERVER_API}/shutdown": (200, {})}


def test_healthy_service_with_a_launch_passes(pki: Pki) -> None:
    with serve(launched_server_routes(), pki.good) as server:
        server.routes[BUILD] = ready(server)
        code, out = run(
            server, "--launch", "binderhub-ci-repos/cached-minimal-dockerfile", cafile=pki.ca
        )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "Smoke test (URLs from command line)"
    port = server.server_address[1]
    assert any(
        line.startswith(f"PASS  TLS localhost:{port}: valid for localhost, issued by Smoke Test CA")
        for line in lines
    ), out
    assert "PASS  BinderHub /health: ok (JupyterHub API, Docker registry, Pod quota)" in lines
    assert any(
        line.startswith("PASS  BinderHub /versions: binderhub 1.0.0-0.dev") for line in lines
    )
    assert "PASS  JupyterHub /hub/health: HTTP 200" in lines
    assert any(
        line.startswith(f"PASS  launch {BUILD}: ready after")
        and f"https://localhost:{port}/user/x/" in line
        for line in lines
    ), out
    assert "PASS  launched server /api: jupyter server 2.17.0" in lines
    assert "PASS  launched server shut down: HTTP 200" in lines
    phases = [line.split()[-1] for line in lines if line.startswith("      ")]
    assert phases == ["waiting", "fetching", "building", "built", "launching", "ready"]
    assert lines[-1] == "Result: PASS (7 of 7 checks passed)"
    assert TOKEN not in out
    # One request per endpoint, the build stream asked for as server-sent events; the
    # server is asked for its API, then shut down.
    assert sorted(server.hits) == sorted(
        ["/health", "/versions", "/hub/health", BUILD, SERVER_API, f"POST {SERVER_API}/shutdown"]
    )
    assert server.hits.index(SERVER_API) < server.hits.index(f"POST {SERVER_API}/shutdown")
    # The launch token goes to the launched server only, in the Authorization header.
    with_token = {key for key, auth in server.auth if auth is not None}
    assert with_token == {SERVER_API, f"POST {SERVER_API}/shutdown"}
    assert {auth for _, auth in server.auth if auth} == {f"token {TOKEN}"}


def test_a_server_that_does_not_answer_its_api_is_still_shut_down(pki: Pki) -> None:
    routes = launched_server_routes(**{SERVER_API.replace("/", "__"): (503, "starting")})
    with serve(routes, pki.good) as server:
        server.routes[BUILD] = ready(server)
        code, out = run(server, "--launch", LAUNCH, cafile=pki.ca)
    assert code == 1
    assert "FAIL  launched server /api: HTTP 503, starting" in out
    assert "PASS  launched server shut down: HTTP 200" in out
    assert f"POST {SERVER_API}/shutdown" in server.hits
    assert out.splitlines()[-1] == "Result: FAIL (6 of 7 checks passed)"


def test_a_failed_shutdown_fails_and_says_the_culler_stops_it(pki: Pki) -> None:
    routes = launched_server_routes()
    routes[f"POST {SERVER_API}/shutdown"] = (403, {"message": "Forbidden"})
    with serve(routes, pki.good) as server:
        server.routes[BUILD] = ready(server)
        code, out = run(server, "--launch", LAUNCH, cafile=pki.ca)
    assert code == 1
    assert ('FAIL  launched server shut down: HTTP 403, {"message": "Forbidden"} '
            "(JupyterHub's culler will stop it)") in out
    assert TOKEN not in out


def test_the_token_is_never_sent_to_another_host(pki: Pki) -> None:
    """A ready event naming a server elsewhere than the hub: neither request is made."""
    with serve(launched_server_routes(), pki.good) as server:
        server.routes[BUILD] = ready(server, host="elsewhere.example.org")
        code, out = run(server, "--launch", LAUNCH, cafile=pki.ca)
    assert code == 1
    port = server.server_address[1]
    assert (f"FAIL  launched server /api: the server URL https://elsewhere.example.org:{port}"
            f"/user/x/ is not on the hub's host https://localhost:{port}: its token is not "
            "sent there") in out
    assert "FAIL  launched server shut down: not tried: the server URL" in out
    assert SERVER_API not in server.hits
    assert all(auth is None for _, auth in server.auth)


def test_a_ready_event_without_a_token_fails(pki: Pki) -> None:
    with serve(launched_server_routes(), pki.good) as server:
        stream = sse(*READY_STEPS, {"phase": "ready", "url": "https://localhost/user/x/"})
        server.routes[BUILD] = stream
        code, out = run(server, "--launch", LAUNCH, cafile=pki.ca)
    assert code == 1
    assert "FAIL  launched server /api: the ready event named no server URL and token" in out
    assert SERVER_API not in server.hits


def test_failing_health_endpoint_fails_and_names_the_broken_dependency(pki: Pki) -> None:
    unhealthy = {
        "ok": False,
        "checks": [
            {"service": "JupyterHub API", "ok": False},
            {"service": "Docker registry", "ok": True},
        ],
    }
    routes = healthy_routes(__health=(503, unhealthy), __hub__health=(502, "Bad Gateway"))
    with serve(routes, pki.good) as server:
        code, out = run(server, cafile=pki.ca)
    assert code == 1
    assert "FAIL  BinderHub /health: HTTP 503, failing: JupyterHub API" in out
    assert "FAIL  JupyterHub /hub/health: HTTP 502, Bad Gateway" in out
    assert "PASS  BinderHub /versions" in out
    assert out.splitlines()[-1] == "Result: FAIL (2 of 4 checks passed)"


def test_health_ok_false_with_status_200_is_a_failure(pki: Pki) -> None:
    routes = healthy_routes(__health=(200, {"ok": False, "checks": [
        {"service": "Pod quota", "ok": False}]}))
    with serve(routes, pki.good) as server:
        code, out = run(server, cafile=pki.ca)
    assert code == 1
    assert "FAIL  BinderHub /health: HTTP 200, failing: Pod quota" in out


def test_failing_check_is_retried_a_bounded_number_of_times(pki: Pki) -> None:
    with serve(healthy_routes(__versions=(500, "boom")), pki.good) as server:
        url = f"https://localhost:{server.server_address[1]}"
        out = io.StringIO()
        code = smoke.main(
            ["--binder-url", url, "--hub-url", url, "--cafile", str(pki.ca),
             "--attempts", "3", "--retry-delay", "0"],
            out=out,
        )
    assert code == 1
    assert server.hits.count("/versions") == 3
    assert server.hits.count("/health") == 1  # passing checks are not repeated
    assert "FAIL  BinderHub /versions: HTTP 500, boom [3 attempts]" in out.getvalue()


def test_hostname_mismatch_is_caught(pki: Pki) -> None:
    with serve(healthy_routes(), pki.wrong) as server:
        code, out = run(server, cafile=pki.ca)
    assert code == 1
    port = server.server_address[1]
    assert f"FAIL  TLS localhost:{port}: certificate rejected: Hostname mismatch" in out
    assert "FAIL  BinderHub /health: certificate rejected: Hostname mismatch" in out
    assert "PASS" not in out


def test_untrusted_certificate_is_caught(pki: Pki) -> None:
    # No --cafile: the system CAs do not know the test CA.
    with serve(healthy_routes(), pki.good) as server:
        code, out = run(server)
    assert code == 1
    port = server.server_address[1]
    tls_line = next(line for line in out.splitlines() if line.startswith("FAIL  TLS"))
    assert tls_line.startswith(f"FAIL  TLS localhost:{port}: certificate rejected: ")
    assert "issuer" in tls_line or "self-signed" in tls_line or "self signed" in tls_line
    assert "PASS" not in out


def test_certificate_close_to_expiry_fails(pki: Pki) -> None:
    with serve(healthy_routes(), pki.good) as server:
        code, out = run(server, "--min-cert-days", "60", cafile=pki.ca)
    assert code == 1
    assert "fewer than 60 days left -- is renewal failing?" in out


def test_ip_address_hostname_is_verified_too(pki: Pki) -> None:
    with serve(healthy_routes(), pki.good) as server:
        code, out = run(server, host="127.0.0.1", cafile=pki.ca)
    assert code == 0, out


def test_plain_http_skips_tls_only(pki: Pki) -> None:
    with serve(healthy_routes(), None) as server:
        code, out = run(server, scheme="http")
    assert code == 0, out
    assert "SKIP  TLS http://localhost:" in out
    assert "Result: PASS (3 of 3 checks passed)" in out


def test_failed_build_fails_with_its_message(pki: Pki) -> None:
    stream = sse(
        {"phase": "waiting", "message": "Waiting for build to start..."},
        {"phase": "building", "message": "Step 1/3 : FROM python:3.12\n"},
        {"phase": "failed", "message": "Error during build: no such file: environment.yml\n"},
        # Anything after `failed` must not turn the result around.
        {"phase": "ready", "url": "https://localhost/user/x/", "token": TOKEN},
    )
    with serve(healthy_routes(**{BUILD.replace("/", "__"): stream}), pki.good) as server:
        code, out = run(
            server, "--launch", "gh/binderhub-ci-repos/cached-minimal-dockerfile/HEAD",
            cafile=pki.ca,
        )
    assert code == 1
    assert (
        f"FAIL  launch {BUILD}: build failed: Error during build: no such file: environment.yml"
        in out
    )
    assert "Result: FAIL (4 of 5 checks passed)" in out
    assert TOKEN not in out


def test_launch_timeout_is_bounded(pki: Pki) -> None:
    stream = sse({"phase": "waiting", "message": "Waiting for build to start..."})
    stream += heartbeats(4.0)  # keeps the stream alive longer than the timeout, then ends
    with serve(healthy_routes(**{BUILD.replace("/", "__"): stream}), pki.good) as server:
        start = time.monotonic()
        code, out = run(
            server, "--launch", "binderhub-ci-repos/cached-minimal-dockerfile",
            "--launch-timeout", "1", cafile=pki.ca,
        )
        took = time.monotonic() - start
    assert code == 1
    assert (
        f"FAIL  launch {BUILD}: no 'ready' within 1 s (last phase: waiting, last message: "
        "Waiting for build to start...)" in out
    )
    assert took < 3.5, f"the launch should give up after ~1 s, took {took:.1f} s"


def test_silent_stream_times_out_too(pki: Pki) -> None:
    stream: list[tuple[float, str]] = [(3.0, ": too late\n\n")]
    with serve(healthy_routes(**{BUILD.replace("/", "__"): stream}), pki.good) as server:
        code, out = run(
            server, "--launch", "binderhub-ci-repos/cached-minimal-dockerfile",
            "--launch-timeout", "0.5", cafile=pki.ca,
        )
    assert code == 1
    assert f"FAIL  launch {BUILD}: no 'ready' within 0.5 s (last phase: none)" in out


def test_stream_ending_without_ready_fails(pki: Pki) -> None:
    stream = sse({"phase": "building", "message": "Step 1/2"})
    with serve(healthy_routes(**{BUILD.replace("/", "__"): stream}), pki.good) as server:
        code, out = run(
            server, "--launch", "binderhub-ci-repos/cached-minimal-dockerfile", cafile=pki.ca
        )
    assert code == 1
    assert "the event stream ended in phase 'building' without 'ready'" in out


def test_unknown_repository_answers_http_error(pki: Pki) -> None:
    with serve(healthy_routes(), pki.good) as server:
        code, out = run(server, "--launch", "nobody/nothing/main", cafile=pki.ca)
    assert code == 1
    assert "FAIL  launch /build/gh/nobody/nothing/main: HTTP 404" in out


def _free_port() -> int:
    """A loopback port where nothing listens (connections are refused)."""
    with serve({}, None) as server:
        return int(server.server_address[1])


def test_refused_connection_fails_at_once_and_is_not_retried() -> None:
    """Default --attempts 3 and --retry-delay 5: still done in well under a second or two."""
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    out = io.StringIO()
    start = time.monotonic()
    code = smoke.main(["--binder-url", url, "--hub-url", url], out=out)
    took = time.monotonic() - start
    assert code == 1
    assert took < 3, f"a refused connection took {took:.1f} s"
    lines = out.getvalue().splitlines()
    assert (
        f"FAIL  TLS 127.0.0.1:{port}: no TLS connection: 127.0.0.1 refuses the connection "
        "[1 attempt; waiting would not help]"
    ) in lines
    for name in ("BinderHub /health", "BinderHub /versions", "JupyterHub /hub/health"):
        assert (
            f"FAIL  {name}: not tried: 127.0.0.1 refuses the connection (see above) [not tried]"
        ) in lines
    assert lines[-1] == "Result: FAIL (0 of 4 checks passed)"


def test_a_host_that_does_not_resolve_is_tried_once(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolution of the dead name is refused locally (no DNS query leaves the machine); the
    other host, a local server, is still checked."""
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "binder.invalid":
            lookups.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with serve(healthy_routes(), pki.good) as server:
        hub = f"https://localhost:{server.server_address[1]}"
        out = io.StringIO()
        start = time.monotonic()
        code = smoke.main(
            ["--binder-url", "https://binder.invalid", "--hub-url", hub, "--cafile",
             str(pki.ca), "--launch", "owner/repo"],
            out=out,
        )
        took = time.monotonic() - start
    text = out.getvalue()
    assert code == 1
    assert lookups == ["binder.invalid"], "the dead name was looked up more than once"
    assert took < 3, text
    assert (
        "FAIL  TLS binder.invalid:443: no TLS connection: binder.invalid does not resolve "
        "(Name or service not known) [1 attempt; waiting would not help]"
    ) in text
    assert "FAIL  BinderHub /versions: not tried: binder.invalid does not resolve" in text
    assert "FAIL  launch /build/gh/owner/repo/HEAD: not tried: binder.invalid" in text
    assert "PASS  JupyterHub /hub/health: HTTP 200" in text
    assert server.hits == ["/hub/health"]


def test_a_silent_host_times_out_once(pki: Pki) -> None:
    """Accepts connections (the kernel's backlog) but never answers the TLS handshake."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        url = f"https://127.0.0.1:{port}"
        out = io.StringIO()
        start = time.monotonic()
        code = smoke.main(
            ["--binder-url", url, "--hub-url", url, "--timeout", "0.5", "--retry-delay", "5"],
            out=out,
        )
        took = time.monotonic() - start
    assert code == 1
    assert took < 3, out.getvalue()
    assert "did not answer within 0.5 s [1 attempt; waiting would not help]" in out.getvalue()
    assert out.getvalue().count("[not tried]") == 3


def test_a_5xx_is_retried_until_the_service_settles(pki: Pki) -> None:
    settling = Answers((503, "no healthy upstream"), (502, "Bad Gateway"), (200, HEALTHY))
    with serve(healthy_routes(__health=settling), pki.good) as server:
        code, out = run(server, "--attempts", "3", "--retry-delay", "0", cafile=pki.ca)
    assert code == 0, out
    assert (
        "PASS  BinderHub /health: ok (JupyterHub API, Docker registry, Pod quota) "
        "[passed at attempt 3]"
    ) in out.splitlines()
    assert server.hits.count("/health") == 3


def test_a_4xx_is_not_retried(pki: Pki) -> None:
    with serve(healthy_routes(__versions=(404, "not found")), pki.good) as server:
        code, out = run(server, "--attempts", "3", "--retry-delay", "0", cafile=pki.ca)
    assert code == 1
    assert server.hits.count("/versions") == 1
    assert (
        "FAIL  BinderHub /versions: HTTP 404, not found [1 attempt; waiting would not help]"
    ) in out.splitlines()


def test_a_certificate_not_yet_issued_is_retried(pki: Pki) -> None:
    """The ingress serves another certificate until cert-manager has the real one."""
    with serve(healthy_routes(), pki.wrong) as server:
        code, out = run(server, "--attempts", "2", "--retry-delay", "0", cafile=pki.ca)
    assert code == 1
    port = server.server_address[1]
    assert (
        f"FAIL  TLS localhost:{port}: certificate rejected: Hostname mismatch, certificate is "
        "not valid for 'localhost'. [2 attempts]"
    ) in out.splitlines()


# --------------------------------------------------------------------------------------
# Locating the service
# --------------------------------------------------------------------------------------


def test_urls_from_an_outputs_file(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({
        "binder_url": "https://binder.example.org/", "hub_host": "hub.example.org",
        "kubeconfig": "[secret]",
    }))
    target = smoke.locate("ebi", outputs, None, None)
    assert target == smoke.Target(
        "https://binder.example.org", "https://hub.example.org", str(outputs)
    )


def test_command_line_overrides_outputs(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"binder_url": "https://a.example", "hub_url": "https://b"}))
    target = smoke.locate(None, outputs, "https://c.example", None)
    assert (target.binder_url, target.hub_url) == ("https://c.example", "https://b")


def test_stack_file_is_the_fallback_when_the_stack_exports_no_urls() -> None:
    calls: list[str] = []

    def outputs(stack: str) -> tuple[dict[str, Any], str | None]:
        calls.append(stack)
        return {"cluster_name": "binder-ebi", "kubeconfig": "[secret]"}, None

    target = smoke.locate("ebi", None, None, None, read_outputs=outputs)
    assert calls == ["ebi"]
    assert target.binder_url == "https://binder.ebi.example.org"
    assert target.hub_url == "https://hub.binder.ebi.example.org"
    assert target.source == (
        "Pulumi.ebi.yaml, as a fallback: no binder_url/hub_url in the outputs of stack ebi"
    )
    # `tls.source: none` means plain http.
    local = smoke.locate("local", None, None, None, read_outputs=lambda s: ({}, "x"))
    assert local.binder_url == "http://binder.127.0.0.1.nip.io"


def test_fallback_report_says_why_the_stack_outputs_were_not_used() -> None:
    target = smoke.locate(
        "acme/ebi", None, None, None,
        read_outputs=lambda s: ({}, "the Pulumi CLI is not installed"),
    )
    assert target.source == (
        "Pulumi.ebi.yaml, as a fallback: the stack outputs are unavailable: "
        "the Pulumi CLI is not installed"
    )
    # Only the missing URL falls back; the one the outputs have is used.
    half = smoke.locate(
        "ebi", None, None, None,
        read_outputs=lambda s: ({"binder_url": "https://deployed.example.org"}, None),
    )
    assert half.binder_url == "https://deployed.example.org"
    assert half.hub_url == "https://hub.binder.ebi.example.org"
    assert half.source == (
        "the outputs of stack ebi, Pulumi.ebi.yaml, as a fallback: "
        "no hub_url in the outputs of stack ebi"
    )


def test_outputs_are_used_when_readable() -> None:
    target = smoke.locate(
        "ebi", None, None, None, allow_fallback=False,
        read_outputs=lambda s: (
            {"binder_url": "https://b.example.org", "hub_url": "https://h.example.org"}, None
        ),
    )
    assert (target.binder_url, target.hub_url) == ("https://b.example.org", "https://h.example.org")
    assert target.source == "the outputs of stack ebi"


@pytest.mark.parametrize(
    ("outputs", "why"),
    [
        (({}, "`pulumi stack output --stack ebi` failed: error: no stack named 'ebi' found"),
         "the stack outputs are unavailable: `pulumi stack output --stack ebi` failed: "
         "error: no stack named 'ebi' found"),
        (({"cluster_name": "binder-ebi"}, None),
         "no binder_url/hub_url in the outputs of stack ebi"),
    ],
)
def test_fallback_can_be_refused(
    outputs: tuple[dict[str, Any], str | None], why: str
) -> None:
    with pytest.raises(smoke.UsageError) as info:
        smoke.locate("ebi", None, None, None, read_outputs=lambda s: outputs, allow_fallback=False)
    message = str(info.value)
    assert message.startswith(f"cannot tell where the service is: {why}. ")
    assert "Not falling back to the hostnames in Pulumi.ebi.yaml" in message
    assert "--allow-stack-file-fallback" in message


def test_in_ci_a_failing_pulumi_stack_output_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No request is made: the service cannot be located (exit 2) before any check."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    out = io.StringIO()
    assert smoke.main(["ebi"], out=out) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: cannot tell where the service is: the stack outputs are unavailable: "
        "the Pulumi CLI is not installed. Not falling back"
    )
    assert out.getvalue() == ""
    # Outside CI the same is refused on request.
    monkeypatch.delenv("CI")
    assert smoke.main(["ebi", "--no-stack-file-fallback"], out=out) == 2
    assert "Not falling back to the hostnames in Pulumi.ebi.yaml" in capsys.readouterr().err


def test_fallback_flags_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        smoke.main(["ebi", "--allow-stack-file-fallback", "--no-stack-file-fallback"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("", False),
     ("false", False), ("0", False)],
)
def test_in_ci(value: str, expected: bool) -> None:
    assert smoke.in_ci({"CI": value}) is expected
    assert smoke.in_ci({}) is False


def test_pulumi_cli_missing_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    outputs, why = smoke.pulumi_outputs("ebi")
    assert outputs == {}
    assert why == "the Pulumi CLI is not installed"


def test_pulumi_cli_failure_names_the_command_and_its_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho 'some progress' >&2\necho 'error: no stack named ebi' >&2\n"
                    "exit 255\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    outputs, why = smoke.pulumi_outputs("ebi")
    assert outputs == {}
    assert why == "`pulumi stack output --stack ebi` failed: error: no stack named ebi"
    fake.write_text("#!/bin/sh\necho '{\"binder_url\": \"https://b.example.org\"}'\n")
    assert smoke.pulumi_outputs("ebi") == ({"binder_url": "https://b.example.org"}, None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--attempts", "11"], "argument --attempts: 11 is outside 1..10"),
        (["--attempts", "0"], "argument --attempts: 0 is outside 1..10"),
        (["--attempts", "many"], "argument --attempts: 'many' is not a whole number"),
        (["--retry-delay", "-1"], "argument --retry-delay: -1 is outside 0..600 seconds"),
        (["--retry-delay", "nan"], "argument --retry-delay: nan is outside 0..600 seconds"),
    ],
)
def test_out_of_range_retries_are_refused_not_capped(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        smoke.main(["--binder-url", "https://a", "--hub-url", "https://b", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_documents_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        smoke.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "certificate not issued yet), 1 to 10 (default 3); a larger value is refused" in text
    assert "DNS failures, refused connections and timeouts are never retried" in text
    assert "--allow-stack-file-fallback" in text
    assert "even in CI (CI=true)" in text


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert smoke.main(
        ["--binder-url", "file:///etc/passwd", "--hub-url", "https://b"], out=io.StringIO()
    ) == 2
    assert "'file:///etc/passwd' is not an http(s) URL with a hostname" in capsys.readouterr().err
    assert smoke.main([], out=io.StringIO()) == 2
    assert "give a stack" in capsys.readouterr().err
    assert smoke.main(
        ["--binder-url", "https://a", "--hub-url", "https://b", "--launch", "justone"],
        out=io.StringIO(),
    ) == 2
    assert "expected owner/repo" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert smoke.main(["--outputs-json", str(bad)], out=io.StringIO()) == 2
    assert "cannot read JSON" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert smoke.main(["--outputs-json", str(empty)], out=io.StringIO()) == 2
    assert "set --binder-url and --hub-url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ("owner/repo", "/build/gh/owner/repo/HEAD"),
        ("gh/owner/repo/v1.0", "/build/gh/owner/repo/v1.0"),
        ("owner/repo/feature/x", "/build/gh/owner/repo/feature%2Fx"),
    ],
)
def test_build_path(spec: str, path: str) -> None:
    assert smoke.build_path(spec) == path


def test_sse_parser_joins_data_lines_and_skips_comments() -> None:
    raw = io.BytesIO(
        b": hello\n\ndata: {\"phase\":\ndata:  \"ready\"}\n\ndata: not json\n\n"
    )
    events = list(smoke.sse_events(raw, time.monotonic() + 5))
    assert events == [{"phase": "ready"}, {"phase": "unparsed", "message": "not json"}]


def test_staging_certificate_is_reported_with_its_issuer(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A stack on binder:tls.issuer staging: the check names the staging issuer and the way
    to production, instead of a bare verification error."""
    d = tmp_path_factory.mktemp("staging")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-sha256",
        "-subj", "/O=(STAGING) Let's Encrypt/CN=(STAGING) Counterfeit Cashew R10",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d,
    )
    staging = _leaf(d, "leaf", "localhost", "DNS:localhost,IP:127.0.0.1")
    with serve(healthy_routes(), staging) as server:
        code, out = run(server)
    assert code == 1
    tls_line = next(line for line in out.splitlines() if line.startswith("FAIL  TLS"))
    assert "issued by (STAGING) Let's Encrypt" in tls_line
    assert "make tls-production" in tls_line


def test_an_ordinary_untrusted_certificate_is_not_called_staging(pki: Pki) -> None:
    with serve(healthy_routes(), pki.good) as server:
        _, out = run(server)
    assert "STAGING" not in out


def test_outside_checks_take_the_public_names_of_the_stack_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No credentials, no Pulumi CLI, even in CI: the names users reach."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", "/nonexistent")
    target = smoke.hosts_of_stack_file("acme/gcp")
    assert target == smoke.Target(
        "https://binder.gcp.example.org", "https://hub.binder.gcp.example.org",
        "Pulumi.gcp.yaml (its public names, --hosts-from-stack-file)",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--hosts-from-stack-file"], "--hosts-from-stack-file takes a stack"),
     (["ebi", "--hosts-from-stack-file", "--binder-url", "https://x"],
      "--hosts-from-stack-file takes a stack and no --outputs-json"),
     (["no-such-stack", "--hosts-from-stack-file"],
      "--hosts-from-stack-file: Pulumi.no-such-stack.yaml does not exist")],
)
def test_hosts_from_stack_file_refuses_what_it_cannot_use(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke.main(argv, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err
