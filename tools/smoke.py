"""Smoke test of a deployed BinderHub: is the public service up, and does it launch?

    python -m tools.smoke ebi                      # or: make smoke STACK=ebi
    python -m tools.smoke ebi --launch binderhub-ci-repos/cached-minimal-dockerfile
    python -m tools.smoke --binder-url https://mybinder.example.org --hub-url https://hub.example.org

Where the service is: ``--binder-url``/``--hub-url`` if given, else the stack outputs
(``pulumi stack output --json --stack <stack>``, or ``--outputs-json FILE`` holding that
JSON) under ``binder_url``/``hub_url`` (or ``*_host``), else -- as a fallback, said so in the
report -- the hostnames of ``binder:binderhub`` in ``Pulumi.<stack>.yaml``. Those say what
*should* be deployed, not what is, so in CI (``CI=true``, as GitHub Actions sets it) or with
``--no-stack-file-fallback`` that fallback is an error unless ``--allow-stack-file-fallback``.
``--hosts-from-stack-file`` takes those public names on purpose, never the outputs: the
scheduled outside checks (``outside.yml``) test the service as users reach it, with no
credentials at all.

Checks, each PASS or FAIL with the reason:

* TLS of each https host: the certificate chain verifies against the system CAs (or
  ``--cafile``), matches the hostname, and is valid for at least ``--min-cert-days`` more
  days -- Let's Encrypt certificates are renewed 30 days ahead, so fewer means renewal is
  failing (https://cert-manager.io/docs/usage/certificate/#renewal);
* BinderHub ``/health`` answers 200 with ``"ok": true`` (its JSON lists each dependency it
  checked: the hub API, the registry, the pod quota);
* BinderHub ``/versions`` answers 200 with the BinderHub version;
* JupyterHub ``/hub/health`` answers 200;
* with ``--launch owner/repo[/ref]``, a real launch through BinderHub's build API
  (``/build/gh/<owner>/<repo>/<ref>``, a server-sent event stream of ``{"phase": ...}``
  events): success on ``phase: ready``, failure on ``phase: failed`` or after
  ``--launch-timeout`` seconds. https://binderhub.readthedocs.io/en/latest/api.html
  Then the launched server itself, with the token of the ``ready`` event (sent only to the
  hub's own scheme and host): ``GET <server>/api`` answers 200 with the Jupyter server's
  ``version``, and ``POST <server>/api/shutdown`` stops it (200), so a check leaves no
  server behind -- as mybinder.org's launch test does
  (https://github.com/jupyterhub/mybinder.org-deploy/blob/main/tests/test_launch.py,
  https://jupyter-server.readthedocs.io/en/latest/developers/rest-api.html). The shutdown
  is tried whenever a server was started, even if ``/api`` failed.

Retries: only an answer that can change by waiting is tried again (``--attempts`` times,
``--retry-delay`` apart): an HTTP 5xx (a pod still starting behind the ingress) and a
certificate that does not verify (cert-manager has not issued it yet; until then the ingress
serves its own default certificate). A host that does not resolve, refuses the connection,
is unreachable or does not answer within ``--timeout`` fails at once, and every later check
of the same host is reported as not tried rather than waited for again; so is an HTTP 4xx or
a malformed answer. Each FAIL line ends with how many attempts it took.

Standard library only. Every loop is bounded (attempts, events, a deadline); the server token
in the ``ready`` event is never printed. Exit status: 0 all passed, 1 a check failed, 2 bad
usage (the service could not even be located).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.config.yaml_input import YamlInputError, read_stack_config

REPO = Path(__file__).resolve().parent.parent
USER_AGENT = "binder-smoke/1 (+tools/smoke.py)"

BINDER_KEYS = ("binder_url", "binderhub_url", "binderUrl", "binder_host", "binderhub_host")
HUB_KEYS = ("hub_url", "jupyterhub_url", "hubUrl", "hub_host", "jupyterhub_host")

#: Upper bounds that keep every loop finite whatever the server does.
MAX_EVENTS = 20_000
MAX_LINE = 1 << 20
PULUMI_TIMEOUT = 120
#: Most tries per check, and longest pause between two (``--attempts``, ``--retry-delay``):
#: a run of the 4 checks waits at most 4 x 9 x 600 s, whatever is asked.
MAX_ATTEMPTS = 10
MAX_RETRY_DELAY = 600.0


class UsageError(Exception):
    """The service cannot be located: exit status 2."""


# --------------------------------------------------------------------------------------
# Where the service is
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    binder_url: str
    hub_url: str
    source: str
    """Where the URLs came from, for the report."""


def _as_url(value: str, scheme: str = "https") -> str:
    value = value.strip().rstrip("/")
    return value if "://" in value else f"{scheme}://{value}"


def _first(outputs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = outputs.get(key)
        if isinstance(value, str) and value and value != "[secret]":
            return value
    return None


def pulumi_outputs(stack: str) -> tuple[dict[str, Any], str | None]:
    """``pulumi stack output --json`` (secrets stay masked): ``(outputs, None)``, or
    ``({}, why)`` when they cannot be read, ``why`` completing "the stack outputs are
    unavailable: ..."."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return {}, "the Pulumi CLI is not installed"
    try:
        proc = subprocess.run(
            [pulumi, "stack", "output", "--json", "--stack", stack],
            capture_output=True, text=True, timeout=PULUMI_TIMEOUT, check=False,
            stdin=subprocess.DEVNULL, cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        return {}, f"`pulumi stack output` did not answer within {PULUMI_TIMEOUT} s"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return {}, f"`pulumi stack output --stack {stack}` failed: {last}"
    try:
        data = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        return {}, "`pulumi stack output --json` did not print JSON"
    if not isinstance(data, dict):
        return {}, "`pulumi stack output --json` did not print a JSON object"
    return data, None


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """``CI`` is set to a true value, as GitHub Actions and most CI systems do."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in {"true", "1", "yes"}


def stack_file(stack: str) -> Path:
    """``Pulumi.<stack>.yaml`` of a stack name, also of ``org/stack``."""
    return REPO / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml"


def stack_file_hosts(stack: str) -> tuple[str | None, str | None, str]:
    """``binder:binderhub.host``/``hubHost`` of ``Pulumi.<stack>.yaml`` as URLs."""
    path = stack_file(stack)
    if not path.is_file():
        return None, None, f"{path.name} does not exist"
    try:
        config = read_stack_config(path)
    except YamlInputError as exc:  # one line naming the file, line and column
        raise UsageError(str(exc)) from None
    binderhub = config.get("binder:binderhub") or {}
    tls = config.get("binder:tls") or {}
    scheme = "http" if isinstance(tls, dict) and tls.get("source") == "none" else "https"
    host, hub = binderhub.get("host"), binderhub.get("hubHost")
    return (
        _as_url(host, scheme) if isinstance(host, str) else None,
        _as_url(hub, scheme) if isinstance(hub, str) else None,
        path.name,
    )


def hosts_of_stack_file(stack: str) -> Target:
    """The public names of ``Pulumi.<stack>.yaml``, on purpose: what the scheduled outside
    checks test, as users reach the service, without credentials or state."""
    if not stack_file(stack).is_file():
        raise UsageError(f"--hosts-from-stack-file: {stack_file(stack).name} does not exist")
    binder, hub, name = stack_file_hosts(stack)
    if not binder or not hub:
        raise UsageError(
            f"--hosts-from-stack-file: {name} sets no binder:binderhub.host and hubHost"
        )
    return Target(binder, hub, f"{name} (its public names, --hosts-from-stack-file)")


def locate(
    stack: str | None,
    outputs_json: Path | None,
    binder_url: str | None,
    hub_url: str | None,
    read_outputs: Callable[[str], tuple[dict[str, Any], str | None]] = pulumi_outputs,
    allow_fallback: bool = True,
) -> Target:
    """Where the service is (see the module docstring for the order).

    ``allow_fallback=False``: raise :class:`UsageError` rather than take hostnames from
    ``Pulumi.<stack>.yaml`` when the outputs cannot be read or lack the URLs.
    """
    sources: list[str] = []
    if binder_url or hub_url:
        sources.append("command line")
    if not (binder_url and hub_url):
        outputs: dict[str, Any] = {}
        problem: str | None = None
        if outputs_json is not None:
            try:
                outputs = json.loads(outputs_json.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise UsageError(
                    f"--outputs-json {outputs_json}: cannot read JSON ({exc})"
                ) from None
            where = str(outputs_json)
        elif stack:
            outputs, problem = read_outputs(stack)
            where = f"the outputs of stack {stack}"
        else:
            raise UsageError(
                "give a stack (python -m tools.smoke <stack>), --outputs-json FILE, or both "
                "--binder-url and --hub-url"
            )
        found_binder, found_hub = _first(outputs, BINDER_KEYS), _first(outputs, HUB_KEYS)
        if (found_binder and not binder_url) or (found_hub and not hub_url):
            sources.append(where)
        binder_url = binder_url or (found_binder and _as_url(found_binder))
        hub_url = hub_url or (found_hub and _as_url(found_hub))
        if not (binder_url and hub_url) and stack:
            missing = "/".join(
                key for key, value in (("binder_url", binder_url), ("hub_url", hub_url))
                if not value
            )
            why = (
                f"the stack outputs are unavailable: {problem}" if problem
                else f"no {missing} in {where}"
            )
            if not allow_fallback:
                raise UsageError(
                    f"cannot tell where the service is: {why}. Not falling back to the "
                    f"hostnames in {stack_file(stack).name}: they say what should be "
                    "deployed, not what is "
                    "(refused in CI and with --no-stack-file-fallback). Fix the stack "
                    "outputs (Pulumi CLI, backend, credentials), give --binder-url and "
                    "--hub-url, or pass --allow-stack-file-fallback"
                )
            file_binder, file_hub, name = stack_file_hosts(stack)
            if (file_binder and not binder_url) or (file_hub and not hub_url):
                sources.append(f"{name}, as a fallback: {why}")
            binder_url = binder_url or file_binder
            hub_url = hub_url or file_hub
    if not binder_url or not hub_url:
        missing = " and ".join(
            n for n, v in (("--binder-url", binder_url), ("--hub-url", hub_url)) if not v
        )
        raise UsageError(
            f"cannot tell where the service is: set {missing}, or export binder_url/hub_url "
            "from the stack, or set binder:binderhub.host/hubHost in Pulumi.<stack>.yaml"
        )
    target = Target(_as_url(binder_url), _as_url(hub_url), ", ".join(sources))
    for url in (target.binder_url, target.hub_url):
        parts = urllib.parse.urlsplit(url)
        # Only http(s) is ever opened (urllib would also open file: and ftp: URLs).
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{url!r} is not an http(s) URL with a hostname")
    return target


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    skipped: bool = False
    retryable: bool = False
    """The failure can change by waiting (an HTTP 5xx, a certificate not issued yet)."""
    host_down: str | None = None
    """Why the host cannot be reached at all (does not resolve, refuses, no answer): later
    checks of the same host are not tried."""
    attempts: int = 1

    def line(self) -> str:
        status = "SKIP" if self.skipped else ("PASS" if self.ok else "FAIL")
        text = f"{status}  {self.name}: {self.detail}"
        if self.skipped:
            return text
        if not self.ok:
            if self.attempts == 0:
                return f"{text} [not tried]"
            tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
            return f"{text} [{tries}{'' if self.retryable else '; waiting would not help'}]"
        return f"{text} [passed at attempt {self.attempts}]" if self.attempts > 1 else text


@dataclass
class Options:
    cafile: str | None = None
    timeout: float = 10.0
    attempts: int = 3
    retry_delay: float = 5.0
    min_cert_days: int = 7
    launch: str | None = None
    launch_timeout: float = 600.0
    out: TextIO = field(default_factory=lambda: sys.stdout)


def ssl_context(cafile: str | None) -> ssl.SSLContext:
    """Default verification (chain + hostname); ``cafile`` replaces the system CAs."""
    return ssl.create_default_context(cafile=cafile)


def _name(parts: Any, key: str) -> str:
    for rdn in parts or ():
        for k, v in rdn:
            if k == key:
                return str(v)
    return "?"


#: Network errors that say the host cannot be reached at all; seconds of waiting will not
#: change them (a new DNS record or a load balancer takes minutes, and the next deploy's
#: smoke run will see it).
_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN}


def host_down(exc: BaseException, host: str, timeout: float) -> str | None:
    """Why ``host`` cannot be reached at all, or None when ``exc`` is something else."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        if not isinstance(exc.reason, BaseException):
            return None
        exc = exc.reason
    if isinstance(exc, socket.gaierror):
        return f"{host} does not resolve ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{host} refuses the connection"
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return f"{host} did not answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return f"{host} is unreachable ({exc.strerror})"
    return None


def _cert_rejected(name: str, exc: ssl.SSLCertVerificationError) -> Check:
    # Retried: until cert-manager has the certificate, the ingress serves its own default
    # (self-signed) one. https://cert-manager.io/docs/usage/certificate/
    return Check(name, False, f"certificate rejected: {exc.verify_message}", retryable=True)


def check_tls(url: str, opts: Options) -> Check:
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "", parsed.port or 443
    name = f"TLS {host}:{port}"
    try:
        with (
            socket.create_connection((host, port), timeout=opts.timeout) as sock,
            ssl_context(opts.cafile).wrap_socket(sock, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert()
    except ssl.SSLCertVerificationError as exc:
        staging = _staging_issuer(host, port, opts)
        if staging:
            # Not retried: a staging certificate stays one until the stack is switched.
            return Check(
                name, False,
                f"certificate rejected: issued by {staging}, Let's Encrypt's STAGING "
                "environment (binder:tls.issuer: staging), which browsers do not trust. Once "
                "the names resolve to the ingress: make tls-production STACK=<stack>, then "
                "make up",
            )
        return _cert_rejected(name, exc)
    except (ssl.SSLError, OSError) as exc:
        down = host_down(exc, host, opts.timeout)
        return Check(name, False, f"no TLS connection: {down or exc}", host_down=down)
    if not cert:
        return Check(name, False, "the server sent no certificate")
    expires = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), dt.UTC)
    days = (expires - dt.datetime.now(dt.UTC)).days
    issuer = _name(cert.get("issuer"), "organizationName")
    if issuer == "?":
        issuer = _name(cert.get("issuer"), "commonName")
    detail = f"valid for {host}, issued by {issuer}, expires {expires:%Y-%m-%d} ({days} days)"
    if days < opts.min_cert_days:
        return Check(
            name, False,
            f"{detail}: fewer than {opts.min_cert_days} days left -- is renewal failing? "
            "(kubectl describe certificate -A)",
        )
    return Check(name, True, detail)


#: Let's Encrypt's staging hierarchy puts "(STAGING)" in every issuer name ("(STAGING) Let's
#: Encrypt", "(STAGING) Counterfeit Cashew R10", ...). https://letsencrypt.org/docs/staging-environment/
_STAGING = b"(STAGING)"
#: DER string tags an X.509 name is written with: UTF8String, PrintableString.
_DER_STRINGS = (0x0C, 0x13)


def _staging_issuer(host: str, port: int, opts: Options) -> str | None:
    """The staging issuer's name if the server's certificate is from Let's Encrypt staging.

    Only after verification failed: a second handshake that does not verify, to read the
    certificate the server sent (DER), in which the issuer names are plain strings."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=opts.timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True) or b""
    except (ssl.SSLError, OSError):
        return None
    at = der.find(_STAGING)
    if at < 2:
        return None
    # The name is a DER string: tag, one length byte (names are short), then the text.
    tag, length = der[at - 2], der[at - 1]
    if tag not in _DER_STRINGS:
        return _STAGING.decode()
    return der[at : at + length].decode("utf-8", "replace")


@dataclass
class Response:
    status: int
    body: bytes


def http_get(url: str, opts: Options, accept: str = "application/json") -> Response:
    # S310: every URL comes from a Target, whose scheme locate() limits to http(s).
    request = urllib.request.Request(  # noqa: S310
        url, headers={"User-Agent": USER_AGENT, "Accept": accept}
    )
    context = ssl_context(opts.cafile) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=opts.timeout, context=context
        ) as resp:
            return Response(resp.status, resp.read(MAX_LINE))
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, exc.read(MAX_LINE))


def _retrying(run: Callable[[], Check], opts: Options) -> Check:
    """Run a check up to ``opts.attempts`` times while it fails in a way that can change by
    waiting (a deploy may still be settling); anything else is final at once."""
    result, attempts = run(), 1
    while not result.ok and result.retryable and attempts < opts.attempts:
        time.sleep(opts.retry_delay)
        result, attempts = run(), attempts + 1
    result.attempts = attempts
    return result


def _fetch(name: str, url: str, opts: Options) -> tuple[Response | None, Check | None]:
    host = urllib.parse.urlsplit(url).hostname or url
    try:
        return http_get(url, opts), None
    except ssl.SSLCertVerificationError as exc:
        return None, _cert_rejected(name, exc)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return None, _cert_rejected(name, reason)
        down = host_down(exc, host, opts.timeout)
        return None, Check(name, False, f"cannot reach {url}: {down or reason}", host_down=down)
    except (OSError, ValueError) as exc:
        down = host_down(exc, host, opts.timeout)
        return None, Check(name, False, f"cannot reach {url}: {down or exc}", host_down=down)


def _http_failure(name: str, status: int, why: str) -> Check:
    """A wrong answer; a 5xx (a pod behind the ingress not ready yet) is worth retrying."""
    return Check(name, False, f"HTTP {status}, {why}", retryable=status >= 500)


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return (text[:200] + "...") if len(text) > 200 else text


def check_binder_health(binder_url: str, opts: Options) -> Check:
    name = "BinderHub /health"
    resp, failed = _fetch(name, f"{binder_url}/health", opts)
    if failed or resp is None:
        return failed or Check(name, False, "no answer")
    try:
        data = json.loads(resp.body)
    except json.JSONDecodeError:
        data = None
    checks = data.get("checks", []) if isinstance(data, dict) else []
    bad = [
        str(c.get("service", "?")) for c in checks if isinstance(c, dict) and not c.get("ok")
    ]
    if resp.status != 200 or not isinstance(data, dict) or data.get("ok") is not True:
        why = f"failing: {', '.join(bad)}" if bad else _snippet(resp.body) or "empty body"
        return _http_failure(name, resp.status, why)
    services = ", ".join(str(c.get("service", "?")) for c in checks if isinstance(c, dict))
    return Check(name, True, f"ok ({services or 'no dependency listed'})")


def check_binder_versions(binder_url: str, opts: Options) -> Check:
    name = "BinderHub /versions"
    resp, failed = _fetch(name, f"{binder_url}/versions", opts)
    if failed or resp is None:
        return failed or Check(name, False, "no answer")
    try:
        data = json.loads(resp.body)
    except json.JSONDecodeError:
        data = None
    if resp.status != 200 or not isinstance(data, dict) or "binderhub" not in data:
        return _http_failure(name, resp.status, _snippet(resp.body) or "empty body")
    builder = data.get("builder_info") or data.get("builder")
    extra = f", builder {json.dumps(builder, sort_keys=True)}" if builder else ""
    return Check(name, True, f"binderhub {data['binderhub']}{extra}")


def check_hub_health(hub_url: str, opts: Options) -> Check:
    name = "JupyterHub /hub/health"
    resp, failed = _fetch(name, f"{hub_url}/hub/health", opts)
    if failed or resp is None:
        return failed or Check(name, False, "no answer")
    if resp.status != 200:
        return _http_failure(name, resp.status, _snippet(resp.body) or "empty body")
    return Check(name, True, "HTTP 200")


# --------------------------------------------------------------------------------------
# A real launch through the build API
# --------------------------------------------------------------------------------------


def build_path(spec: str) -> str:
    """``owner/repo[/ref]`` (optionally ``gh/``-prefixed) -> ``/build/gh/owner/repo/ref``."""
    parts = [p for p in spec.strip().strip("/").split("/") if p]
    if parts and parts[0] == "gh":
        parts = parts[1:]
    if len(parts) < 2:
        raise UsageError(f"--launch {spec!r}: expected owner/repo or owner/repo/ref")
    owner, repo, ref = parts[0], parts[1], "/".join(parts[2:]) or "HEAD"
    quote = urllib.parse.quote
    return f"/build/gh/{quote(owner, safe='')}/{quote(repo, safe='')}/{quote(ref, safe='')}"


def sse_events(resp: Any, deadline: float) -> Any:
    """Yield the JSON ``data`` of each server-sent event until the deadline (bounded)."""
    data: list[str] = []
    for _ in range(MAX_EVENTS * 4):
        if time.monotonic() > deadline:
            raise TimeoutError
        raw = resp.readline(MAX_LINE)
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith(":"):  # a comment: BinderHub's keep-alive
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "" and data:
            payload = "\n".join(data)
            data = []
            try:
                yield json.loads(payload)
            except json.JSONDecodeError:
                yield {"phase": "unparsed", "message": payload[:200]}


@dataclass(frozen=True)
class LaunchedServer:
    """Where the launch's server runs and its token (kept in memory, never printed)."""

    url: str
    token: str = field(repr=False)


def check_launch(
    binder_url: str, spec: str, opts: Options
) -> tuple[Check, LaunchedServer | None]:
    """The build API's event stream until ``ready``; the server it started, if any."""
    path = build_path(spec)
    name = f"launch {path}"
    start = time.monotonic()
    deadline = start + opts.launch_timeout
    url = f"{binder_url}{path}"
    request = urllib.request.Request(  # noqa: S310 (http(s) only, see locate())
        url, headers={"User-Agent": USER_AGENT, "Accept": "text/event-stream"}
    )
    context = ssl_context(opts.cafile) if url.startswith("https://") else None
    # A silent stream is noticed after this long even if the deadline is further away.
    read_timeout = max(0.1, min(opts.launch_timeout, 60.0))
    phase, last_message = "none", ""
    try:
        with urllib.request.urlopen(  # noqa: S310 (http(s) only, see locate())
            request, timeout=read_timeout, context=context
        ) as resp:
            for event in sse_events(resp, deadline):
                if not isinstance(event, dict):
                    continue
                new_phase = str(event.get("phase", phase))
                message = str(event.get("message", "")).strip()
                if message:
                    last_message = message.splitlines()[-1][:300]
                if new_phase != phase:
                    phase = new_phase
                    print(f"      {time.monotonic() - start:6.1f}s  {phase}", file=opts.out)
                if phase == "ready":
                    where = str(event.get("url", "?"))  # never the token
                    took = time.monotonic() - start
                    token = event.get("token")
                    server = (
                        LaunchedServer(where, token)
                        if isinstance(token, str) and token and where != "?"
                        else None
                    )
                    return Check(name, True, f"ready after {took:.0f} s at {where}"), server
                if phase == "failed":
                    failed = f"build failed: {last_message or 'no message'}"
                    return Check(name, False, failed), None
    except urllib.error.HTTPError as exc:
        with exc:
            body = _snippet(exc.read(MAX_LINE))
        return Check(name, False, f"HTTP {exc.code}, {body or 'empty body'}"), None
    except TimeoutError:  # socket.timeout is an alias of it
        return Check(
            name, False,
            f"no 'ready' within {opts.launch_timeout:g} s (last phase: {phase}"
            + (f", last message: {last_message}" if last_message else "") + ")",
        ), None
    except urllib.error.URLError as exc:
        host = urllib.parse.urlsplit(url).hostname or url
        return Check(name, False, f"cannot reach {url}: "
                     f"{host_down(exc, host, read_timeout) or exc.reason}"), None
    except (ssl.SSLError, OSError) as exc:
        return Check(name, False, f"stream broken: {exc}"), None
    return Check(name, False, f"the event stream ended in phase '{phase}' without 'ready'"), None


def _server_base(server: LaunchedServer, hub_url: str) -> str | None:
    """The server's URL without its trailing slash, if it is on the hub's scheme and host
    (the token goes nowhere else); None otherwise."""
    ours, hub = urllib.parse.urlsplit(server.url), urllib.parse.urlsplit(hub_url)
    if (ours.scheme, ours.netloc) != (hub.scheme, hub.netloc):
        return None
    return server.url.rstrip("/")


def _server_request(url: str, token: str, opts: Options, method: str) -> Response:
    request = urllib.request.Request(  # noqa: S310 (the hub's own http(s) URL)
        url, method=method, data=b"" if method == "POST" else None,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json",
                 "Authorization": f"token {token}"},
    )
    context = ssl_context(opts.cafile) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(  # noqa: S310 (the hub's own http(s) URL)
            request, timeout=opts.timeout, context=context
        ) as resp:
            return Response(resp.status, resp.read(MAX_LINE))
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, exc.read(MAX_LINE))


