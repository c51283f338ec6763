"""The real Pulumi engine, offline: one operation of one stack of the real program.

``python -m e2e.engine up --stack e2e`` is ``pulumi up`` of this project, run through the
Automation API with an **inline program** that executes the real ``__main__.py``. The
Automation API serves the Python program itself (a language server inside this process,
``--client=127.0.0.1:PORT``), so the engine never needs ``pulumi-language-python``, which no
module proxy serves (https://github.com/pulumi/pulumi/tree/master/sdk/python/cmd: untagged).
The engine finds the providers it needs on PATH (``bin/``: ``pulumi-resource-kubernetes``
and ``pulumi-resource-random``), and automatic plugin downloads are off.

Each operation runs in a fresh process: the program's modules keep state between runs in
one interpreter. The last line printed is one JSON object (operation, seconds, changes,
error), for the tests; everything before it is the engine's own output, secrets hidden.

Failures end with one message per failed resource, in our words: which resource, what the
API server or Helm said; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin"
PROJECT = "binder"
#: The project directory the program runs in: this repository, or a copy of it (tests that
#: change a file of the project use a copy, `--project`).
project_dir = REPO

#: The e2e stack's passphrase, public on purpose (its `encryptionsalt` is in Pulumi.e2e.yaml):
#: the stack holds fake values only. Another stack uses the caller's PULUMI_CONFIG_PASSPHRASE.
TEST_PASSPHRASE = "binder-e2e-TEST-ONLY-passphrase"  # noqa: S105 (public, see above)

OPERATIONS = ("preview", "up", "refresh", "destroy")
STACK_TYPE = "pulumi:pulumi:Stack"


def program() -> None:
    """The inline program: the real ``__main__.py``, run from the project directory as
    ``pulumi up`` runs it."""
    os.chdir(project_dir)
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")


def engine_env(base: Mapping[str, str] | None = None, *, stack: str = "e2e") -> dict[str, str]:
    """The environment of the engine and its plugins: ``bin/`` first on PATH, no update
    check, no plugin downloads, and the e2e stack's test passphrase unless one is set."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env.setdefault("PULUMI_BACKEND_URL", f"file://{project_dir / '.pulumi-state'}")
    if stack == "e2e" and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env.setdefault("PULUMI_CONFIG_PASSPHRASE", TEST_PASSPHRASE)
    return env


def select_stack(stack: str, env: Mapping[str, str]) -> auto.Stack:
    """The stack, created in the backend the first time (as ``make up`` does)."""
    if env["PULUMI_BACKEND_URL"].startswith("file://"):
        Path(env["PULUMI_BACKEND_URL"][len("file://"):]).mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(project_dir),
        pulumi_home=env.get("PULUMI_HOME"),
        pulumi_command=auto.PulumiCommand(root=str(REPO)),
        env_vars=dict(env),
    )
    return auto.create_or_select_stack(
        stack_name=stack, project_name=PROJECT, program=program, opts=options
    )


@dataclass
class Timeline:
    """When each resource's step began and ended, as the engine reported it: seconds since the
    operation started, and the event's position in the engine's event stream (``*_seq``),
    which orders steps exactly. What the tests check the order against, and what the wall
    time is made of. Only URNs, types and operations: never inputs or outputs."""

    began: float = field(default_factory=time.monotonic)
    seq: int = 0
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_event: float | None = None
    """When the engine's first event arrived (it has read the stack and started)."""
    planned: dict[str, str] = field(default_factory=dict)
    """What a preview would do to each resource (its steps are only planned)."""
    changes: dict[str, int] = field(default_factory=dict)
    """The engine's summary of changes, also when the operation fails afterwards
    (``--expect-no-changes``)."""

    def _step(self, meta: Any, now: float) -> dict[str, Any]:
        return self.steps.setdefault(meta.urn, {
            "urn": meta.urn, "type": meta.type, "op": meta.op.value,
            "start": now, "start_seq": self.seq})

    def on_event(self, event: auto.EngineEvent) -> None:
        self.seq += 1
        now = round(time.monotonic() - self.began, 3)
        if self.first_event is None:
            self.first_event = now
        pre, done = event.resource_pre_event, event.res_outputs_event
        failed = event.res_op_failed_event
        if event.summary_event is not None:
            self.changes = {k: int(v) for k, v in
                            (event.summary_event.resource_changes or {}).items()}
        if pre is not None and pre.planning:
            self.planned[pre.metadata.urn] = pre.metadata.op.value
        elif pre is not None:
            self._step(pre.metadata, now)
        elif done is not None and not done.planning:
            self._step(done.metadata, now).update(end=now, end_seq=self.seq)
        elif failed is not None:
            self._step(failed.metadata, now).update(failed=now)


