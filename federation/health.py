"""One health loop per member: is it in rotation, and if not, why.

A check asks the member's BinderHub, within ``timeout`` for the whole check:

1. ``GET /versions``: the prime's answer is the reference, refreshed on every check of the
   prime; another member whose BinderHub or builder differs leaves the rotation
   (``version_mismatch``). Until the prime has answered once, nobody is judged on versions:
   a reference that never arrives must not keep every member out (mybinder.org's incident of
   2022-01-27, a stale reference, kept all but the prime out for ~9 hours).
2. ``GET /health``: any check that fails and is not advisory (``_ignore_failure``) takes the
   member out (``unhealthy``); BinderHub answers 503 with the same JSON then.
3. Quota headroom, from the ``Pod quota`` entry of ``/health``: out (``quota_full``) once
   running pods + ``podHeadroom`` reach ``LaunchQuota.total_quota``, so a redirect never
   pushes a member over its hard limit; a member reporting no quota is out (``no_quota``).

Connection errors (refused, reset) are retried ``retries`` times, ``retryDelaySeconds``
apart, inside the timeout; an answer that fails is not retried. A member in rotation is
checked every ``periodSeconds``, one out of it every ``recheckSeconds`` (shorter), each wait
shortened at random by up to ``jitter``: a member that starts failing is out within one
period + timeout, and one that recovers is back within one recheck + timeout.

BinderHub's handlers, at our chart's commit:
https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/health.py
(``{"ok": ..., "checks": [{"service": ..., "ok": ...}, {"service": "Pod quota",
"total_pods": ..., "quota": ..., "_ignore_failure": true}]}``) and ``base.py``
``VersionHandler`` (``{"binderhub": ..., "builder_info": {...}}``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from federation.config import FederationConfig, Member
from federation.metrics import Metrics

log = logging.getLogger("federation.health")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check."""

    reason: str
    """``in_rotation`` or why not (:data:`federation.metrics.REASONS`)."""
    detail: str = ""
    versions: dict[str, Any] | None = None
    pods: int | None = None
    quota: int | None = None


@dataclass
class MemberState:
    member: Member
    reason: str = "not_checked_yet"
    detail: str = ""
    checked_at: float | None = None
    """Monotonic time of the last finished check."""
    changes: list[tuple[float, str]] = field(default_factory=list)
    """(monotonic time, reason) of every change, for tests and logs."""


class _Failed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _comparable(versions: dict[str, Any]) -> tuple[Any, Any]:
    return versions.get("binderhub"), versions.get("builder_info", versions.get("builder"))