def check_server_api(server: LaunchedServer, hub_url: str, opts: Options) -> Check:
    """``GET <server>/api`` with the launch's token: the Jupyter server answers."""
    name = "launched server /api"
    base = _server_base(server, hub_url)
    if base is None:
        return Check(name, False, f"the server URL {server.url} is not on the hub's host "
                     f"{hub_url}: its token is not sent there")
    try:
        resp = _server_request(f"{base}/api", server.token, opts, "GET")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check(name, False, f"cannot reach {base}/api: {exc}")
    try:
        data = json.loads(resp.body)
    except json.JSONDecodeError:
        data = None
    if resp.status != 200 or not isinstance(data, dict) or "version" not in data:
        return Check(name, False, f"HTTP {resp.status}, {_snippet(resp.body) or 'empty body'}")
    return Check(name, True, f"jupyter server {data['version']}")


def check_server_shutdown(server: LaunchedServer, hub_url: str, opts: Options) -> Check:
    """``POST <server>/api/shutdown`` with the launch's token: nothing is left running."""
    name = "launched server shut down"
    base = _server_base(server, hub_url)
    if base is None:
        return Check(name, False, f"not tried: the server URL {server.url} is not on the "
                     f"hub's host {hub_url} (JupyterHub's culler will stop it)")
    try:
        resp = _server_request(f"{base}/api/shutdown", server.token, opts, "POST")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check(name, False, f"cannot reach {base}/api/shutdown: {exc} "
                     "(JupyterHub's culler will stop it)")
    if resp.status != 200:
        return Check(name, False, f"HTTP {resp.status}, {_snippet(resp.body) or 'empty body'} "
                     "(JupyterHub's culler will stop it)")
    return Check(name, True, "HTTP 200")


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def run_checks(target: Target, opts: Options) -> list[Check]:
    out = opts.out
    checks: list[Check] = []
    #: host:port -> why it cannot be reached; its later checks are not tried.
    down: dict[str, str] = {}

    def record(name: str, url: str, run: Callable[[], Check], retry: bool = True) -> None:
        where = urllib.parse.urlsplit(url).netloc
        if where in down:
            check = Check(name, False, f"not tried: {down[where]} (see above)", attempts=0)
        else:
            check = _retrying(run, opts) if retry else run()
            if check.host_down:
                down[where] = check.host_down
        checks.append(check)
        print(check.line(), file=out, flush=True)

    hosts = dict.fromkeys(
        urllib.parse.urlsplit(u)._replace(path="", query="", fragment="").geturl()
        for u in (target.binder_url, target.hub_url)
    )
    for base in hosts:
        if base.startswith("https://"):
            parts = urllib.parse.urlsplit(base)

            def tls(base: str = base) -> Check:
                return check_tls(base, opts)

            record(f"TLS {parts.hostname}:{parts.port or 443}", base, tls)
        else:
            skip = Check(f"TLS {base}", True, "plain http: no certificate to check", True)
            checks.append(skip)
            print(skip.line(), file=out, flush=True)
    binder, hub = target.binder_url, target.hub_url
    record("BinderHub /health", binder, lambda: check_binder_health(binder, opts))
    record("BinderHub /versions", binder, lambda: check_binder_versions(binder, opts))
    record("JupyterHub /hub/health", hub, lambda: check_hub_health(hub, opts))
    if opts.launch:
        launch = opts.launch
        print(f"....  launching {launch} (up to {opts.launch_timeout:g} s)", file=out)
        launched: list[LaunchedServer] = []

        def start() -> Check:
            check, server = check_launch(binder, launch, opts)
            launched.extend([server] if server else [])
            return check

        record(f"launch {build_path(launch)}", binder, start, retry=False)
        if launched:
            server = launched[0]
            record("launched server /api", hub,
                   lambda: check_server_api(server, hub, opts), retry=False)
            record("launched server shut down", hub,
                   lambda: check_server_shutdown(server, hub, opts), retry=False)
        elif checks[-1].ok:
            missing = Check("launched server /api", False,
                            "the ready event named no server URL and token")
            checks.append(missing)
            print(missing.line(), file=out, flush=True)
    else:
        skip = Check("launch", True, "not requested (--launch owner/repo[/ref])", True)
        checks.append(skip)
        print(skip.line(), file=out, flush=True)
    return checks


