"""The redirector under load, on loopback: launch decisions per second and their latency.

``make federation-bench`` (or ``python -m tools.federation_bench``). The redirector runs as
``python -m federation`` in a process of its own, pinned to one core, in front of two fake
member BinderHubs (tests/federation/fakes.py) served by this process; this process, pinned to
the other core, sends launches of distinct repositories over keep-alive connections and
times each one. Every run is bounded in time (``--seconds``) and count (``--requests``), and
talks to 127.0.0.1 only.

Beside it, in the same run and on the same core, a **floor**: a bare aiohttp server that
answers every launch with a fixed 307 (no health state, no decision, no cookie, no metrics),
measured the same way. Absolute figures depend on the machine; the ratio to the floor says
what the redirector's own work costs.

Targets (issue 24): >= 1,000 decisions/s on one core, p99 <= 20 ms. The exit status is 0
when both are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_RATE = 1000.0
TARGET_P99 = 0.020

#: The floor: the same framework, one fixed answer.
FLOOR = textwrap.dedent("""
    import sys
    from aiohttp import web

    async def answer(request):
        location = "http://127.0.0.1:9" + request.raw_path
        return web.Response(status=307, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


@dataclass
class Run:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pinned(core: int) -> dict[str, object]:
    """Popen arguments that pin the child to one core (where the OS allows it)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        return {"preexec_fn": lambda: os.sched_setaffinity(0, {core})}
    return {}


async def _wait_listening(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


async def _load(name: str, port: int, *, requests: int, seconds: float, concurrency: int,
                warmup: int) -> Run:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    deadline = 0.0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     cookie_jar=aiohttp.DummyCookieJar()) as client:

        async def worker(total: int, record: bool) -> None:
            nonlocal errors
            while True:
                n = next(counter)
                if n >= total or (record and time.perf_counter() > deadline):
                    return
                url = f"http://127.0.0.1:{port}/build/gh/bench-org/repo-{n}/main"
                started = time.perf_counter()
                try:
                    async with client.get(url, allow_redirects=False) as answer:
                        await answer.read()
                        ok = answer.status == 307
                except aiohttp.ClientError:
                    ok = False
                if record:
                    latencies.append(time.perf_counter() - started)
                    errors += not ok

        await asyncio.gather(*(worker(warmup, False) for _ in range(concurrency)))
        counter = iter(range(warmup, 10**9))
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(warmup + requests, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Run(name, len(latencies), elapsed, latencies, errors)


async def _paced(name: str, port: int, *, rate: float, seconds: float) -> Run:
    """Open-loop load: launches sent at ``rate`` per second whatever the answers do, each
    timed from when it was due (a slow answer delays no later launch's clock, so queueing
    is counted, not hidden)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                     cookie_jar=aiohttp.DummyCookieJar()) as client:

        async def one(n: int, due: float) -> None:
            nonlocal errors
            url = f"http://127.0.0.1:{port}/build/gh/paced-org/repo-{n}/main"
            try:
                async with client.get(url, allow_redirects=False) as answer:
                    await answer.read()
                    errors += answer.status != 307
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - due)

        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
        elapsed = time.perf_counter() - started
    return Run(f"{name} @{rate:.0f}/s", total, elapsed, latencies, errors)


async def _bench(args: argparse.Namespace
                 ) -> tuple[list[Run], list[Run], list[Run], list[Run], dict[str, float]]:
    sys.path.insert(0, str(REPO))
    from tests.federation.fakes import FakeMember

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load; the servers get core 0
    members = [FakeMember("prime"), FakeMember("second")]
    for member in members:
        await member.start()
    folder = Path(tempfile.mkdtemp(prefix="federation-bench-"))
    config = folder / "config.json"
    config.write_text(json.dumps({
        "members": [{"name": m.name, "url": m.url, "prime": i == 0}
                    for i, m in enumerate(members)],
        "checks": {"periodSeconds": 5, "recheckSeconds": 1, "timeoutSeconds": 2},
    }))
    (folder / "floor.py").write_text(FLOOR)
    ours: list[Run] = []
    floor: list[Run] = []
    ours_paced: list[Run] = []
    floor_paced: list[Run] = []
    server_side: dict[str, float] = {}
    try:
        for round_ in range(args.rounds):
            for name in ("redirector", "floor"):
                port = _free_port()
                command = ([sys.executable, "-m", "federation", "--config", str(config),
                            "--host", "127.0.0.1", "--port", str(port)] if name == "redirector"
                           else [sys.executable, str(folder / "floor.py"), str(port)])
                child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, **_pinned(0))  # type: ignore[call-overload]
                try:
                    await _wait_listening(port)
                    if name == "redirector":
                        await _until_in_rotation(port)
                    run = await _load(name, port, requests=args.requests, seconds=args.seconds,
                                      concurrency=args.concurrency, warmup=args.warmup)
                    (ours if name == "redirector" else floor).append(run)
                    paced = await _paced(name, port, rate=args.rate,
                                         seconds=min(args.seconds, args.paced_seconds))
                    (ours_paced if name == "redirector" else floor_paced).append(paced)
                    if name == "redirector" and round_ == args.rounds - 1:
                        server_side = await _decision_histogram(port)
                finally:
                    child.terminate()
                    child.wait(timeout=20)
    finally:
        for member in members:
            await member.stop()
    return ours, floor, ours_paced, floor_paced, server_side