class HealthMonitor:
    """The loops, the members' states and the candidates they make."""

    def __init__(
        self, config: FederationConfig, session: aiohttp.ClientSession, metrics: Metrics, *,
        rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.session = session
        self.metrics = metrics
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self.clock = clock
        self.states = {m.name: MemberState(m) for m in config.members}
        self.reference: dict[str, Any] | None = None
        self.candidates: tuple[tuple[str, float], ...] = ()
        """(name, weight) of the members in rotation, in configuration order."""
        self._prime_checked = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        for member in config.members:
            metrics.member_weight.labels(member=member.name).set(member.weight)
            self._set(member, Verdict("disabled" if not member.enabled else "not_checked_yet"))

    # ---------------------------------------------------------------- one check

    async def _get_json(self, member: Member, path: str, ok: tuple[int, ...]) -> Any:
        """``path``'s JSON answer; connection errors retried, anything else a failure."""
        checks = self.config.checks
        attempt = 0
        while True:
            try:
                async with self.session.get(member.url + path, allow_redirects=False) as answer:
                    if answer.status not in ok:
                        raise _Failed("http_error", f"{path} answered {answer.status}")
                    try:
                        return await answer.json(content_type=None)
                    except ValueError:
                        raise _Failed("bad_answer", f"{path} is not JSON") from None
            except aiohttp.ClientConnectionError as exc:
                if attempt >= checks.retries:
                    raise _Failed("unreachable", f"{path}: {exc.__class__.__name__}: {exc}"
                                  ) from None
                attempt += 1
                await asyncio.sleep(checks.retry_delay_seconds)

    async def check(self, member: Member) -> Verdict:
        """Check ``member`` once (the whole check within the timeout)."""
        checks = self.config.checks
        try:
            async with asyncio.timeout(checks.timeout_seconds):
                return await self._judge(member)
        except _Failed as failed:
            return Verdict(failed.reason, failed.detail)
        except TimeoutError:
            return Verdict("unreachable", f"no answer within {checks.timeout_seconds:g} s")
        except aiohttp.ClientError as exc:
            return Verdict("http_error", f"{exc.__class__.__name__}: {exc}")

    async def _judge(self, member: Member) -> Verdict:
        versions = await self._get_json(member, "/versions", (200,))
        if not isinstance(versions, dict):
            raise _Failed("bad_answer", "/versions is not a JSON object")
        if member.prime:
            self.reference = versions
        elif self.reference is not None and _comparable(versions) != _comparable(
                self.reference):
            return Verdict("version_mismatch", f"BinderHub/builder {_comparable(versions)} "
                           f"differ from the prime's {_comparable(self.reference)}", versions)
        health = await self._get_json(member, "/health", (200, 503))
        if not isinstance(health, dict) or not isinstance(health.get("checks", []), list):
            raise _Failed("bad_answer", "/health is not BinderHub's JSON")
        entries = [c for c in health.get("checks", []) if isinstance(c, dict)]
        failing = [str(c.get("service")) for c in entries
                   if not c.get("ok") and not c.get("_ignore_failure")]
        if failing or health.get("ok") is False:
            return Verdict("unhealthy", "failing: " + (", ".join(failing) or "ok is false"),
                           versions)
        quota_entry = next((c for c in entries if "quota" in c), None)
        quota = quota_entry.get("quota") if quota_entry else None
        if not isinstance(quota, int) or isinstance(quota, bool):
            return Verdict("no_quota", "/health reports no pod quota (set "
                           "LaunchQuota.total_quota)", versions)
        pods = quota_entry.get("total_pods", 0) if quota_entry else 0
        pods = pods if isinstance(pods, int) else 0
        if pods + self.config.checks.pod_headroom >= quota:
            return Verdict("quota_full", f"{pods} pods + headroom "
                           f"{self.config.checks.pod_headroom} reach the quota {quota}",
                           versions, pods, quota)
        if member.weight == 0:
            return Verdict("weight_zero", "healthy, weight 0", versions, pods, quota)
        return Verdict("in_rotation", "", versions, pods, quota)

    # ---------------------------------------------------------------- state

    def _set(self, member: Member, verdict: Verdict) -> None:
        state = self.states[member.name]
        if verdict.reason != state.reason:
            now = self.clock()
            state.changes.append((now, verdict.reason))
            if verdict.reason == "in_rotation":
                log.info("member %s joins the rotation", member.name)
            elif state.reason == "in_rotation":
                log.warning("member %s leaves the rotation: %s (%s)", member.name,
                            verdict.reason, verdict.detail)
        state.reason, state.detail = verdict.reason, verdict.detail
        self.metrics.set_state(member.name, verdict.reason)
        if verdict.pods is not None:
            self.metrics.member_pods.labels(member=member.name).set(verdict.pods)
        if verdict.quota is not None:
            self.metrics.member_quota.labels(member=member.name).set(verdict.quota)
        self.candidates = tuple((s.member.name, s.member.weight) for s in self.states.values()
                                if s.reason == "in_rotation")
        self.metrics.candidates.set(len(self.candidates))

    def record(self, member: Member, verdict: Verdict) -> None:
        """Apply one check's verdict."""
        self.states[member.name].checked_at = self.clock()
        self.metrics.checks.labels(member=member.name, result=verdict.reason).inc()
        self.metrics.last_check.labels(member=member.name).set(time.time())
        self._set(member, verdict)

    # ---------------------------------------------------------------- loops

    def _wait(self, member: Member) -> float:
        checks = self.config.checks
        base = (checks.period_seconds if self.states[member.name].reason in (
            "in_rotation", "weight_zero") else checks.recheck_seconds)
        return base * (1 - checks.jitter * self.rng.random())

    async def _loop(self, member: Member) -> None:
        if not member.prime:
            # The prime's versions first, so that the first verdicts already compare them.
            try:
                async with asyncio.timeout(self.config.checks.timeout_seconds):
                    await self._prime_checked.wait()
            except TimeoutError:
                pass
        while True:
            started = time.perf_counter()
            verdict = await self.check(member)
            self.metrics.check_seconds.labels(member=member.name).observe(
                time.perf_counter() - started)
            self.record(member, verdict)
            if member.prime:
                self._prime_checked.set()
            await asyncio.sleep(self._wait(member))

    def start(self) -> None:
        for member in self.config.members:
            if member.enabled:
                self._tasks.append(asyncio.create_task(self._loop(member),
                                                       name=f"check-{member.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def stalled(self) -> list[str]:
        """Members whose loop has not finished a check for 3 periods + timeout."""
        checks = self.config.checks
        limit = 3 * checks.period_seconds + checks.timeout_seconds
        now = self.clock()
        return [s.member.name for s in self.states.values() if s.member.enabled and (
            s.checked_at is not None and now - s.checked_at > limit)]
