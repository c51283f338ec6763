"""tools/bench.py: ratios to the floor, medians of pairs, the exit status, and a floor that
registers what the program registers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools import bench
from tools.bench import Pair, Sample, exit_code, judge


def _pair(cpu: float, floor_cpu: float, mb: float = 100.0, floor_mb: float = 100.0) -> Pair:
    return Pair(Sample(cpu, mb, 9.0), Sample(floor_cpu, floor_mb, 1.0))


def test_ratios_are_medians_of_per_pair_ratios() -> None:
    pairs = [_pair(1.2, 1.0), _pair(2.6, 2.0), _pair(1.0, 1.0), _pair(5.0, 1.0), _pair(1.1, 1.0)]
    verdict = judge("ebi", pairs)
    # Per pair 1.2, 1.3, 1.0, 5.0, 1.1: the median is 1.2; one slow spell does not decide.
    assert verdict.cpu_ratio == pytest.approx(1.2)
    assert verdict.memory_ratio == pytest.approx(1.0)
    assert verdict.ok
    assert exit_code([verdict]) == 0


def test_a_missed_ratio_fails_and_says_which() -> None:
    cpu = judge("gcp", [_pair(1.5, 1.0)] * 5)
    assert not cpu.ok
    assert cpu.missed == ("CPU 1.50x the floor > 1.3x",)
    memory = judge("gcp", [_pair(1.0, 1.0, mb=120, floor_mb=100)] * 5)
    assert memory.missed == ("peak memory 1.20x the floor > 1.15x",)
    assert exit_code([judge("ebi", [_pair(1.0, 1.0)] * 5), memory]) == 1
    assert "MISSED: peak memory 1.20x" in bench.report_line(memory)


def test_the_targets_themselves_pass() -> None:
    assert judge("ebi", [_pair(1.3, 1.0, mb=115, floor_mb=100)] * 5).ok


def test_absolute_figures_never_decide() -> None:
    """A machine ten times slower and hungrier, alike for program and floor: still ok."""
    slow = [Pair(Sample(12.0, 1200.0, 60.0), Sample(10.0, 1100.0, 50.0))] * 5
    assert exit_code([judge("ebi", slow)]) == 0


def test_fewer_than_five_pairs_is_no_verdict() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        judge("ebi", [_pair(1.0, 1.0)] * 4)
    with pytest.raises(SystemExit):
        bench.main(["ebi", "--pairs", "3"])


def test_secret_leaves_are_blanked_in_the_spec_keeping_type_and_length() -> None:
    from tools.mockrun import SECRET_SIG, SIG_KEY

    wire = {"a": {SIG_KEY: SECRET_SIG, "value": {"token": "hunter2", "n": 3, "on": True}}}
    assert bench.spec_value(wire) == {"a": {"__secret__": {"token": "xxxxxxx", "n": 0.0,
                                                           "on": False}}}


def test_the_floor_registers_what_the_program_registers(tmp_path: Path) -> None:
    """The floor, built from a recording, sends the engine the same resources: types, names,
    parents, providers, options and inputs (secret values blanked, markers kept)."""
    spec = json.loads(json.dumps(bench.record_spec("local")))  # as the file round-trips it
    assert "pulumi_kubernetes.core.v1" in spec["modules"]
    assert all(m.split(".")[0].startswith("pulumi_") for m in spec["modules"])
    floor = bench.run_floor(spec)

    def shape(resources: list[dict]) -> dict[str, dict]:
        return {r["urn"]: {k: v for k, v in r.items() if k != "urn"} for r in resources}

    recorded = shape(spec["resources"])
    replayed = shape(
        [
            {
                "urn": r.urn, "type": r.type, "name": r.name, "custom": r.custom,
                "parent": r.parent, "inputs": bench.spec_value(r.wire), "protect": r.protect,
                "dependencies": r.dependencies, "ignore_changes": r.ignore_changes,
                # A provider reference is `<urn>::<id>`; the floor's ids are its own.
                "provider": r.provider,
                "delete_before_replace": r.delete_before_replace,
                "replace_on_changes": r.replace_on_changes,
                "custom_timeouts": r.custom_timeouts, "version": r.version,
                "additional_secret_outputs": r.additional_secret_outputs,
            }
            for r in floor.resources
        ]
    )
    assert len(recorded) > 10
    assert replayed.keys() == recorded.keys()
    for urn, resource in recorded.items():
        again = replayed[urn]
        assert sorted(again.pop("dependencies")) == sorted(resource.pop("dependencies")), urn
        assert again == resource, urn
    assert bench.spec_value(floor.outputs_wire) == spec["outputs"]


def test_profile_runs_in_the_benchs_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--profile` runs the program in this process: it needs the environment the measured
    children get (the example stacks' TEST-ONLY key is refused without BINDER_TEST_RUN)."""
    monkeypatch.delenv("BINDER_TEST_RUN", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(bench.os, "environ", dict(bench.os.environ))  # restored after
    assert bench.main(["--profile", "ebi", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "== ebi: the repository's own functions" in out
    assert "== ebi: every function, by own time ==" in out


def test_the_measured_runs_use_the_sdks_own_source_positions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deploy computes source positions with the SDK's function; the tests' mock runs use
    a faster equivalent (tools/mockrun.py). The benchmark measures what a deploy pays."""
    from tools import mockrun

    seen: list[object] = []

    def fake_run_program(*args: Any, **kwargs: Any) -> mockrun.Recording:
        seen.append(kwargs.get("sdk_source_positions"))
        return mockrun.Recording()

    monkeypatch.setattr(mockrun, "run_program", fake_run_program)
    monkeypatch.setattr(mockrun, "stack_config", lambda *args, **kwargs: ({}, []))
    assert bench.main(["--program", "local"]) == 0
    bench.run_floor({"stack": "local", "config": {}, "secret_keys": [], "modules": [],
                     "resources": [], "outputs": {}})
    assert seen == [True, True]