async def _until_in_rotation(port: int, seconds: float = 20.0) -> None:
    import aiohttp

    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            async with client.get(f"http://127.0.0.1:{port}/health") as answer:
                if len((await answer.json()).get("inRotation", [])) == 2:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the fake members did not join the rotation")


async def _decision_histogram(port: int) -> dict[str, float]:
    """The server's own decision time (its histogram): count, sum and share within 1 ms."""
    import aiohttp

    async with aiohttp.ClientSession() as client, \
            client.get(f"http://127.0.0.1:{port}/metrics") as answer:
        text = await answer.text()
    values: dict[str, float] = {}
    keys = {"_count ": "count", "_sum ": "sum", '_bucket{le="0.001"} ': "within_1ms"}
    for line in text.splitlines():
        for suffix, key in keys.items():
            if line.startswith("binder_federation_decision_duration_seconds" + suffix):
                values[key] = float(line.rsplit(" ", 1)[1])
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="per run, at most")
    parser.add_argument("--seconds", type=float, default=8.0, help="per run, at most")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--rate", type=float, default=TARGET_RATE,
                        help="launches per second of the paced run (latency)")
    parser.add_argument("--paced-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating redirector/floor pairs; the median is reported")
    args = parser.parse_args(argv)
    ours, floor, ours_paced, floor_paced, server = asyncio.run(_bench(args))
    rate = statistics.median(r.rate for r in ours)
    floor_rate = statistics.median(r.rate for r in floor)
    p50 = statistics.median(r.quantile(0.50) for r in ours_paced)
    p99 = statistics.median(r.quantile(0.99) for r in ours_paced)
    floor_p99 = statistics.median(r.quantile(0.99) for r in floor_paced)
    errors = sum(r.errors for r in ours + ours_paced)
    print(f"federation redirector on one core, {args.rounds} rounds, each: as many launches "
          f"as {args.concurrency} connections get answered (<= {args.requests} or "
          f"{args.seconds:g} s), then {args.rate:.0f} launches/s for "
          f"{min(args.seconds, args.paced_seconds):g} s (latency from when each was due):")
    for run in ours + ours_paced + floor + floor_paced:
        print(f"  {run.name:16s} {run.requests:6d} launches in {run.seconds:5.2f} s: "
              f"{run.rate:7.0f}/s, p50 {run.quantile(0.5) * 1000:6.2f} ms, "
              f"p99 {run.quantile(0.99) * 1000:6.2f} ms, errors {run.errors}")
    print(f"decisions per second, saturated (median): {rate:.0f} (target >= "
          f"{TARGET_RATE:.0f})")
    print(f"latency at {args.rate:.0f}/s, p50 / p99 (median): {p50 * 1000:.2f} / "
          f"{p99 * 1000:.2f} ms (target p99 <= {TARGET_P99 * 1000:.0f} ms)")
    print(f"floor (fixed 307, same core): {floor_rate:.0f}/s, p99 at {args.rate:.0f}/s "
          f"{floor_p99 * 1000:.2f} ms; redirector / floor throughput {rate / floor_rate:.2f}")
    if server.get("count"):
        print(f"server-side decision time: mean {server['sum'] / server['count'] * 1e6:.0f}"
              f" us, {server['within_1ms'] / server['count']:.1%} within 1 ms")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores "
          "(other work on the machine shows in the floor's figures too)")
    met = rate >= TARGET_RATE and p99 <= TARGET_P99 and errors == 0
    print("targets: " + ("met" if met else "NOT MET"))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
