"""tools/render_diff.py on a throwaway git repository with a stand-in `tools/render.py`.

The stand-in writes what the real render writes (plan.txt, resources.yaml, manifests/) from a
settings file, and lists the chart folders it finds in ``<repo>/../shared/charts``, as the
real renderer looks for them; so each test runs in well under a second and checks the diff,
the base's worktree (charts reachable, removed afterwards) and the choice of base. The real
render's files are checked in test_render.py / test_render_outputs.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tools import render_diff
from tools.render_diff import Base, DiffError

FAKE_RENDER = """\
import sys
from pathlib import Path

stack = sys.argv[1]
out = Path(sys.argv[sys.argv.index("--out") + 1])
repo = Path(__file__).resolve().parent.parent
if (repo / "broken.txt").exists():
    print("error: binder:cluster.flavor: not a flavor", file=sys.stderr)
    sys.exit(1)
target = out / stack
(target / "manifests").mkdir(parents=True)
(target / "plan.txt").write_text("Offline plan\\n")
(target / "resources.yaml").write_text((repo / "settings.yaml").read_text())
charts = sorted(p.name for p in (repo.parent / "shared" / "charts").iterdir())
(target / "manifests" / "app.yaml").write_text(f"# charts: {charts}\\nkind: ConfigMap\\n")
"""

SETTINGS = "type: openstack:containerinfra/clusterTemplate:ClusterTemplate\n" \
    "inputs:\n  flavor: s1.jumbo\n  maxNodeCount: 10\n"


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone at <tmp>/clone/binder with shared/charts beside it; main has one commit and
    HEAD is a branch `change` off it. Temporary folders go to <tmp>/tmp, to be counted."""
    root = tmp_path / "clone" / "binder"
    (root / "tools").mkdir(parents=True)
    (tmp_path / "clone" / "shared" / "charts" / "traefik").mkdir(parents=True)
    (root / "tools" / "__init__.py").write_text("")
    (root / "tools" / "render.py").write_text(FAKE_RENDER)
    (root / "Pulumi.test.yaml").write_text("config: {}\n")
    (root / "settings.yaml").write_text(SETTINGS)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "base")
    git(root, "switch", "--quiet", "-c", "change")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(render_diff, "REPO", root)
    return root


def change_flavor(repo: Path) -> None:
    settings = repo / "settings.yaml"
    settings.write_text(settings.read_text().replace("s1.jumbo", "s1.huge"))


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = render_diff.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def assert_cleaned_up(repo: Path) -> None:
    worktrees = [line for line in git(repo, "worktree", "list").splitlines() if line]
    assert len(worktrees) == 1, worktrees
    assert not list(Path(tempfile.gettempdir()).iterdir()), "temporary folders left behind"


def test_a_committed_and_an_uncommitted_change_show_in_the_diff(repo: Path) -> None:
    change_flavor(repo)
    git(repo, "commit", "--quiet", "-am", "bigger nodes")
    (repo / "settings.yaml").write_text(
        (repo / "settings.yaml").read_text().replace("maxNodeCount: 10", "maxNodeCount: 12")
    )  # not committed: the working tree is what is compared
    code, out, err = run("test")
    assert code == 0, err
    base = git(repo, "rev-parse", "main")
    assert out.splitlines()[0] == (
        f"# render-diff of stack test: merge base with main ({base[:12]}) -> working tree"
    )
    # What changed, file by file, then the diff itself.
    assert out.splitlines()[1] == "#   resources.yaml  +2 -2"
    assert out.splitlines()[2:4] == ["--- a/resources.yaml", "+++ b/resources.yaml"]
    lines = out.splitlines()
    for line in ("-  flavor: s1.jumbo", "+  flavor: s1.huge", "-  maxNodeCount: 10",
                 "+  maxNodeCount: 12"):  # fmt: skip
        assert line in lines, out
    # Both sides found the charts (the base through the link beside its worktree), and the
    # same ones, so the manifests are not in the diff; nor is the unchanged plan.
    assert "manifests/app.yaml" not in out
    assert "plan.txt" not in out
    # No origin/main in this clone: the local main was used, and the note says so.
    assert "no origin/main here" in err
    assert "Set BASE=<ref> to choose" in err
    assert_cleaned_up(repo)


def test_no_change_says_so(repo: Path) -> None:
    code, out, _ = run("test")
    assert code == 0
    assert out.splitlines()[1:] == ["# no change"]
    assert_cleaned_up(repo)