@dataclass
class Failures:
    """What the engine reported as errors, by resource, said once each in our words."""

    by_resource: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def on_event(self, event: auto.EngineEvent) -> None:
        diag = event.diagnostic_event
        if diag is not None and diag.severity == "error":
            message = diag.message.strip()
            if diag.urn:
                self.by_resource.setdefault(_describe(diag.urn), []).append(message)
            else:
                self.general.append(message)

    def lines(self) -> list[str]:
        """One line per distinct problem: the resources it hit, then what went wrong. The
        same refusal of many objects (an unreachable API server) is one line."""
        grouped: dict[str, list[str]] = {}
        for resource, messages in self.by_resource.items():
            for message in messages:
                resources = grouped.setdefault(in_our_words(message), [])
                if resource not in resources:
                    resources.append(resource)
        out = [
            # The program's own errors (the plan's) are the stack's: they need no prefix.
            message if resources[0].endswith(f"({STACK_TYPE})") else
            f"{_resources(resources)}: {message}"
            for message, resources in grouped.items()
        ]
        out += [in_our_words(m) for m in self.general if not _is_summary(m)]
        return list(dict.fromkeys(out))


def _resources(resources: list[str]) -> str:
    if len(resources) == 1:
        return resources[0]
    names = ", ".join(r.split(" (", 1)[0] for r in resources[:4])
    more = f" and {len(resources) - 4} more" if len(resources) > 4 else ""
    return f"{len(resources)} resources ({names}{more})"


#: The provider's words for the failures a user meets, and ours.
_UNREACHABLE = re.compile(
    r"configured Kubernetes cluster is unreachable: .*dial tcp (?P<addr>[^ ]+): "
    r"(?:connect: )?(?P<why>[^\"]+?)\"?$")
_HELM_PARTIAL = re.compile(
    r'Helm release "(?P<release>[^"]+)" was created,? but failed to initialize completely.*?'
    r"Error: Helm Release [^:]+: (?:\d+ errors? occurred: )?\* ?(?P<why>.+)$")
_FORBIDDEN = re.compile(r'is forbidden: User "(?P<user>[^"]+)" cannot (?P<verb>\w+) resource')


def in_our_words(message: str) -> str:
    """An engine or provider diagnostic as one line that says what happened and what to do;
    the API server's or Helm's own words are kept where they name the problem."""
    text = " ".join(message.split()).removeprefix("error: ")
    # The Python SDK reports a program's error, and the engine the program's failure: one
    # message, said twice (the second time as "an unhandled error", though it was handled).
    text = text.removeprefix("an unhandled error occurred: ")
    text = re.sub(r"^\d+ errors? occurred: \* ", "", text)
    text = re.sub(r'^the Kubernetes API server reported that "[^"]+" failed to fully '
                  r"initialize or become live: ", "", text)
    if match := _UNREACHABLE.search(text):
        return (f"the Kubernetes API server at {match['addr']} cannot be reached "
                f"({match['why']}); start the cluster, or fix the server of the kubeconfig "
                "that binder:cluster names")
    if match := _HELM_PARTIAL.search(text):
        return (f"Helm release {match['release']} was installed, but the API server refused "
                f"part of it: {match['why']}; fix the release's values and run up again (the "
                "next up upgrades it; destroy removes it)")
    if match := _FORBIDDEN.search(text):
        return (f"the API server refused it to {match['user']} (RBAC): {text}; this change "
                "needs the cluster's admin credentials (docs/access.md)")
    return text


def _describe(urn: str) -> str:
    """``releases-binderhub-release (kubernetes:helm.sh/v3:Release)`` from a URN."""
    parts = urn.split("::")
    name = parts[-1] if parts else urn
    type_ = parts[-2].split("$")[-1] if len(parts) >= 2 else "?"
    return f"{name} ({type_})"


def _is_summary(message: str) -> bool:
    """The engine's closing remarks that only repeat the failures above. "Resource monitor
    has terminated" is the Python SDK's note that the engine stopped taking registrations
    after the first failure; a slow program (a loaded machine) still registering then gets
    it, a fast one does not, and it names no problem of its own."""
    return message.startswith(("update failed", "preview failed", "destroy failed",
                               "refresh failed", "one or more errors",
                               "Resource monitor has terminated"))


