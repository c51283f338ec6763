"""Benchmark: the program's cost per stack, as a ratio to a floor that does the same work plainly.

Absolute times depend on the machine and on whatever else it runs, so they are printed for
information only. What is judged is the program's overhead over a *floor*: a program that
imports the same provider SDK modules and registers the same resources (types, names,
parents, providers, options, inputs with the same secret markers) and the same stack
outputs through plain ``pulumi.CustomResource`` / ``ComponentResource`` /
``ProviderResource`` calls with constant inputs, on the same mock engine
(:func:`tools.mockrun.run_program`). The floor is derived from a recording of the real
program taken in the same run, so it follows the program without upkeep.

Each measurement is a fresh interpreter, as ``pulumi up`` starts one: CPU time (user +
system, including the ``sops`` it runs) and peak resident memory come from ``wait4(2)``.
Both compute source positions with the SDK's own function, as a deploy does (the tests'
mock runs use a faster equivalent, see ``sdk_source_positions`` in tools/mockrun.py).
The program and its floor run in alternation, in pairs (the order flips every pair, so a
slow spell on a shared machine hits both alike); the verdict uses the median of the
per-pair ratios. Usage::

    python -m tools.bench                    # every stack, 5 pairs each
    python -m tools.bench gcp --pairs 9
    python -m tools.bench --profile gcp      # where the program's own time goes (cProfile)

Targets, per stack: CPU <= 1.3 x the floor, peak memory <= 1.15 x the floor. The exit status
is 1 only when a ratio misses its target, never because of an absolute figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CPU_TARGET = 1.3
MEMORY_TARGET = 1.15
MIN_PAIRS = 5


# --------------------------------------------------------------------------------------
# Figures and verdicts (pure; see tests/tools/test_bench.py)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One fresh interpreter's cost."""

    cpu_s: float
    peak_mb: float
    wall_s: float


@dataclass(frozen=True)
class Pair:
    program: Sample
    floor: Sample

    @property
    def cpu_ratio(self) -> float:
        return self.program.cpu_s / self.floor.cpu_s

    @property
    def memory_ratio(self) -> float:
        return self.program.peak_mb / self.floor.peak_mb


@dataclass(frozen=True)
class Verdict:
    stack: str
    pairs: tuple[Pair, ...]
    cpu_ratio: float
    memory_ratio: float
    missed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missed


def judge(
    stack: str,
    pairs: Sequence[Pair],
    cpu_target: float = CPU_TARGET,
    memory_target: float = MEMORY_TARGET,
) -> Verdict:
    """Median per-pair ratios against the targets. Fewer than :data:`MIN_PAIRS` pairs is an
    error, not a verdict: a median of two proves nothing."""
    if len(pairs) < MIN_PAIRS:
        raise ValueError(f"{stack}: {len(pairs)} pair(s); the verdict needs at least {MIN_PAIRS}")
    cpu = statistics.median(p.cpu_ratio for p in pairs)
    memory = statistics.median(p.memory_ratio for p in pairs)
    missed = []
    if cpu > cpu_target:
        missed.append(f"CPU {cpu:.2f}x the floor > {cpu_target}x")
    if memory > memory_target:
        missed.append(f"peak memory {memory:.2f}x the floor > {memory_target}x")
    return Verdict(stack, tuple(pairs), cpu, memory, tuple(missed))


def exit_code(verdicts: Sequence[Verdict]) -> int:
    return 0 if all(v.ok for v in verdicts) else 1


def report_line(v: Verdict) -> str:
    def both(attr: str, fmt: str) -> str:
        program = statistics.median(getattr(p.program, attr) for p in v.pairs)
        floor = statistics.median(getattr(p.floor, attr) for p in v.pairs)
        return f"{program:{fmt}} / {floor:{fmt}}"

    verdict = "ok" if v.ok else "MISSED: " + "; ".join(v.missed)
    return (
        f"{v.stack:6} {len(v.pairs):5d} {v.cpu_ratio:8.2f}x {v.memory_ratio:8.2f}x"
        f"   {both('cpu_s', '5.2f')} s   {both('peak_mb', '5.0f')} MB"
        f"   {both('wall_s', '5.2f')} s   {verdict}"
    )


HEADER = (
    "stack  pairs CPU/floor mem/floor   CPU program/floor   peak memory        "
    "wall (information)  verdict"
)


# --------------------------------------------------------------------------------------
# The floor: the recorded resources, registered plainly
# --------------------------------------------------------------------------------------