def test_origin_main_is_the_default_base(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(repo, "clone", "--quiet", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "--quiet", "origin")
    git(repo, "branch", "-D", "main")  # only the remote's main is left
    change_flavor(repo)
    base = render_diff.resolve_base(None, repo)
    assert base == Base(git(repo, "rev-parse", "origin/main"), "merge base with origin/main")
    code, out, err = run("test")
    assert code == 0
    assert "no origin/main" not in err
    assert "+  flavor: s1.huge" in out.splitlines()


def test_an_explicit_base(repo: Path) -> None:
    change_flavor(repo)
    git(repo, "commit", "--quiet", "-am", "bigger nodes")
    code, out, _ = run("test", "--base", "HEAD")  # the commit itself: nothing changed
    assert code == 0
    assert out.splitlines()[1:] == ["# no change"]
    code, out, _ = run("test", "--base", "HEAD~1")
    assert "+  flavor: s1.huge" in out.splitlines()


def test_a_bad_base_and_no_default_base_are_clear_errors(repo: Path) -> None:
    code, _, err = run("test", "--base", "no-such-branch")
    assert code == 2
    assert "BASE 'no-such-branch' is not a commit here" in err
    git(repo, "branch", "-m", "main", "trunk")
    with pytest.raises(DiffError, match=r"neither origin/main nor main exists here.*BASE="):
        render_diff.resolve_base(None, repo)
    code, _, err = run("test")
    assert code == 2
    assert "Traceback" not in err


def test_a_stack_the_base_does_not_have_shows_as_added(repo: Path) -> None:
    (repo / "Pulumi.new.yaml").write_text("config: {}\n")
    code, out, err = run("new")
    assert code == 0, err
    assert "the base has no Pulumi.new.yaml" in err
    assert "--- /dev/null\n+++ b/resources.yaml\n" in out
    assert "+  flavor: s1.jumbo" in out.splitlines()
    assert_cleaned_up(repo)


def test_a_base_that_fails_to_render_fails_and_is_cleaned_up(repo: Path) -> None:
    (repo / "broken.txt").write_text("x")
    git(repo, "add", "broken.txt")
    git(repo, "commit", "--quiet", "-m", "broken")
    git(repo, "rm", "--quiet", "broken.txt")  # the working tree is fixed, the base is not
    code, out, err = run("test", "--base", "HEAD")
    assert code == 1
    assert "error: the render of test in " in err
    assert "binder:cluster.flavor: not a flavor" in err
    assert out == ""
    assert_cleaned_up(repo)


def test_an_unknown_stack_is_refused(repo: Path) -> None:
    code, _, err = run("nope")
    assert code == 2
    assert "Pulumi.nope.yaml does not exist in the working tree" in err


def test_markdown_goes_to_the_summary_file(repo: Path, tmp_path: Path) -> None:
    change_flavor(repo)
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier steps\n")
    code, _, _ = run("test", "--markdown", str(summary))
    assert code == 0
    text = summary.read_text()
    assert text.startswith("# earlier steps\n### Offline render of `test`: changes against ")
    assert "\n\n- `resources.yaml` +1 -1\n\n```diff\n--- a/resources.yaml\n" in text
    assert text.rstrip().endswith("```")


def _one_file(lines: str) -> list[render_diff.FileDiff]:
    body = ["--- a/x.yaml\n", "+++ b/x.yaml\n", *lines.splitlines(keepends=True)]
    return [render_diff.FileDiff("x.yaml", body)]


def test_markdown_fences_longer_than_any_backticks_and_cuts_long_diffs() -> None:
    base = Base("0123456789abcdef", "merge base with origin/main")
    diffs = _one_file("+ run: |\n+   ```` nested fence\n" + "+x\n" * 50)
    diff = render_diff.unified(diffs)
    text = render_diff.markdown("ebi", base, diffs, limit=61)
    assert "- `x.yaml` +52 -0\n" in text
    assert "`````diff\n--- a/x.yaml\n+++ b/x.yaml\n+ run: |\n+   ```` nested fence\n" in text
    body = text.split("`````diff\n")[1].split("`````")[0]
    assert body == diff[:60]  # whole lines only: the 61st byte starts another
    assert body.endswith("fence\n+x\n")
    assert f"_The diff is {len(diff)} bytes; the first 60 are shown." in text
    assert "make render-diff STACK=ebi BASE=0123456789ab" in text
    # Bytes, not characters, and never half a line or half a character.
    wide = _one_file("+é\n" * 10)  # 4 bytes a line, after 26 bytes of headers
    body = render_diff.markdown("ebi", base, wide, limit=37).split("```diff\n")[1]
    assert body.startswith("--- a/x.yaml\n+++ b/x.yaml\n+é\n+é\n```\n")  # not "+\xc3"
    assert "_The diff is 66 bytes; the first 34 are shown." in body
    assert "No change" in render_diff.markdown("ebi", base, [])


def test_stat_counts_lines_not_headers() -> None:
    diffs = _one_file("@@ -1,2 +1,2 @@\n-a\n+b\n+c\n context\n")
    assert render_diff.stat(diffs) == ["x.yaml  +2 -1"]
