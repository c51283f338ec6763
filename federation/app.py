"""The front door's HTTP service (aiohttp).

* ``/build/...`` and ``/v2/...`` (BinderHub's build API and the launch links badges point
  at): decided here, answered with a 307 redirect to the chosen member, the same path and
  query, and a sticky cookie. CORS is open on them, as BinderHub's page on the front door
  calls ``/build/...`` from JavaScript and follows the redirect.
* ``/health`` and ``/metrics``: the redirector's own.
* everything else (the landing page, static files, ``/about``, badges' images): proxied to
  the prime, so the service has one UI.

The decision (:meth:`Redirector.decide`): candidates are the members in rotation (healthy,
enabled, weight > 0, see :mod:`federation.health`); none -> the prime, whatever its state; a
valid sticky cookie naming a candidate -> that member; otherwise the configured rule
(:mod:`federation.choice`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from federation import choice
from federation.config import FederationConfig, Member
from federation.health import HealthMonitor
from federation.metrics import Metrics

#: Headers that belong to one connection, never forwarded (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding",
                        "upgrade", "host"})
_COOKIE = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)~(\d{1,12})$")
CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "cache-control, content-type"}


def _cookie_path(raw_path: str) -> str:
    return quote(raw_path.split("?", 1)[0], safe="/%-._~:@!$&'()*+=")


@dataclass(frozen=True)
class Decision:
    member: Member
    reason: str
    """rendezvous, random, cookie or prime_fallback."""


class Redirector:
    """The service's state: configuration, health monitor, metrics, HTTP clients."""

    def __init__(self, config: FederationConfig, *, metrics: Metrics | None = None,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.by_name = {m.name: m for m in config.members}
        self.prime = config.prime
        self._rng = rng or random.Random()  # noqa: S311 (load balancing, not a secret)
        self._now = clock
        """Wall-clock time: the sticky cookie's expiry is written into its value."""
        self.monitor: HealthMonitor | None = None
        self._max_age = int(config.cookie.max_age_hours * 3600)
        self._redirects: dict[tuple[str, str], Any] = {}
        """The redirect counter's children, looked up once per (member, reason)."""
        self._checks: aiohttp.ClientSession | None = None
        self._proxy: aiohttp.ClientSession | None = None

    # ---------------------------------------------------------------- decision

    def cookie_member(self, value: str | None, candidates: tuple[tuple[str, float], ...]
                      ) -> str | None:
        """The member a sticky cookie names, if it is valid: well-formed, not expired, and
        naming a member in rotation."""
        if not value:
            return None
        match = _COOKIE.match(value)
        if not match or int(match.group(3)) <= self._now():
            return None
        name = match.group(1)
        return name if any(name == c for c, _ in candidates) else None

    def decide(self, path: str, cookie: str | None = None) -> Decision:
        candidates = self.monitor.candidates if self.monitor else ()
        if not candidates:
            return Decision(self.prime, "prime_fallback")
        sticky = self.cookie_member(cookie, candidates)
        if sticky is not None:
            return Decision(self.by_name[sticky], "cookie")
        if self.config.choice == "random":
            return Decision(self.by_name[choice.weighted_random(candidates, self._rng)],
                            "random")
        key = choice.launch_key(path) or path.lower()
        return Decision(self.by_name[choice.rendezvous(candidates, key)], "rendezvous")

    # ---------------------------------------------------------------- handlers

    async def launch(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={
                **CORS, "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"})
        cookie_name = self.config.cookie.name
        decision = self.decide(request.path, request.cookies.get(cookie_name))
        member = decision.member
        max_age = self._max_age
        # The Set-Cookie header written directly: http.cookies' Morsel costs more than the
        # decision itself. ';' and ',' in the path are escaped: no attribute can be injected.
        secure = "; Secure" if request.secure or request.headers.get(
            "X-Forwarded-Proto") == "https" else ""
        cookie = (f"{cookie_name}={member.name}~{int(self._now()) + max_age}; HttpOnly; "
                  f"Max-Age={max_age}; Path={_cookie_path(request.raw_path)}; "
                  f"SameSite=Lax{secure}")
        response = web.Response(status=307, headers={
            "Location": member.url + request.raw_path, "Cache-Control": "no-store",
            "Set-Cookie": cookie, **CORS})
        counter = self._redirects.get((member.name, decision.reason))
        if counter is None:
            counter = self._redirects[member.name, decision.reason] = (
                self.metrics.redirects.labels(member=member.name, reason=decision.reason))
        counter.inc()
        self.metrics.decision_seconds.observe(time.perf_counter() - started)
        return response

    async def health(self, request: web.Request) -> web.Response:
        monitor = self.monitor
        stalled = monitor.stalled() if monitor else ["all"]
        members = {name: {"state": s.reason, "detail": s.detail}
                   for name, s in (monitor.states.items() if monitor else ())}
        body = {"ok": not stalled, "inRotation": [n for n, _ in (
            monitor.candidates if monitor else ())], "members": members}
        if stalled:
            body["stalled"] = stalled
        return web.json_response(body, status=503 if stalled else 200)

    async def metrics_page(self, request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        """The request, to the prime; its answer streamed back unchanged."""
        session = self._proxy
        if session is None:
            return web.Response(status=503, text="starting\n")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = request.headers.get("X-Forwarded-Proto", request.scheme)
        peer = request.remote or ""
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        try:
            async with session.request(
                request.method, self.prime.url + request.raw_path, headers=headers,
                data=request.content if request.body_exists else None, allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for key, value in upstream.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        response.headers.add(key, value)
                await response.prepare(request)
                status = f"{upstream.status // 100}xx"
                try:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except (TimeoutError, aiohttp.ClientError):
                    status = "error"  # cut off half-way: the client sees a short body
                self.metrics.proxied.labels(status=status).inc()
                return response
        except (TimeoutError, aiohttp.ClientError):
            self.metrics.proxied.labels(status="error").inc()
            return web.Response(status=502, text=(
                "The Binder front door cannot reach its main site just now; launches still "
                "work: open a /v2/... link.\n"))

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(choice.LAUNCH_PREFIXES) and request.method in (
                "GET", "HEAD", "OPTIONS"):
            return await self.launch(request)
        if path == "/health":
            return await self.health(request)
        if path == "/metrics":
            return await self.metrics_page(request)
        return await self.proxy(request)

    # ---------------------------------------------------------------- lifecycle

    async def _start(self, app: web.Application) -> None:
        checks = self.config.checks
        self._checks = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=checks.timeout_seconds),
            headers={"User-Agent": "binder-federation-redirector"})
        self._proxy = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.proxy_timeout_seconds),
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        self.monitor = HealthMonitor(self.config, self._checks, self.metrics)
        self.monitor.start()

    async def _stop(self, app: web.Application) -> None:
        if self.monitor:
            await self.monitor.stop()
        for session in (self._checks, self._proxy):
            if session:
                await session.close()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app