#: A secret leaf's value in the spec file: same type and length, never the secret itself.
def _blank(value: Any) -> Any:
    if isinstance(value, str):
        return "x" * len(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0.0
    return value


def spec_value(wire: Any) -> Any:
    """Wire form -> JSON the floor turns back into the same wire form: a secret becomes
    ``{"__secret__": <blanked value>}`` (the floor wraps it in ``Output.secret``)."""
    from tools.mockrun import is_secret

    if is_secret(wire):
        return {"__secret__": _blank_all(wire.get("value"))}
    if isinstance(wire, dict):
        return {k: spec_value(v) for k, v in wire.items()}
    if isinstance(wire, list):
        return [spec_value(v) for v in wire]
    return wire


def _blank_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _blank_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_all(v) for v in value]
    return _blank(value)


def _floor_input(value: Any) -> Any:
    import pulumi

    if isinstance(value, dict) and set(value) == {"__secret__"}:
        return pulumi.Output.secret(value["__secret__"])
    if isinstance(value, dict):
        return {k: _floor_input(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floor_input(v) for v in value]
    return value


def loaded_sdk_modules() -> list[str]:
    """The provider SDK modules this interpreter has executed, in import order.

    The SDKs register most submodules lazily (``_utilities.lazy_import``: an
    ``importlib.util.LazyLoader`` module in ``sys.modules`` that runs on first attribute
    access, https://github.com/pulumi/pulumi/blob/master/sdk/python/lib/pulumi/_utils.py);
    those that were never touched cost nothing and are left out.
    """
    # A lazy module is an instance of a ModuleType subclass until it runs (pulumi._utils.
    # _LazyModule), then its class becomes ModuleType itself.
    return [
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0].startswith("pulumi_") and type(module) is types.ModuleType
    ]


def record_spec(stack: str) -> dict[str, Any]:
    """Run the real program once and describe what the floor must repeat."""
    from tools.mockrun import run_stack, stack_config

    recording = run_stack(stack)
    config, secret_keys = stack_config(stack)
    return {
        "stack": stack,
        "config": config,
        "secret_keys": secret_keys,
        "modules": loaded_sdk_modules(),
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "custom": r.custom,
                "parent": r.parent,
                "inputs": spec_value(r.wire),
                "protect": r.protect,
                "dependencies": r.dependencies,
                "ignore_changes": r.ignore_changes,
                "provider": r.provider,
                "delete_before_replace": r.delete_before_replace,
                "replace_on_changes": r.replace_on_changes,
                "custom_timeouts": r.custom_timeouts,
                "version": r.version,
                "additional_secret_outputs": r.additional_secret_outputs,
            }
            for r in recording.resources
        ],
        "outputs": spec_value(recording.outputs_wire),
    }


def run_floor(spec: dict[str, Any]) -> Any:
    """The floor program for ``spec`` on the same mock engine; returns its recording."""
    import importlib

    import pulumi

    from tools.mockrun import run_program

    for name in spec["modules"]:
        module = importlib.import_module(name)
        if type(module) is not types.ModuleType:
            # Registered lazily by its package: any attribute but the introspection ones
            # (__name__, __dict__ ...) runs it, as the program's first use did.
            getattr(module, "__all__", None)

    def program() -> None:
        made: dict[str, pulumi.Resource] = {}
        for r in spec["resources"]:
            timeouts = r["custom_timeouts"]
            provider = made.get(r["provider"].rsplit("::", 1)[0]) if r["provider"] else None
            opts = pulumi.ResourceOptions(
                parent=made.get(r["parent"]),
                depends_on=[made[u] for u in r["dependencies"] if u in made] or None,
                protect=r["protect"] or None,
                ignore_changes=r["ignore_changes"] or None,
                provider=provider if isinstance(provider, pulumi.ProviderResource) else None,
                delete_before_replace=r["delete_before_replace"] or None,
                replace_on_changes=r["replace_on_changes"] or None,
                custom_timeouts=pulumi.CustomTimeouts(**timeouts) if timeouts else None,
                version=r["version"] or None,
                additional_secret_outputs=r["additional_secret_outputs"] or None,
            )
            inputs = _floor_input(r["inputs"])
            resource: pulumi.Resource
            if r["type"].startswith("pulumi:providers:"):
                package = r["type"].rsplit(":", 1)[1]
                resource = pulumi.ProviderResource(package, r["name"], inputs, opts)
            elif r["custom"]:
                resource = pulumi.CustomResource(r["type"], r["name"], inputs, opts)
            else:
                resource = pulumi.ComponentResource(r["type"], r["name"], None, opts)
            made[r["urn"]] = resource
        for name, value in _floor_input(spec["outputs"]).items():
            pulumi.export(name, value)

    return run_program(
        program, stack=spec["stack"], config=spec["config"], secret_keys=spec["secret_keys"],
        sdk_source_positions=True,
    )


# --------------------------------------------------------------------------------------
# Measuring fresh interpreters
# --------------------------------------------------------------------------------------


def _local_kubeconfig(directory: str) -> str:
    """The local stack reads a kubeconfig; give it a throwaway one, never the user's."""
    path = Path(directory) / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: https://127.0.0.1:6443\ncontexts:\n- name: c\n  context:\n"
        "    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n"
    )
    return str(path)


