"""tools/fetch_chart_data.py against a FAKE `helm` on PATH (no network, no Helm here).

The fake answers `helm pull <chart> --repo R --version V --untar --untardir D` like the real
one: it unpacks a published-looking chart (templates, README, a nested subchart tarball, the
three data files) from fixtures built below into `D/<chart>/`, or prints Helm's "not found"
error and exits 1. Every call is logged, so the tests see exactly what was run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.releases import charts
from components.releases.charts import ChartPin
from tests.chart_data import CHARTS_DIR, chart_dir
from tools import fetch_chart_data as fcd

REPO = Path(__file__).resolve().parents[2]
DATA_FILES = {"Chart.yaml", "values.yaml", "values.schema.json"}
#: Charts whose published tarball has a values.schema.json (shared/charts/README.md).
WITH_SCHEMA = {"binderhub", "jupyterhub", "traefik", "cert-manager", "prometheus"}

FAKE_HELM = """\
#!{python}
import json, os, shutil, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_HELM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:1] != ["pull"] or "--untar" not in args:
    print("fake helm: unexpected arguments", args, file=sys.stderr)
    sys.exit(64)
chart = args[1]
opt = lambda name: args[args.index(name) + 1]
repo, version, untardir = opt("--repo"), opt("--version"), Path(opt("--untardir"))
source = Path(os.environ["FAKE_HELM_CHARTS"]) / chart / version
if not source.is_dir():
    print(f'Error: chart "{{chart}}" version "{{version}}" not found in {{repo}} repository',
          file=sys.stderr)
    sys.exit(1)
if (untardir / chart).exists():
    print(f"Error: failed to untar: a file or directory with the name {{untardir / chart}} "
          "already exists", file=sys.stderr)
    sys.exit(1)
