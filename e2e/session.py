"""A run of the real engine against one control plane: its own backend (a file backend in
its own directory), its own ``PULUMI_HOME``, and each operation a fresh ``python -m
e2e.engine`` process whose output is kept in a log file.

Every operation names its cluster: ``Pulumi.e2e.yaml`` reads its kubeconfig from
``$BINDER_E2E_KUBECONFIG``, which each operation sets to the kubeconfig the test means (the
control plane's admin, or the deploy agent's own). A test that changes the configuration runs
with a copy of the committed stack file (``--config-file``); the committed file is never
written to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.engine import BIN, REPO, TEST_PASSPHRASE

#: The slowest operation (a first `up` of every release) takes seconds here; Helm's own
#: timeouts (minutes) end a stuck one before this does.
OPERATION_TIMEOUT_SECONDS = 1200
#: The TEST-ONLY SOPS key of the example stacks (tests/keys/).
TEST_AGE_KEY = REPO / "tests" / "keys" / "TEST-ONLY-age-key.txt"


class EngineFailed(AssertionError):
    """An operation that should have succeeded did not; the message has its errors and log."""


@dataclass
class Operation:
    """What one engine operation did."""

    operation: str
    ok: bool
    seconds: float
    """Wall time of the whole process (interpreter, program, engine, providers)."""
    engine_seconds: float
    """Of that, the Automation API's call of the engine (from the CLI's start to its end)."""
    engine_started: float | None
    """Seconds from the CLI's start to its first event (stack read, program started)."""
    changes: dict[str, int]
    errors: list[str]
    steps: list[dict[str, Any]]
    """Each resource's step: urn, type, op, start, end (seconds from the start)."""
    planned: dict[str, str]
    """A preview's planned changes, by URN (create, update, replace, delete ...)."""
    output: str
    log: Path

    def changed(self) -> dict[str, int]:
        """The changes other than ``same`` and ``read``."""
        return {k: v for k, v in self.changes.items() if k not in ("same", "read")}


@dataclass
class EngineSession:
    """Operations of one stack in one backend, in fresh processes."""

    directory: Path
    kubeconfig: Path
    stack: str = "e2e"
    project: Path = REPO
    counter: int = field(default=0)

    def __post_init__(self) -> None:
        for sub in ("backend", "home", "logs"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)

    @property
    def backend(self) -> str:
        return f"file://{self.directory / 'backend'}"

    @property
    def state_file(self) -> Path:
        """Where the file backend keeps the stack's state (its checkpoint)."""
        return self.directory / "backend" / ".pulumi" / "stacks" / "binder" / f"{self.stack}.json"

    def stack_file(self, name: str, changes: Mapping[str, Any]) -> Path:
        """A copy of the committed stack file with ``changes`` (config keys) applied."""
        document = yaml.safe_load((self.project / f"Pulumi.{self.stack}.yaml").read_text())
        document["config"].update(changes)
        path = self.directory / "logs" / f"{name}.Pulumi.{self.stack}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def env(self, kubeconfig: Path | None = None,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        # The developer's own settings must not leak into a test run.
        for key in ("PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE_FILE", "SOPS_AGE_KEY",
                    "SOPS_AGE_KEY_CMD"):
            env.pop(key, None)
        env.update({
            "BINDER_E2E_KUBECONFIG": str(kubeconfig or self.kubeconfig),
            "KUBECONFIG": str(kubeconfig or self.kubeconfig),
            "PULUMI_BACKEND_URL": self.backend,
            "PULUMI_HOME": str(self.directory / "home"),
            "PULUMI_CONFIG_PASSPHRASE": TEST_PASSPHRASE,
            "SOPS_AGE_KEY_FILE": str(TEST_AGE_KEY),
            # The example stacks' secrets files are encrypted to the TEST-ONLY key, which the
            # program accepts only in a test run (components/secrets/stored_files.py).
            "BINDER_TEST_RUN": "1",
            "PYTHONPATH": str(REPO),
            # Each operation is a fresh interpreter: let it reuse the bytecode the last one
            # wrote (an empty value unsets it, as `make test` does).
            "PYTHONDONTWRITEBYTECODE": "",
        })
        env.update(extra or {})
        return env

    def run(self, operation: str, *flags: str, kubeconfig: Path | None = None,
            changes: Mapping[str, Any] | None = None, expect_ok: bool = True,
            extra_env: Mapping[str, str] | None = None) -> Operation:
        """One operation against the cluster of ``kubeconfig`` (the session's by default),
        with ``changes`` to the stack's configuration; with ``expect_ok`` a failure raises
        :class:`EngineFailed`."""
        self.counter += 1
        name = f"{self.counter:02d}-{operation}"
        name += "".join(f.replace("--", "-") for f in flags if not f.startswith("--target"))
        log = self.directory / "logs" / f"{name}.log"
        summary_file = self.directory / "logs" / f"{name}.json"
        command = [sys.executable, "-m", "e2e.engine", operation, "--stack", self.stack,
                   "--project", str(self.project), "--summary", str(summary_file), "--yes",
                   *flags]
        if changes:
            command += ["--config-file", str(self.stack_file(name, changes))]
        began = time.monotonic()
        with log.open("w") as out:
            result = subprocess.run(
                command, cwd=REPO, env=self.env(kubeconfig, extra_env), stdout=out,
                stderr=subprocess.STDOUT, timeout=OPERATION_TIMEOUT_SECONDS, check=False,
            )
        seconds = time.monotonic() - began
        output = log.read_text()
        summary: dict[str, Any] = (json.loads(summary_file.read_text())
                                   if summary_file.is_file() else {})
        op = Operation(
            operation=operation, ok=result.returncode == 0 and bool(summary.get("ok")),
            seconds=round(seconds, 2), changes=summary.get("changes", {}),
            engine_seconds=summary.get("seconds", 0.0),
            engine_started=summary.get("engine_started"),
            errors=summary.get("errors", [] if summary else [_last_lines(output)]),
            steps=summary.get("steps", []), planned=summary.get("planned", {}),
            output=output, log=log,
        )
        if expect_ok and not op.ok:
            raise EngineFailed(f"{operation} {' '.join(flags)} failed: "
                               + "\n  ".join(op.errors) + f"\n(log: {log})")
        return op

    def logs(self) -> list[Path]:
        """Every operation's log so far."""
        return sorted((self.directory / "logs").glob("*.log"))

    def pulumi(self, *args: str, kubeconfig: Path | None = None) -> str:
        """The CLI itself (``stack export``, ``stack output``), in this backend."""
        result = subprocess.run(
            [str(BIN / "pulumi"), *args, "--stack", self.stack, "--non-interactive"],
            cwd=self.project, env=self.env(kubeconfig), capture_output=True, text=True,
            timeout=120, check=False,
        )
        if result.returncode != 0:
            raise EngineFailed(f"pulumi {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if show_secrets else [])
        return dict(json.loads(self.pulumi(*args)))

    def export(self, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "export"] + (["--show-secrets"] if show_secrets else [])
        return dict(json.loads(self.pulumi(*args)))


def _last_lines(text: str, n: int = 5) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-n:])


def copy_project(destination: Path) -> Path:
    """A copy of this repository's tracked files in ``destination/project``, with
    ``destination/shared`` pointing at ``../shared`` (where the e2e stack reads its charts):
    for tests that change a file of the project (a values file), never the real one."""
    project = destination / "project"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = project / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    (destination / "shared").symlink_to(REPO.parent / "shared")
    return project