def _attempts(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_ATTEMPTS:
        raise argparse.ArgumentTypeError(
            f"{value} is outside 1..{MAX_ATTEMPTS}: every check is tried at most "
            f"{MAX_ATTEMPTS} times so a run stays bounded; to wait longer for a certificate "
            "or a starting pod, raise --retry-delay instead"
        )
    return value


def _retry_delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= MAX_RETRY_DELAY:
        raise argparse.ArgumentTypeError(
            f"{value:g} is outside 0..{MAX_RETRY_DELAY:g} seconds"
        )
    return value


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("stack", nargs="?", help="stack whose outputs locate the service")
    parser.add_argument("--outputs-json", type=Path, help="`pulumi stack output --json` saved")
    parser.add_argument("--binder-url", help="BinderHub URL (overrides the stack outputs)")
    parser.add_argument("--hub-url", help="JupyterHub URL (overrides the stack outputs)")
    parser.add_argument("--cafile", help="trust these CA certificates instead of the system's")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument(
        "--attempts", type=_attempts, default=3, metavar="N",
        help=f"tries per check that fails in a way waiting can change (HTTP 5xx, a "
        f"certificate not issued yet), 1 to {MAX_ATTEMPTS} (default 3); a larger value is "
        "refused. DNS failures, refused connections and timeouts are never retried",
    )
    parser.add_argument(
        "--retry-delay", type=_retry_delay, default=5.0, metavar="SECONDS",
        help=f"seconds between tries, 0 to {MAX_RETRY_DELAY:g} (default 5)",
    )
    parser.add_argument(
        "--hosts-from-stack-file", action="store_true",
        help="check the public names of Pulumi.<stack>.yaml (binder:binderhub.host/hubHost), "
        "never the stack outputs: no credentials, as the scheduled outside checks run",
    )
    fallback = parser.add_mutually_exclusive_group()
    fallback.add_argument(
        "--allow-stack-file-fallback", action="store_true",
        help="when the stack outputs cannot be read, use the hostnames of Pulumi.<stack>.yaml "
        "even in CI (CI=true), where that is otherwise an error",
    )
    fallback.add_argument(
        "--no-stack-file-fallback", action="store_true",
        help="never use the hostnames of Pulumi.<stack>.yaml, as in CI",
    )
    parser.add_argument(
        "--min-cert-days", type=int, default=7,
        help="fail when a certificate expires sooner (default 7)",
    )
    parser.add_argument("--launch", metavar="OWNER/REPO[/REF]", help="also launch this repo")
    parser.add_argument(
        "--launch-timeout", type=float, default=600.0, help="seconds for the launch (default 600)"
    )
    args = parser.parse_args(argv)
    opts = Options(
        cafile=args.cafile, timeout=args.timeout, attempts=args.attempts,
        retry_delay=args.retry_delay, min_cert_days=args.min_cert_days,
        launch=args.launch, launch_timeout=args.launch_timeout, out=out,
    )
    allow_fallback = args.allow_stack_file_fallback or not (
        args.no_stack_file_fallback or in_ci()
    )
    try:
        if opts.launch:
            build_path(opts.launch)  # reject a malformed spec before any request
        if args.hosts_from_stack_file:
            if not args.stack or args.outputs_json or args.binder_url or args.hub_url:
                raise UsageError(
                    "--hosts-from-stack-file takes a stack and no --outputs-json, "
                    "--binder-url or --hub-url"
                )
            target = hosts_of_stack_file(args.stack)
        else:
            target = locate(
                args.stack, args.outputs_json, args.binder_url, args.hub_url,
                allow_fallback=allow_fallback,
            )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    title = f"Smoke test of stack '{args.stack}'" if args.stack else "Smoke test"
    print(f"{title} (URLs from {target.source})", file=out)
    print(f"  BinderHub   {target.binder_url}", file=out)
    print(f"  JupyterHub  {target.hub_url}", file=out)
    checks = run_checks(target, opts)
    ran = [c for c in checks if not c.skipped]
    failed = [c for c in ran if not c.ok]
    verdict = "FAIL" if failed else "PASS"
    print(f"Result: {verdict} ({len(ran) - len(failed)} of {len(ran)} checks passed)", file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
