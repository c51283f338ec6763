"""The redirector over real HTTP on 127.0.0.1, in front of fake member BinderHubs whose
answers change while it runs: failover and rejoin, each exclusion with its reason in the
metrics, all members down, the sticky cookie, the proxied UI and the service's own pages.

Timings use short check periods (tests/federation/fakes.py FAST_CHECKS); each test is
bounded (``until`` timeouts) and talks to loopback only. The failover figures are printed
(``pytest -s tests/federation``).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiohttp
import pytest

from tests.federation.fakes import FAST_CHECKS, FakeMember, federation, launch, run, until

PERIOD = FAST_CHECKS["periodSeconds"]
TIMEOUT = FAST_CHECKS["timeoutSeconds"]
RECHECK = FAST_CHECKS["recheckSeconds"]
#: Event-loop scheduling on a busy 2-core machine, on top of the bounds the design gives.
SLACK = 0.25


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") or line.startswith(f"{name} "):
            found = line[len(name):].split(" ")[0]
            have = ",".join(sorted(found.strip("{}").split(","))) if found else ""
            if have == wanted:
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} not in /metrics")


def _member_of(location: str, members: list[FakeMember]) -> str:
    return next(m.name for m in members if location.startswith(m.url + "/"))


def _states(redirector: Any) -> dict[str, Any]:
    assert redirector.monitor is not None
    states: dict[str, Any] = redirector.monitor.states
    return states


def _in_rotation(redirector: Any, *names: str) -> bool:
    return redirector.monitor is not None and {n for n, _ in redirector.monitor.candidates
                                               } == set(names)


# ------------------------------------------------------------------- failover and rejoin


async def _faulted(member: FakeMember, fault: str) -> None:
    if fault == "hang":
        member.delay = 30.0  # longer than any check: only the timeout ends it
    elif fault == "refuse":
        await member.stop()
    else:
        member.ok = False  # BinderHub's 503 with a failing check


async def _healed(member: FakeMember, fault: str) -> None:
    if fault == "hang":
        member.delay = 0.0
    elif fault == "refuse":
        await member.start()
    else:
        member.ok = True


@pytest.mark.parametrize("fault", ["hang", "refuse", "unhealthy"])
def test_a_failing_member_leaves_within_one_period_plus_timeout_and_rejoins(fault: str
                                                                           ) -> None:
    async def scenario() -> tuple[float, float]:
        members = [FakeMember("prime"), FakeMember("second")]
        async with federation(members, choice="random") as (redirector, base), \
                aiohttp.ClientSession() as client:
            await until(lambda: _in_rotation(redirector, "prime", "second"), 5)
            sent: list[tuple[float, str]] = []
            stop = asyncio.Event()

            async def load() -> None:
                n = 0
                while not stop.is_set():
                    at = time.monotonic()
                    location, _ = await launch(client, base, f"/build/gh/org/repo{n}/main")
                    sent.append((at, _member_of(location, members)))
                    n += 1
                    await asyncio.sleep(0.005)

            loader = asyncio.create_task(load())
            await asyncio.sleep(0.2)
            faulted_at = time.monotonic()
            await _faulted(members[1], fault)
            await until(lambda: not _in_rotation(redirector, "prime", "second"),
                        PERIOD + TIMEOUT + SLACK)
            left_at = _states(redirector)["second"].changes[-1][0]
            await asyncio.sleep(0.3)
            healed_at = time.monotonic()
            await _healed(members[1], fault)
            await until(lambda: _in_rotation(redirector, "prime", "second"),
                        RECHECK + TIMEOUT + SLACK)
            back_at = _states(redirector)["second"].changes[-1][0]
            await asyncio.sleep(0.1)
            stop.set()
            await loader
            before = [m for at, m in sent if at < faulted_at]
            out = [m for at, m in sent if left_at < at < healed_at]
            after = [m for at, m in sent if at > back_at]
            # In rotation before, none while out (after it left), taking launches again.
            assert "second" in before
            assert out
            assert set(out) == {"prime"}, out
            assert "second" in after
            expected = "unreachable" if fault in ("hang", "refuse") else "unhealthy"
            assert _states(redirector)["second"].changes[-2][1] == expected
            return left_at - faulted_at, back_at - healed_at

    failover, rejoin = run(scenario())
    print(f"\nfailover ({fault}): out of rotation {failover:.3f} s after the fault "
          f"(bound: period {PERIOD} + timeout {TIMEOUT} s); back {rejoin:.3f} s after it "
          f"healed (bound: recheck {RECHECK} + timeout {TIMEOUT} s)")
    assert failover <= PERIOD + TIMEOUT + SLACK
    assert rejoin <= RECHECK + TIMEOUT + SLACK


# ------------------------------------------------------------------- exclusions


def test_each_exclusion_has_its_reason_in_the_metrics() -> None:
    async def scenario() -> None:
        members = [FakeMember(n) for n in ("prime", "oldversion", "full", "weightless",
                                           "disabled", "noquota", "sick", "fine")]
        by = {m.name: m for m in members}
        by["oldversion"].versions = {**by["oldversion"].versions, "binderhub": "0.2.0"}
        by["full"].pods = 90  # + headroom 10 reaches the quota of 100
        by["noquota"].quota = None
        by["sick"].ok = False
        async with federation(
            members, weights={"weightless": 0},
            member_settings={"disabled": {"enabled": False}},
        ) as (redirector, base), aiohttp.ClientSession() as client:
            expected = {"prime": "in_rotation", "oldversion": "version_mismatch",
                        "full": "quota_full", "weightless": "weight_zero",
                        "disabled": "disabled", "noquota": "no_quota", "sick": "unhealthy",
                        "fine": "in_rotation"}
            await until(lambda: {n: s.reason for n, s in _states(redirector).items()}
                        == expected, 5)
            async with client.get(base + "/metrics") as answer:
                text = await answer.text()
            for name, reason in expected.items():
                assert _metric(text, "binder_federation_member_state", member=name,
                               reason=reason) == 1.0, name
                assert _metric(text, "binder_federation_member_in_rotation",
                               member=name) == (1.0 if reason == "in_rotation" else 0.0)
            assert _metric(text, "binder_federation_members_in_rotation") == 2.0
            assert _metric(text, "binder_federation_member_quota", member="full") == 100.0
            assert _metric(text, "binder_federation_member_pods", member="full") == 90.0
            # A disabled member is never asked anything.
            assert by["disabled"].requests == []
            chosen = {_member_of((await launch(client, base, f"/v2/gh/o/r{i}/HEAD"))[0],
                                 members) for i in range(200)}
            assert chosen == {"prime", "fine"}
            # The out-of-date member upgrades: back at its next (sooner) check.
            by["oldversion"].versions = by["prime"].versions
            by["full"].pods = 10
            await until(lambda: _in_rotation(redirector, "prime", "fine", "oldversion",
                                             "full"), RECHECK + TIMEOUT + SLACK)

    run(scenario())


def test_the_reference_is_the_prime_s_current_versions() -> None:
    """The prime upgrades first: the others leave until they upgrade too (the reference is
    refreshed on every check of the prime, never kept from the start)."""
    async def scenario() -> None:
        members = [FakeMember("prime"), FakeMember("other")]
        async with federation(members) as (redirector, _):
            await until(lambda: _in_rotation(redirector, "prime", "other"), 5)
            upgraded = {**members[0].versions, "binderhub": "1.1.0"}
            members[0].versions = upgraded
            await until(lambda: _states(redirector)["other"].reason
                        == "version_mismatch", 2 * PERIOD + TIMEOUT + SLACK)
            members[1].versions = upgraded
            await until(lambda: _in_rotation(redirector, "prime", "other"),
                        RECHECK + TIMEOUT + SLACK)

    run(scenario())


def test_all_members_down_sends_every_launch_to_the_prime() -> None:
    async def scenario() -> None:
        members = [FakeMember("prime"), FakeMember("other")]
        for member in members:
            member.ok = False
        async with federation(members, weights={"prime": 0}) as (redirector, base), \
                aiohttp.ClientSession() as client:
            await until(lambda: all(s.reason == "unhealthy"
                                    for s in _states(redirector).values()), 5)
            for i in range(20):
                location, _ = await launch(client, base, f"/build/gh/o/r{i}/main")
                assert location.startswith(members[0].url + "/build/gh/o/")
            async with client.get(base + "/metrics") as answer:
                text = await answer.text()
            assert _metric(text, "binder_federation_redirects_total", member="prime",
                           reason="prime_fallback") == 20.0
            assert _metric(text, "binder_federation_members_in_rotation") == 0.0
            # The front door itself is fine: it still answers every launch.
            async with client.get(base + "/health") as answer:
                assert answer.status == 200
                body = await answer.json()
            assert body["inRotation"] == []
            assert body["members"]["other"]["state"] == "unhealthy"

    run(scenario())


# ------------------------------------------------------------------- sticky cookie


def test_a_valid_sticky_cookie_is_honoured_and_an_invalid_one_ignored() -> None:
    async def scenario() -> None:
        members = [FakeMember("prime"), FakeMember("other"), FakeMember("third")]
        async with federation(members) as (redirector, base), \
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
            await until(lambda: _in_rotation(redirector, "prime", "other", "third"), 5)
            path = next(f"/build/gh/org/repo{i}/main" for i in range(100)
                        if redirector.decide(f"/build/gh/org/repo{i}/main").member.name
                        == "prime")
            location, answer = await launch(client, base, path)
            assert _member_of(location, members) == "prime"
            assert location == members[0].url + path
            # The cookie it sets: this member, an expiry 4 hours on, scoped to the path.
            morsel = answer.cookies["binder-member"]
            name, expires = morsel.value.split("~")
            assert name == "prime"
            assert abs(int(expires) - (time.time() + 4 * 3600)) < 5
            assert (morsel["path"], morsel["max-age"], morsel["httponly"]) == (
                path, str(4 * 3600), True)
            assert morsel["samesite"] == "Lax"
            future, past = int(time.time()) + 600, int(time.time()) - 1
            cases = {
                f"binder-member=other~{future}": "other",  # honoured
                f"binder-member=other~{past}": "prime",  # expired
                f"binder-member=nosuch~{future}": "prime",  # not a member
                "binder-member=other": "prime",  # malformed
                f"binder-member=third~{future}": "third",
            }
            for cookie, expected in cases.items():
                location, _ = await launch(client, base, path, cookie)
                assert _member_of(location, members) == expected, cookie
            # A member out of rotation: its cookie is ignored.
            members[1].ok = False
            await until(lambda: _in_rotation(redirector, "prime", "third"), PERIOD + TIMEOUT
                        + SLACK)
            location, _ = await launch(client, base, path, f"binder-member=other~{future}")
            assert _member_of(location, members) == "prime"
            async with client.get(base + "/metrics") as answer:
                text = await answer.text()
            assert _metric(text, "binder_federation_redirects_total", member="other",
                           reason="cookie") == 1.0
            assert _metric(text, "binder_federation_redirects_total", member="third",
                           reason="cookie") == 1.0

    run(scenario())


# ------------------------------------------------------------------- the rest of the paths


def test_launch_paths_keep_their_query_and_allow_cors() -> None:
    async def scenario() -> None:
        members = [FakeMember("prime")]
        async with federation(members) as (redirector, base), \
                aiohttp.ClientSession() as client:
            await until(lambda: _in_rotation(redirector, "prime"), 5)
            location, answer = await launch(client, base, "/v2/gh/o/r/HEAD?urlpath=lab%2Ftree")
            assert location == members[0].url + "/v2/gh/o/r/HEAD?urlpath=lab%2Ftree"
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert answer.headers["Cache-Control"] == "no-store"
            async with client.options(base + "/build/gh/o/r/HEAD") as preflight:
                assert preflight.status == 204
                assert preflight.headers["Access-Control-Allow-Origin"] == "*"
            # A POST to a launch path is not a launch: it goes to the prime, as a page would.
            async with client.post(base + "/build/gh/o/r/HEAD", data=b"x") as answer:
                assert answer.status == 200

    run(scenario())


def test_everything_else_is_proxied_to_the_prime() -> None:
    async def scenario() -> None:
        members = [FakeMember("prime"), FakeMember("other")]
        async with federation(members) as (redirector, base), \
                aiohttp.ClientSession() as client:
            await until(lambda: _in_rotation(redirector, "prime", "other"), 5)
            async with client.get(base + "/about?x=1", allow_redirects=False) as answer:
                assert answer.status == 200
                assert await answer.text() == "page of prime: /about?x=1"
                assert answer.headers["X-Member"] == "prime"
            async with client.post(base + "/api/thing", data=b"payload") as answer:
                assert await answer.text() == "prime got payload"
            assert members[1].requests == [p for p in members[1].requests
                                           if p in ("/versions", "/health")]
            # The prime's own /health is not the front door's: that one is the redirector's.
            async with client.get(base + "/health") as answer:
                body = await answer.json()
            assert set(body) == {"ok", "inRotation", "members"}
            await members[0].stop()
            async with client.get(base + "/") as answer:
                assert answer.status == 502
                assert "launches still work" in await answer.text()
            async with client.get(base + "/metrics") as answer:
                text = await answer.text()
            assert _metric(text, "binder_federation_proxied_requests_total", status="2xx") == 2
            assert _metric(text, "binder_federation_proxied_requests_total",
                           status="error") == 1
            assert re.search(r"^binder_federation_decision_duration_seconds_count 0\.0$",
                             text, re.M)

    run(scenario())