def run(operation: str, stack: str, *, expect_no_changes: bool = False,
        refresh: bool = False, env: Mapping[str, str] | None = None,
        parallel: int | None = None, config_file: str | None = None,
        targets: list[str] | None = None) -> dict[str, Any]:
    """One operation; the summary the CLI prints as its last line."""
    environment = engine_env(env, stack=stack)
    failures = Failures()
    timeline = Timeline()

    def on_event(event: auto.EngineEvent) -> None:
        failures.on_event(event)
        timeline.on_event(event)

    began = time.monotonic()
    summary: dict[str, Any] = {"operation": operation, "stack": stack}
    common: dict[str, Any] = {"on_output": _print, "on_event": on_event, "color": "never"}
    if parallel:
        common["parallel"] = parallel
    if targets:
        common.update(target=targets, target_dependents=True)
    if config_file:
        common["config_file"] = config_file
    try:
        target = select_stack(stack, environment)
        if operation == "preview":
            result: Any = target.preview(expect_no_changes=expect_no_changes, refresh=refresh,
                                         diff=True, **common)
            summary["changes"] = dict(result.change_summary)
        elif operation == "up":
            result = target.up(expect_no_changes=expect_no_changes, refresh=refresh,
                               show_secrets=False, **common)
            summary["changes"] = dict(result.summary.resource_changes or {})
        elif operation == "refresh":
            result = target.refresh(expect_no_changes=expect_no_changes, show_secrets=False,
                                    **common)
            summary["changes"] = dict(result.summary.resource_changes or {})
        elif operation == "destroy":
            result = target.destroy(show_secrets=False, **common)
            summary["changes"] = dict(result.summary.resource_changes or {})
        else:
            raise ValueError(operation)
        summary["ok"] = True
    except auto.CommandError as exc:
        summary["ok"] = False
        summary["errors"] = failures.lines() or [_command_error(exc)]
        summary["changes"] = timeline.changes
    summary["seconds"] = round(time.monotonic() - began, 2)
    summary["engine_started"] = timeline.first_event
    summary["planned"] = {urn: op for urn, op in timeline.planned.items()
                          if op not in ("same", "read")}
    summary["steps"] = list(timeline.steps.values())
    return summary


def _command_error(exc: auto.CommandError) -> str:
    """The engine's own words when no resource reported an error (a wrong backend, a missing
    plugin, a locked stack, ``--expect-no-changes`` finding changes)."""
    errors = []
    for line in str(exc).splitlines():
        text = line.strip().removeprefix("stderr:").strip()
        if text.startswith("error:"):
            errors.append(text.removeprefix("error:").strip())
    return "; ".join(dict.fromkeys(errors)) or "the engine failed without saying why"


def _print(line: str) -> None:
    print(line, flush=True)


def _ask(args: argparse.Namespace) -> int | None:
    """As `pulumi up` and `pulumi destroy` do: show what would change, then ask. None to go
    on, else the exit status (0: nothing to change, 1: a failed preview or a no)."""
    if args.operation == "up":
        shown = run("preview", args.stack, refresh=args.refresh, config_file=args.config_file,
                    targets=args.target)
        if not shown["ok"]:
            for line in shown.get("errors", []):
                print(f"error: {line}", file=sys.stderr)
            return 1
        if not {k for k in shown.get("changes", {}) if k not in ("same", "read")}:
            print("Nothing to change.")
            return 0
    answer = input(f"Do you want to perform this {args.operation} of stack {args.stack}? "
                   "[y/N] ")
    return None if answer.strip().lower() in ("y", "yes") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.engine",
        description="One Pulumi operation of the real program on the real engine, offline.",
    )
    parser.add_argument("operation", choices=OPERATIONS)
    parser.add_argument("--stack", default="e2e")
    parser.add_argument("--expect-no-changes", action="store_true")
    parser.add_argument("--yes", action="store_true",
                        help="up/destroy without showing a preview and asking first (as "
                        "`pulumi up --yes`; implied when stdin is not a terminal)")
    parser.add_argument("--refresh", action="store_true")
    parser.add_argument("--parallel", type=int)
    parser.add_argument("--target", action="append", metavar="URN",
                        help="only this resource and what depends on it (repeatable)")
    parser.add_argument("--project", type=Path, default=REPO,
                        help="the project directory (default: this repository)")
    parser.add_argument("--summary", help="also write the summary, with each resource's step "
                        "times, to this JSON file")
    parser.add_argument("--config-file", help="the stack's settings from this file instead of "
                        "Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    global project_dir
    project_dir = args.project.resolve()
    missing = [n for n in ("pulumi", "pulumi-resource-kubernetes", "pulumi-resource-random")
               if not (BIN / n).is_file()]
    if missing:
        print(f"error: bin/ lacks {', '.join(missing)}: run `make e2e-tools` first",
              file=sys.stderr)
        return 2
    if args.operation in ("up", "destroy") and not args.yes and sys.stdin.isatty():
        status = _ask(args)
        if status is not None:
            return status
    summary = run(args.operation, args.stack, expect_no_changes=args.expect_no_changes,
                  refresh=args.refresh, parallel=args.parallel, config_file=args.config_file,
                  targets=args.target)
    for line in summary.get("errors", []):
        print(f"error: {line}", file=sys.stderr)
    steps, planned = summary.pop("steps"), summary.pop("planned")
    if args.summary:
        Path(args.summary).write_text(json.dumps({**summary, "steps": steps,
                                                  "planned": planned}, indent=1))
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