shutil.copytree(source, untardir / chart)
"""


@dataclass
class FakeHelm:
    bin: Path
    fixtures: Path
    log: Path

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def publish(fixtures: Path, pin: ChartPin, *, marker: str = "published") -> Path:
    """A chart as `helm pull --untar` leaves it: data files plus what must NOT be copied."""
    root = fixtures / pin.chart / pin.version
    (root / "templates").mkdir(parents=True)
    meta: dict = {"apiVersion": "v2", "name": pin.chart, "version": pin.version}
    if pin is charts.BINDERHUB:
        meta["dependencies"] = [
            {"name": "jupyterhub", "version": charts.JUPYTERHUB_SUBCHART.version,
             "repository": "https://jupyterhub.github.io/helm-chart"}
        ]  # fmt: skip
        (root / "charts").mkdir()
        (root / "charts" / "jupyterhub-4.2.0.tgz").write_bytes(b"\x1f\x8b nested subchart")
    (root / "Chart.yaml").write_text(yaml.safe_dump(meta))
    # Published charts carry real image tags where git has "set-by-chartpress".
    (root / "values.yaml").write_text(
        yaml.safe_dump({"image": {"tag": pin.version}, "marker": f"{marker} {pin.chart}"})
    )
    if pin.chart in WITH_SCHEMA:
        (root / "values.schema.json").write_text(json.dumps({"type": "object"}))
    (root / "templates" / "deployment.yaml").write_text("kind: Deployment\n")
    (root / "README.md").write_text("readme\n")
    (root / ".helmignore").write_text(".git\n")
    (root / "values.schema.yaml").write_text("not a data file we copy\n")
    return root


@pytest.fixture
def helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "helm"
    script.write_text(FAKE_HELM.format(python=sys.executable))
    script.chmod(0o755)
    fixtures = tmp_path / "published"
    for pin in fcd.pinned_charts():
        publish(fixtures, pin)
    fake = FakeHelm(bin_dir, fixtures, tmp_path / "helm.log")
    # Only the fake is on PATH: no real helm could be picked up.
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_HELM_CHARTS", str(fixtures))
    monkeypatch.setenv("FAKE_HELM_LOG", str(fake.log))
    return fake


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run(*args: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = fcd.main(list(args), out=out, err=err)
    return Outcome(code, out.getvalue(), err.getvalue())


def tree(root: Path) -> Iterator[str]:
    """Every file and directory under ``root`` (hidden ones too), relative."""
    for path in sorted(root.rglob("*")):
        yield str(path.relative_to(root)) + ("/" if path.is_dir() else "")


EXPECTED_DIRS = {
    ("binderhub", "1.0.0-0.dev.git.3958.haf9ca8b1"),
    ("jupyterhub", "4.2.0"),
    ("traefik", "41.3.0"),
    ("cert-manager", "v1.21.1"),
    ("prometheus", "29.27.0"),
    ("grafana", "12.11.1"),
    ("fluentd", "0.6.0"),
}


def expected_files(pin: ChartPin) -> set[str]:
    return DATA_FILES if pin.chart in WITH_SCHEMA else DATA_FILES - {"values.schema.json"}


# --------------------------------------------------------------------------------------


def test_every_chart_the_tests_read_is_fetched():
    """The releases and the JupyterHub subchart, each once; no ChartPin of
    components/releases/charts.py is left out (a new pin is fetched without touching the tool)."""
    pins = fcd.pinned_charts()
    assert {(p.chart, p.version) for p in pins} == EXPECTED_DIRS
    assert len(pins) == len(EXPECTED_DIRS)
    declared = [v for v in vars(charts).values() if isinstance(v, ChartPin)]
    assert declared
    assert all(pin in pins for pin in declared)


def test_default_dest_is_where_the_tests_read():
    assert fcd.DEFAULT_DEST == REPO.parent / "shared" / "charts" == CHARTS_DIR


def test_fetches_only_the_three_data_files_in_the_shared_layout(helm: FakeHelm, tmp_path: Path):
    dest = tmp_path / "shared" / "charts"
    result = run("--dest", str(dest))
    assert result.code == 0, result.err
    assert result.err == ""

    pins = {(p.chart, p.version): p for p in fcd.pinned_charts()}
    assert {(d.parent.name, d.name) for d in dest.glob("*/*")} == EXPECTED_DIRS
    expected_tree = []
    for (chart, version), pin in sorted(pins.items()):
        files = expected_files(pin)
        expected_tree += [f"{chart}/", f"{chart}/{version}/"]
        expected_tree += [f"{chart}/{version}/{name}" for name in files]
        for name in files:  # byte for byte what Helm unpacked
            got = (dest / chart / version / name).read_bytes()
            assert got == (helm.fixtures / chart / version / name).read_bytes()
        # The same files as the shared copies the tests run on here (grafana and fluentd
        # have no schema in either).
        assert {p.name for p in chart_dir(pin).iterdir() if p.is_file()} == files
    # Nothing else: no templates, README, nested charts/ or leftover staging directories.
    assert sorted(tree(dest)) == sorted(expected_tree)
    binderhub = dest / "binderhub" / charts.BINDERHUB.version
    assert "published binderhub" in (binderhub / "values.yaml").read_text()

    calls = helm.calls()
    assert len(calls) == len(pins)
    for call in calls:
        chart = call[1]
        (pin,) = [p for p in pins.values() if p.chart == chart]
        untardir = Path(call[call.index("--untardir") + 1])
        assert call == [
            "pull", pin.chart, "--repo", pin.repo, "--version", pin.version,
            "--untar", "--untardir", str(untardir),
        ]  # fmt: skip
        assert dest not in untardir.parents
        assert REPO not in untardir.parents
        assert not untardir.exists(), "the download directory is removed afterwards"
    for line in result.out.splitlines():
        assert ": fetched -> " in line


def test_second_run_downloads_nothing_and_keeps_the_files(helm: FakeHelm, tmp_path: Path):
    dest = tmp_path / "charts"
    assert run("--dest", str(dest)).code == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in dest.rglob("*") if p.is_file()}
    pulls = len(helm.calls())

    again = run("--dest", str(dest))
    assert again.code == 0, again.err
    assert len(helm.calls()) == pulls, "nothing may be pulled again"
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in dest.rglob("*") if p.is_file()}
    assert after == before
    lines = again.out.splitlines()
    assert len(lines) == len(EXPECTED_DIRS)
    assert all("present (skipped; --force re-fetches)" in line for line in lines), again.out


def test_an_incomplete_chart_is_fetched_again_a_complete_one_is_kept(
    helm: FakeHelm, tmp_path: Path
):
    dest = tmp_path / "charts"
    partial = dest / "traefik" / "41.3.0"
    partial.mkdir(parents=True)
    (partial / "values.schema.json").write_text("{}")  # no Chart.yaml / values.yaml
    kept = dest / "fluentd" / "0.6.0"
    kept.mkdir(parents=True)
    (kept / "Chart.yaml").write_text("name: fluentd\n")
    (kept / "values.yaml").write_text("local: copy\n")

    result = run("--dest", str(dest))
    assert result.code == 0, result.err
    pulled = {call[1] for call in helm.calls()}
    assert "traefik" in pulled
    assert "fluentd" not in pulled
    assert (partial / "values.schema.json").read_text() == '{"type": "object"}'
    assert (partial / "Chart.yaml").is_file()
    assert (kept / "values.yaml").read_text() == "local: copy\n"


def test_force_replaces_every_chart_with_the_published_files(helm: FakeHelm, tmp_path: Path):
    dest = tmp_path / "charts"
    assert run("--dest", str(dest)).code == 0
    # Upstream changed: new values, and traefik dropped its schema; a stray local file too.
    for root in helm.fixtures.glob("*/*"):
        values = root / "values.yaml"
        values.write_text(values.read_text() + "changed: true\n")
    (helm.fixtures / "traefik" / "41.3.0" / "values.schema.json").unlink()
    (dest / "grafana" / "12.11.1" / "notes.txt").write_text("stray")

    result = run("--dest", str(dest), "--force")
    assert result.code == 0, result.err
    assert len(helm.calls()) == 2 * len(EXPECTED_DIRS)
    for chart, version in EXPECTED_DIRS:
        assert "changed: true" in (dest / chart / version / "values.yaml").read_text()
    assert sorted(p.name for p in (dest / "traefik" / "41.3.0").iterdir()) == [
        "Chart.yaml", "values.yaml"
    ]  # fmt: skip
    assert not (dest / "grafana" / "12.11.1" / "notes.txt").exists()
    assert not [p for p in dest.rglob(".*")], "no staging or old directories left behind"


def test_a_failed_pull_names_the_chart_and_the_rest_is_still_fetched(
    helm: FakeHelm, tmp_path: Path
):
    shutil.rmtree(helm.fixtures / "grafana")
    dest = tmp_path / "charts"
    result = run("--dest", str(dest))
    assert result.code == 1
    assert "grafana 12.11.1 from https://grafana-community.github.io/helm-charts" in result.err
    assert "failed (exit 1)" in result.err
    # Helm's own message is passed on, and what to check.
    assert 'chart "grafana" version "12.11.1" not found' in result.err
    assert "https://grafana-community.github.io/helm-charts/index.yaml" in result.err
    assert "1 chart(s) could not be fetched" in result.err
    assert "grafana 12.11.1: FAILED" in result.out
    assert not (dest / "grafana").exists()
    assert {(d.parent.name, d.name) for d in dest.glob("*/*")} == EXPECTED_DIRS - {
        ("grafana", "12.11.1")
    }


def test_a_pulled_chart_that_is_not_the_pinned_one_is_refused(helm: FakeHelm, tmp_path: Path):
    chart_yaml = helm.fixtures / "cert-manager" / "v1.21.1" / "Chart.yaml"
    chart_yaml.write_text(yaml.safe_dump({"name": "cert-manager", "version": "v0.0.0"}))
    dest = tmp_path / "charts"
    result = run("--dest", str(dest))
    assert result.code == 1
    assert "cert-manager v1.21.1" in result.err
    assert "version='v0.0.0'" in result.err
    assert not (dest / "cert-manager").exists()


def test_a_destination_inside_the_repository_is_refused(helm: FakeHelm):
    dest = REPO / "build" / "charts-data-should-not-exist"  # build/ is gitignored
    try:
        result = run("--dest", str(dest))
        assert result.code == 2
        assert "inside the repository" in result.err
        assert "never copied into it" in result.err
        assert not dest.exists()
        assert helm.calls() == []
    finally:  # should the guard ever break, leave nothing behind in the working tree
        shutil.rmtree(dest, ignore_errors=True)


def test_without_helm_it_says_how_to_install_it(tmp_path: Path):
    """Run as `python -m tools.fetch_chart_data`, with a PATH that has no helm."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    dest = tmp_path / "charts"
    env = {**os.environ, "PATH": str(empty)}
    proc = subprocess.run(
        [sys.executable, "-m", "tools.fetch_chart_data", "--dest", str(dest)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc
    assert "the Helm CLI (`helm`, v3 or v4) is not on PATH" in proc.stderr
    assert "https://helm.sh/docs/intro/install/" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not dest.exists()


def test_missing_chart_data_fails_a_test_pointing_at_this_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from tests import chart_data

    monkeypatch.setattr(chart_data, "CHARTS_DIR", tmp_path / "no-charts")
    with pytest.raises(pytest.fail.Exception) as failure:
        chart_data.chart_dir(charts.TRAEFIK)
    message = str(failure.value)
    assert f"traefik {charts.TRAEFIK.version} is missing" in message
    assert "make chart-data" in message
    assert "python -m tools.fetch_chart_data" in message
