"""Real renders, each ending in its own interpreter teardown, for the price of one import.

    python -m tests.forked_renders OUT STACK [STACK ...]     (a stack may be repeated)

Three tests want ``make render``'s own process from start to exit, not a render inside
pytest: no noise on stderr at interpreter teardown (tests/tools/test_event_loops.py), nothing
imported that requirements-render.txt does not install (tests/tools/test_render_install.py),
and no cloud SDK of another stack (tests/test_program.py). A fresh interpreter per render
spent a third of its ~3-4 s of CPU importing the same provider-neutral modules again, and
these renders were the suite's most expensive tests.

So this process imports what every stack's render imports -- the render tool and the
modules ``__main__.py`` imports at its top, none of which loads a cloud SDK (checked below,
before any fork) -- and then forks one child per STACK argument, at most two at a time. Each
child has fds 1 and 2 on its own files, runs ``tools.render.main`` exactly as ``python -m
tools.render`` does, records the modules it ended with, and leaves by ``SystemExit``: the
interpreter's whole shutdown (atexit hooks, module teardown, the last garbage collection)
runs in the child, where the event-loop noise of issue 13 was printed. The parent holds no
thread and no event loop when it forks (checked too), so a child starts as a fresh
interpreter would, except that those imports are done.

The last line of stdout is JSON: per child, in argument order, its stack, exit status,
stdout, stderr, the top-level names of the installed modules it had loaded, and its folder,
which holds what the render wrote (``render/<stack>/``) and the program's recording
(``recording.pickle``, a :class:`tools.mockrun.Recording`).
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: The SDKs that only some stacks may load: the parent must hold neither when it forks.
CLOUD_SDKS = ("pulumi_gcp", "pulumi_openstack")
PARALLEL = 2


def _installed_modules() -> list[str]:
    # A file under site-packages: not the stdlib, not built-ins, not the repository's own.
    return sorted({
        name.split(".")[0] for name, module in list(sys.modules.items())
        if "site-packages" in (getattr(module, "__file__", None) or "")
    })


def _child(stack: str, folder: Path) -> int:
    """Runs in the forked child; its return value becomes the child's exit status."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    from tools import render

    # The program's recording, for tests that compare it with what the render wrote (the
    # same spy tests/tools/test_render.py used on an in-process render).
    real_run_stack = render.run_stack

    def recording_run_stack(name: str) -> Any:
        recording = real_run_stack(name)
        (folder / "recording.pickle").write_bytes(pickle.dumps(recording))
        return recording

    render.run_stack = recording_run_stack  # type: ignore[assignment]
    status = render.main([stack, "--out", str(folder / "render")])
    (folder / "modules.json").write_text(json.dumps(_installed_modules()))
    return status


def _loop_exists() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return True
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    return getattr(local, "_loop", None) is not None


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out, stacks = Path(argv[0]), argv[1:]

    # What every stack's render imports: the render tool and __main__.py's own imports.
    program = ast.parse((REPO / "__main__.py").read_text())
    shared = [node.module for node in program.body
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0]
    for module in ["tools.render", *shared]:
        importlib.import_module(module)

    loaded = [sdk for sdk in CLOUD_SDKS if sdk in sys.modules]
    if loaded:
        print(f"error: importing the shared modules loaded {loaded}: a child could no longer "
              "show which cloud SDK its own stack imports", file=sys.stderr)
        return 2
    if threading.active_count() != 1 or _loop_exists():
        print("error: a thread or an event loop exists before the fork: the children would "
              "not start as a fresh interpreter does", file=sys.stderr)
        return 2

    folders = [out / f"{i}-{stack}" for i, stack in enumerate(stacks)]
    statuses: dict[int, int] = {}
    running: dict[int, int] = {}  # pid -> job index
    pending = list(range(len(stacks)))
    while pending or running:
        while pending and len(running) < PARALLEL:
            index = pending.pop(0)
            folders[index].mkdir(parents=True)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                # The child: SystemExit unwinds this frame and the interpreter shuts down
                # as after `python -m tools.render` (no try/finally on the way out).
                raise SystemExit(_child(stacks[index], folders[index]))
            running[pid] = index
        pid, wait_status = os.wait()
        statuses[running.pop(pid)] = os.waitstatus_to_exitcode(wait_status)

    results = []
    for index, stack in enumerate(stacks):
        folder = folders[index]
        modules = folder / "modules.json"
        results.append({
            "stack": stack,
            "returncode": statuses[index],
            "stdout": (folder / "stdout").read_text(),
            "stderr": (folder / "stderr").read_text(),
            "modules": json.loads(modules.read_text()) if modules.is_file() else None,
            # What it wrote (render/<stack>/) and its recording.pickle, if it got that far.
            "folder": str(folder),
        })
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
