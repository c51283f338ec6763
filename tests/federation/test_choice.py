"""The two rules over 10,000 synthetic repositories, through the service's own decision
(:meth:`federation.app.Redirector.decide`): the split matches the weights within +-2 points
for both, and rendezvous moves only the keys of a removed member. A smaller run over real
HTTP shows the service answers what ``decide`` says. The figures are printed
(``pytest -s tests/federation``)."""

from __future__ import annotations

import random
from collections import Counter

import aiohttp
import pytest

from federation import choice
from federation.app import Redirector
from federation.config import parse_config
from federation.health import HealthMonitor, Verdict
from federation.metrics import Metrics
from tests.federation.fakes import FakeMember, federation, launch, run, until

WEIGHTS = {"ebi": 0.5, "gcp": 0.3, "partner": 0.2}
REPOSITORIES = [f"/build/gh/org{i % 97}/repo-{i}/main" for i in range(10_000)]
TOLERANCE = 0.02


def _redirector(weights: dict[str, float], rule: str, seed: int = 7) -> Redirector:
    config = parse_config({"choice": rule, "members": [
        {"name": name, "url": f"https://{name}.example.org", "weight": weight,
         "prime": i == 0} for i, (name, weight) in enumerate(weights.items())]})
    redirector = Redirector(config, rng=random.Random(seed))  # noqa: S311 (a test's draw)
    # The monitor's state without its loops: every member checked and in rotation.
    monitor = HealthMonitor(config, None, Metrics())  # type: ignore[arg-type]
    for member in config.members:
        monitor.record(member, Verdict("in_rotation"))
    redirector.monitor = monitor
    return redirector


def _split(redirector: Redirector) -> dict[str, float]:
    counts = Counter(redirector.decide(path).member.name for path in REPOSITORIES)
    return {name: counts[name] / len(REPOSITORIES) for name in WEIGHTS}


@pytest.mark.parametrize("rule", ["rendezvous", "random"])
def test_the_split_over_10000_repositories_matches_the_weights(rule: str) -> None:
    split = _split(_redirector(WEIGHTS, rule))
    total = sum(WEIGHTS.values())
    print(f"\n{rule}: " + ", ".join(f"{n} {split[n]:.4f} (weight share {w / total:.2f})"
                                    for n, w in WEIGHTS.items()))
    for name, weight in WEIGHTS.items():
        assert abs(split[name] - weight / total) <= TOLERANCE, (name, split)


def test_equal_weights_split_evenly_too() -> None:
    split = _split(_redirector({n: 1.0 for n in WEIGHTS}, "rendezvous"))
    assert all(abs(share - 1 / 3) <= TOLERANCE for share in split.values()), split


def test_rendezvous_moves_only_the_keys_of_a_removed_member() -> None:
    three = _redirector(WEIGHTS, "rendezvous")
    two = _redirector({"ebi": 0.5, "gcp": 0.3}, "rendezvous")
    before = {p: three.decide(p).member.name for p in REPOSITORIES}
    after = {p: two.decide(p).member.name for p in REPOSITORIES}
    moved = {p for p in REPOSITORIES if before[p] != after[p]}
    assert moved == {p for p in REPOSITORIES if before[p] == "partner"}
    # ... and they spread over the others by weight (5:3).
    share = Counter(after[p] for p in moved)
    assert abs(share["ebi"] / len(moved) - 0.5 / 0.8) <= TOLERANCE * 2
    # A weight change moves keys between the changed member and the others only.
    heavier = _redirector({**WEIGHTS, "gcp": 0.6}, "rendezvous")
    changed = {p for p in REPOSITORIES if heavier.decide(p).member.name != before[p]}
    assert all(heavier.decide(p).member.name == "gcp" for p in changed)


def test_every_ref_of_a_repository_has_one_key() -> None:
    assert choice.launch_key("/build/gh/Org/Repo/main") == "gh/org/repo"
    assert choice.launch_key("/v2/gh/org/repo/HEAD?urlpath=lab") == "gh/org/repo"
    assert choice.launch_key("/build/gl/group%2Fsub%2Frepo/v1.0") == "gl/group/sub/repo"
    assert choice.launch_key("/v2/gl/group/sub/repo/v1.0") == "gl/group/sub/repo"
    assert choice.launch_key("/v2/git/https%3A%2F%2Fexample.org%2Fr.git/abc") == (
        "git/https://example.org/r.git")
    # A record (no ref) keeps its whole spec.
    assert choice.launch_key("/v2/zenodo/10.5281/zenodo.3242074") == (
        "zenodo/10.5281/zenodo.3242074")
    assert choice.launch_key("/about") is None
    assert choice.launch_key("/build/") is None


def test_http_answers_what_decide_says() -> None:
    async def scenario() -> None:
        members = [FakeMember(n) for n in WEIGHTS]
        async with federation(members, weights=WEIGHTS) as (redirector, base), \
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
            await until(lambda: redirector.monitor is not None
                        and len(redirector.monitor.candidates) == 3, 5)
            urls = {m.url: m.name for m in members}
            for path in REPOSITORIES[:300]:
                location, _ = await launch(client, base, path)
                assert urls[location[: -len(path)]] == redirector.decide(path).member.name

    run(scenario())
