"""Fake member BinderHubs and a running redirector, on 127.0.0.1 only.

A :class:`FakeMember` answers ``/versions`` and ``/health`` as BinderHub does at our chart's
commit (federation/health.py links the handlers), with answers a test changes while it runs:
``ok``, ``versions``, ``pods``, ``quota``, ``delay`` (a hang), ``status``. Launch paths
(``/build/``, ``/v2/``) and anything else answer with the member's name, and every request
is recorded.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from yarl import URL

from federation.app import Redirector
from federation.config import parse_config

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


async def _serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # A port the kernel picks (or the member's own again, after a restart), loopback only.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    site = web.SockSite(runner, sock)
    await site.start()
    return runner, sock.getsockname()[1]


class FakeMember:
    def __init__(self, name: str, *, binderhub: str = "1.0.0-0.dev.git.3958.haf9ca8b1",
                 builder: str = "quay.io/jupyterhub/repo2docker:2025.08.0") -> None:
        self.name = name
        self.versions: dict[str, Any] = {"binderhub": binderhub,
                                         "builder_info": {"build_image": builder}}
        self.ok = True
        self.pods = 0
        self.quota: int | None = 100
        self.delay = 0.0
        self.status: int | None = None
        self.requests: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        hung = time.monotonic()
        while self.delay and time.monotonic() - hung < self.delay:
            await asyncio.sleep(0.01)  # a hang, released as soon as the test heals it
        if self.status is not None:
            return web.Response(status=self.status, text="broken")
        if request.path == "/versions":
            return web.json_response(self.versions)
        if request.path == "/health":
            checks: list[dict[str, Any]] = [
                {"service": "Docker registry", "ok": True},
                {"service": "JupyterHub API", "ok": self.ok},
            ]
            if self.quota is not None:
                checks.append({"service": "Pod quota", "total_pods": self.pods,
                               "build_pods": 0, "user_pods": self.pods, "quota": self.quota,
                               "ok": self.pods <= self.quota, "_ignore_failure": True})
            return web.json_response({"ok": self.ok, "checks": checks},
                                     status=200 if self.ok else 503)
        if request.method == "POST":
            return web.Response(text=f"{self.name} got {await request.text()}")
        return web.Response(text=f"page of {self.name}: {request.path_qs}",
                            headers={"X-Member": self.name})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        port = int(self.url.rsplit(":", 1)[1]) if self.url else 0
        self._runner, port = await _serve(app, port)
        self.url = f"http://{LOOPBACK}:{port}"
        return self.url

    async def stop(self) -> None:
        """Close the listener: connections are refused until :meth:`start` again."""
        self.delay = 0.0
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def launches(self) -> int:
        return sum(p.startswith(("/build/", "/v2/")) for p in self.requests)


FAST_CHECKS = {"periodSeconds": 1.0, "recheckSeconds": 0.3, "timeoutSeconds": 0.4,
               "retries": 1, "retryDelaySeconds": 0.05, "jitter": 0.1, "podHeadroom": 10}


@asynccontextmanager
async def federation(members: list[FakeMember], **settings: Any
                     ) -> AsyncIterator[tuple[Redirector, str]]:
    """The fake members and a redirector in front of them (the first member is the prime
    unless ``primes`` says otherwise); yields the redirector and its URL."""
    weights: dict[str, float] = settings.pop("weights", {})
    prime = settings.pop("prime", members[0].name)
    extra: dict[str, dict[str, Any]] = settings.pop("member_settings", {})
    for member in members:
        await member.start()
    document = {
        "members": [{"name": m.name, "url": m.url, "weight": weights.get(m.name, 1.0),
                     "prime": m.name == prime, **extra.get(m.name, {})} for m in members],
        "checks": settings.pop("checks", FAST_CHECKS),
        **settings,
    }
    redirector = Redirector(parse_config(document, "test"))
    runner, port = await _serve(redirector.app())
    try:
        yield redirector, f"http://{LOOPBACK}:{port}"
    finally:
        await runner.cleanup()
        for member in members:
            await member.stop()


def run(scenario: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run ``scenario`` on an event loop of its own, bounded in time. Not ``asyncio.run``:
    that leaves the main thread without a current loop, which the Pulumi SDK's mock runs
    of later tests in the same process expect to find."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(scenario, timeout))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def until(condition: Callable[[], bool], timeout: float, step: float = 0.01) -> float:
    """Seconds until ``condition()`` holds; AssertionError after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def launch(client: aiohttp.ClientSession, base: str, path: str,
                 cookie: str | None = None) -> tuple[str, aiohttp.ClientResponse]:
    """The member a launch is redirected to (by the Location's port) and the response."""
    headers = {"Cookie": cookie} if cookie else {}
    # encoded=True: the path and query go out byte for byte, as a browser sends them.
    async with client.get(URL(base + path, encoded=True), allow_redirects=False,
                          headers=headers) as answer:
        assert answer.status == 307, answer.status
        return answer.headers["Location"], answer