def child_environment(tmp: str) -> dict[str, str]:
    """The measured interpreters' environment.

    Bytecode is cached, in a private folder: ``pulumi up`` runs a program whose ``.pyc``
    files exist after the first run, as the SDKs' exist from their install. With
    ``PYTHONDONTWRITEBYTECODE`` (common in containers and CI) every run would compile the
    program's own modules again but not the SDKs', and that compile time would be charged to
    the program. ``PYTHONPYCACHEPREFIX`` keeps the cache out of the repository; both the
    program and the floor read it, and the warm-up runs fill it.
    https://docs.python.org/3/using/cmdline.html#envvar-PYTHONPYCACHEPREFIX
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "KUBECONFIG": _local_kubeconfig(tmp),
        "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("SOPS_AGE_KEY_FILE", str(REPO / "tests/keys/TEST-ONLY-age-key.txt"))
    # The example stacks' secrets files are encrypted to the TEST-ONLY key, which the program
    # refuses outside test runs (components/secrets/sops.py); on the mock engine nothing is
    # deployed, so the bench is such a run.
    env["BINDER_TEST_RUN"] = "1"
    return env


def measure(argv: list[str], env: dict[str, str]) -> Sample:
    """CPU (user + system, children included) and peak RSS of one fresh interpreter."""
    import time

    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.bench", *argv],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)}: failed\n{err.read().decode(errors='replace')}")
    # Linux reports ru_maxrss in KiB.
    return Sample(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall)


def bench_stack(stack: str, pairs: int, env: dict[str, str], tmp: str) -> Verdict:
    spec_path = str(Path(tmp) / f"{stack}.floor.json")
    measure(["--write-spec", stack, spec_path], env)  # also warms the caches and .pyc files
    measure(["--floor", spec_path], env)
    program_argv, floor_argv = ["--program", stack], ["--floor", spec_path]
    done = []
    for i in range(pairs):
        if i % 2 == 0:
            program, floor = measure(program_argv, env), measure(floor_argv, env)
        else:
            floor, program = measure(floor_argv, env), measure(program_argv, env)
        done.append(Pair(program, floor))
    return judge(stack, done)


# --------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------


def profile(stack: str, top: int) -> None:
    """cProfile of one in-process run, twice: the program's own code (the repository's
    files), then everything by total time."""
    import cProfile
    import pstats

    from tools.mockrun import run_stack

    profiler = cProfile.Profile()
    profiler.enable()
    run_stack(stack, sdk_source_positions=True)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative")
    print(f"== {stack}: the repository's own functions, by cumulative time ==")
    stats.print_stats(f"^{REPO}/(components|__main__)", top)
    stats.sort_stats("tottime")
    print(f"== {stack}: every function, by own time ==")
    stats.print_stats(top)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("stacks", nargs="*", help="default: every Pulumi.<stack>.yaml")
    parser.add_argument("--pairs", type=int, default=MIN_PAIRS, help="program/floor pairs")
    parser.add_argument("--profile", metavar="STACK", help="print a cProfile of STACK, no bench")
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
    # The measured children (one fresh interpreter each):
    parser.add_argument("--program", metavar="STACK", help=argparse.SUPPRESS)
    parser.add_argument("--floor", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--write-spec", nargs=2, metavar=("STACK", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.program:
        from tools.mockrun import run_stack

        run_stack(args.program, sdk_source_positions=True)
        return 0
    if args.floor:
        run_floor(json.loads(Path(args.floor).read_text()))
        return 0
    if args.write_spec:
        stack, path = args.write_spec
        Path(path).write_text(json.dumps(record_spec(stack)))
        return 0
    if args.profile:
        # The measured children's environment (TEST-ONLY key allowed, a throwaway
        # kubeconfig), applied to this process: the profile runs in it.
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            os.environ.update(
                {k: v for k, v in child_environment(tmp).items()
                 if k in ("KUBECONFIG", "SOPS_AGE_KEY_FILE", "BINDER_TEST_RUN")}
            )
            profile(args.profile, args.top)
        return 0
    if args.pairs < MIN_PAIRS:
        parser.error(f"--pairs must be at least {MIN_PAIRS} (the verdict is a median of pairs)")

    stacks = args.stacks or sorted(p.name[7:-5] for p in REPO.glob("Pulumi.*.yaml"))
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = child_environment(tmp)
        print(f"targets: CPU <= {CPU_TARGET}x, peak memory <= {MEMORY_TARGET}x the floor "
              "(medians of per-pair ratios); absolute figures are for information")
        print(HEADER)
        for stack in stacks:
            verdict = bench_stack(stack, args.pairs, env, tmp)
            print(report_line(verdict), flush=True)
            verdicts.append(verdict)
    return exit_code(verdicts)


if __name__ == "__main__":
    raise SystemExit(main())
