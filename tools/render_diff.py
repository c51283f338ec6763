"""What a change does to a stack's plan, offline: ``make render`` of a base commit and of the
working tree, compared.

    python -m tools.render_diff ebi                   # base: merge base with origin/main
    python -m tools.render_diff ebi --base v1.4.0     # or: make render-diff STACK=ebi BASE=...
    python -m tools.render_diff ebi --markdown "$GITHUB_STEP_SUMMARY"

Both sides are rendered by :mod:`tools.render` (no credentials, no cluster), each in its own
process: the working tree as it is (uncommitted changes included), the base in a temporary
``git worktree`` of that commit, removed afterwards. The output is a unified diff of every
file the render writes -- ``plan.txt``, the Helm values, ``resources.yaml`` and
``manifests/`` -- with secrets already redacted by the render, so it may be posted publicly.

The base worktree is created inside a temporary folder that also holds a link ``shared`` to
this clone's ``../shared``, so the base's renderer finds the chart sources where it looks
for them (``<repo>/../shared/charts``). A base older than the manifests (or than
``plan.txt``) simply has fewer files: they show as added. A stack the base does not have
shows as entirely added.

Default base: ``git merge-base HEAD origin/main`` (what a pull request changes). Without an
``origin/main`` (a clone with no remote, or a shallow CI checkout), the merge base with the
local ``main`` is used and a note says so; with neither, the tool stops and asks for
``--base``.

Exit status: 0 the diff was made (whether or not anything changed), 1 a render failed, 2 bad
arguments or git trouble.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parent.parent
#: One render of one stack: the mock engine plus the charts take seconds, not minutes.
RENDER_TIMEOUT = 600
#: A step's summary holds at most 1 MiB: beyond it the runner drops the whole summary of
#: the step ("$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k";
#: https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions#adding-a-markdown-summary).
#: CI appends one diff per stack (six now: e2e, ebi, federation, gcp, local, staging) in one
#: step: each stays under a sixth of it, with room for a seventh stack's title and notes.
MARKDOWN_LIMIT = 160_000


class DiffError(Exception):
    """Something the user has to fix (a ref, git); the message says what."""


class RenderFailed(DiffError):
    """One side could not be rendered (exit 1)."""


def _git(*args: str, cwd: Path) -> str:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as err:
        raise DiffError(f"could not run git: {err}") from err
    if proc.returncode != 0:
        raise DiffError(f"`git {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout}")
    return proc.stdout.strip()


def _has_ref(ref: str, repo: Path) -> bool:
    try:
        _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo)
    except DiffError:
        return False
    return True


@dataclass(frozen=True)
class Base:
    commit: str
    described: str
    note: str = ""


def resolve_base(base: str | None, repo: Path = REPO) -> Base:
    """The commit to compare with: ``base`` if given, else the merge base with origin/main
    (falling back to the local main, with a note)."""
    if base:
        if not _has_ref(base, repo):
            raise DiffError(
                f"BASE {base!r} is not a commit here; give a branch, tag or commit "
                "(`git fetch` it first if it is only on the remote)"
            )
        return Base(_git("rev-parse", f"{base}^{{commit}}", cwd=repo), base)
    for ref, note in (
        ("origin/main", ""),
        (
            "main",
            "note: no origin/main here (no remote, or not fetched); comparing with the merge "
            "base of the local main instead. Set BASE=<ref> to choose.",
        ),
    ):
        if _has_ref(ref, repo):
            try:
                commit = _git("merge-base", "HEAD", ref, cwd=repo)
            except DiffError as err:
                raise DiffError(
                    f"HEAD and {ref} have no merge base ({err}); in a shallow clone fetch more "
                    "history (`git fetch --unshallow`), or set BASE=<ref>"
                ) from err
            return Base(commit, f"merge base with {ref}", note)
    raise DiffError(
        "neither origin/main nor main exists here, so there is no default base: set "
        "BASE=<git ref> (e.g. make render-diff STACK=ebi BASE=HEAD~1)"
    )


@dataclass
class Side:
    """One rendered side: its output folder (``<out>/<stack>/``), or why there is none."""

    files: dict[str, str]
    missing_stack: bool = False


def _render(tree: Path, stack: str, out: Path, python: str) -> Side:
    if not (tree / f"Pulumi.{stack}.yaml").is_file():
        return Side({}, missing_stack=True)
    if not (tree / "tools" / "render.py").is_file():
        raise RenderFailed(f"{tree} has no tools/render.py: that commit cannot be rendered")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run(
            [python, "-m", "tools.render", stack, "--out", str(out)],
            cwd=tree, env=env, capture_output=True, text=True, timeout=RENDER_TIMEOUT,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise RenderFailed(f"the render of {stack} in {tree} took over {RENDER_TIMEOUT} s") from err
    if proc.returncode != 0:
        raise RenderFailed(
            f"the render of {stack} in {tree} failed (exit {proc.returncode}):\n"
            + (proc.stderr.strip() or proc.stdout.strip()[-2000:])
        )
    root = out / stack
    files = {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    return Side(files)


@dataclass(frozen=True)
class FileDiff:
    name: str
    lines: list[str]
    """The unified diff of this file, headers included, each line ending in a newline."""

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines[2:] if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines[2:] if line.startswith("-"))


def file_diffs(base: Side, head: Side) -> list[FileDiff]:
    """The unified diff of each file that differs between the two sides, in path order."""
    diffs: list[FileDiff] = []
    for name in sorted(set(base.files) | set(head.files)):
        old, new = base.files.get(name), head.files.get(name)
        if old == new:
            continue
        lines = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            (new or "").splitlines(keepends=True),
            fromfile=f"a/{name}" if old is not None else "/dev/null",
            tofile=f"b/{name}" if new is not None else "/dev/null",
        )
        diffs.append(FileDiff(name, [x if x.endswith("\n") else x + "\n" for x in lines]))
    return diffs


def unified(diffs: Sequence[FileDiff]) -> str:
    return "".join(line for d in diffs for line in d.lines)


def stat(diffs: Sequence[FileDiff]) -> list[str]:
    """One line per changed file: its name and the lines added and removed."""
    width = max((len(d.name) for d in diffs), default=0)
    return [f"{d.name:<{width}}  +{d.added} -{d.removed}" for d in diffs]


def markdown(
    stack: str, base: Base, diffs: Sequence[FileDiff], limit: int = MARKDOWN_LIMIT
) -> str:
    """The diff as a job-summary section: the changed files with their line counts, then a
    fenced ``diff`` block longer than any run of backticks inside it, cut at ``limit`` bytes
    (whole lines) with a note."""
    title = (
        f"### Offline render of `{stack}`: changes against {base.described} "
        f"(`{base.commit[:12]}`)\n\n"
    )
    if not diffs:
        return title + "No change to the plan, values, resources or rendered objects.\n\n"
    title += "".join(f"- `{d.name}` +{d.added} -{d.removed}\n" for d in diffs) + "\n"
    diff = unified(diffs)
    cut = ""
    size = len(diff.encode())
    if size > limit:  # the summary's limit is in bytes: cut the UTF-8 text at whole lines
        kept = diff.encode()[:limit].decode(errors="ignore").rsplit("\n", 1)[0] + "\n"
        cut = (
            f"\n_The diff is {size:,} bytes; the first {len(kept.encode()):,} are shown. "
            f"Run `make render-diff STACK={stack} BASE={base.commit[:12]}` for all of it._\n"
        )
        diff = kept
    longest = max((len(m) for m in re.findall(r"`+", diff)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{title}{fence}diff\n{diff}{fence}\n{cut}\n"


def render_diff(
    stack: str, base: Base, repo: Path = REPO, python: str = sys.executable
) -> tuple[list[FileDiff], list[str]]:
    """The file diffs of ``stack`` between ``base`` and the working tree of ``repo``, and
    notes."""
    notes = [base.note] if base.note else []
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        work = Path(tmp)
        head = _render(repo, stack, work / "head", python)
        if head.missing_stack:
            raise DiffError(f"Pulumi.{stack}.yaml does not exist in the working tree")
        shared = repo.parent / "shared"
        if shared.exists():
            (work / "shared").symlink_to(shared)
        tree = work / "base"
        _git("worktree", "add", "--detach", "--quiet", str(tree), base.commit, cwd=repo)
        try:
            old = _render(tree, stack, work / "base-out", python)
        finally:
            try:
                _git("worktree", "remove", "--force", str(tree), cwd=repo)
            except DiffError:
                shutil.rmtree(tree, ignore_errors=True)
                _git("worktree", "prune", cwd=repo)
        if old.missing_stack:
            notes.append(f"note: the base has no Pulumi.{stack}.yaml: everything shows as added")
    return file_diffs(old, head), notes


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = argparse.ArgumentParser(
        prog="python -m tools.render_diff", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("stack", help="stack name: Pulumi.<stack>.yaml must exist")
    parser.add_argument(
        "--base", help="git ref to compare with (default: the merge base with origin/main)"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        help="also APPEND the diff as a fenced markdown section to this file "
        "(e.g. $GITHUB_STEP_SUMMARY)",
    )
    parser.add_argument(
        "--markdown-limit",
        type=int,
        default=MARKDOWN_LIMIT,
        metavar="BYTES",
        help=f"cut the markdown's diff at this many bytes (default {MARKDOWN_LIMIT}; a pull "
        "request's body holds 65,536 characters in all)",
    )
    args = parser.parse_args(argv)
    try:
        base = resolve_base(args.base, REPO)
        diffs, notes = render_diff(args.stack, base, REPO)
    except DiffError as error:
        print(f"error: {error}", file=err)
        return 1 if isinstance(error, RenderFailed) else 2
    for note in notes:
        print(note, file=err)
    print(
        f"# render-diff of stack {args.stack}: {base.described} ({base.commit[:12]}) -> "
        "working tree",
        file=out,
    )
    if not diffs:
        out.write("# no change\n")
    for line in stat(diffs):
        out.write(f"#   {line}\n")
    out.write(unified(diffs))
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as summary:
            summary.write(markdown(args.stack, base, diffs, limit=args.markdown_limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
