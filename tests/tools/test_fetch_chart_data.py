"""tools/fetch_chart_data.py against a FAKE `helm` on PATH (no network, no Helm here), and
the shared chart sources against the layout the fetcher produces.

The fake answers `helm pull <chart> --repo R --version V --untar --untardir D` like the real
one: it copies a published-looking chart (templates, CRDs, README, the data files and its
subcharts as nested `charts/<dep>-<version>.tgz` archives, as `helm package` leaves them)
from fixtures built below into `D/<chart>/`, or prints Helm's "not found" error and exits 1.
Every call is logged, so the tests see exactly what was run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.catalog import charts
from components.catalog.charts import ChartPin
from tests.chart_data import CHARTS_DIR, chart_dir, chart_yaml
from tools import fetch_chart_data as fcd

REPO = Path(__file__).resolve().parents[2]
#: Charts whose published tarball has a values.schema.json (shared/charts/README.md).
WITH_SCHEMA = {"binderhub", "jupyterhub", "traefik", "cert-manager", "prometheus"}
#: The subcharts each published chart carries, as (name, version constraint in Chart.yaml,
#: packaged version): from the pinned Chart.yaml / Chart.lock (shared/charts/README.md).
SUBCHARTS = {
    "binderhub": [("jupyterhub", charts.JUPYTERHUB_SUBCHART.version, "4.2.0")],
    "prometheus": [
        ("alertmanager", "1.42.*", "1.42.0"),
        ("kube-state-metrics", "8.4.*", "8.4.0"),
        ("prometheus-node-exporter", "4.56.*", "4.56.1"),
        ("prometheus-pushgateway", "3.8.*", "3.8.0"),
    ],
}

FAKE_HELM = """\
#!/bin/sh
# Only this fake is on the tests' PATH; its own tools come from the system.
PATH=/usr/bin:/bin
printf '%s\\n' "$*" >> "$FAKE_HELM_LOG"
if [ "$1" != pull ]; then echo "fake helm: unexpected arguments $*" >&2; exit 64; fi
chart=$2; shift 2
while [ $# -gt 0 ]; do
  case $1 in
    --repo) repo=$2; shift 2;;
    --version) version=$2; shift 2;;
    --untardir) untardir=$2; shift 2;;
    --untar) untar=1; shift;;
    *) echo "fake helm: unexpected argument $1" >&2; exit 64;;
  esac
done
if [ -z "$untar" ]; then echo "fake helm: no --untar" >&2; exit 64; fi
source="$FAKE_HELM_CHARTS/$chart/$version"
if [ ! -d "$source" ]; then
  echo "Error: chart \\"$chart\\" version \\"$version\\" not found in $repo repository" >&2
  exit 1
fi
if [ -e "$untardir/$chart" ]; then
  echo "Error: failed to untar: a file or directory with the name $untardir/$chart" \\
    "already exists" >&2
  exit 1
fi
cp -RP "$source" "$untardir/$chart"
"""


@dataclass
class FakeHelm:
    bin: Path
    fixtures: Path
    log: Path

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        # No argument the tool passes contains a space, so the fake logs them space-joined.
        return [line.split(" ") for line in self.log.read_text().splitlines()]


def chart_source(root: Path, name: str, version: str, *, marker: str, schema: bool) -> Path:
    """An unpacked chart as `helm package` puts it in its archive."""
    (root / "templates").mkdir(parents=True)
    meta: dict = {"apiVersion": "v2", "name": name, "version": version}
    deps = SUBCHARTS.get(name, [])
    if deps:
        meta["dependencies"] = [
            {"name": dep, "version": constraint, "repository": "https://example.invalid/charts"}
            for dep, constraint, _ in deps
        ]
    (root / "Chart.yaml").write_text(yaml.safe_dump(meta))
    # Published charts carry real image tags where git has "set-by-chartpress".
    (root / "values.yaml").write_text(
        yaml.safe_dump({"image": {"tag": version}, "marker": f"{marker} {name}"})
    )
    if schema:
        (root / "values.schema.json").write_text(json.dumps({"type": "object"}))
    (root / "templates" / "deployment.yaml").write_text(f"kind: Deployment # {name}\n")
    (root / "templates" / "_helpers.tpl").write_text('{{- define "x" -}}{{- end -}}\n')
    (root / "README.md").write_text("readme\n")
    (root / ".helmignore").write_text(".git\n")
    if name == "traefik":
        (root / "crds").mkdir()
        (root / "crds" / "traefik.io_ingressroutes.yaml").write_text("kind: CRD\n")
    for dep, _, packaged in deps:
        (root / "charts").mkdir(exist_ok=True)
        build = root.parent / f".build-{name}-{dep}"
        chart_source(build / dep, dep, packaged, marker=marker, schema=dep == "jupyterhub")
        with tarfile.open(root / "charts" / f"{dep}-{packaged}.tgz", "w:gz") as tar:
            tar.add(build / dep, arcname=dep)
        shutil.rmtree(build)
    return root


def publish(fixtures: Path, pin: ChartPin, *, marker: str = "published") -> Path:
    return chart_source(
        fixtures / pin.chart / pin.version,
        pin.chart,
        pin.version,
        marker=marker,
        schema=pin.chart in WITH_SCHEMA,
    )


@pytest.fixture
def helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "helm"
    script.write_text(FAKE_HELM)
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


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def unpacked(published: Path) -> dict[str, bytes]:
    """The files of a published chart with each nested archive replaced by its contents
    under ``charts/<name>/``: what the fetcher must install."""
    expected = {}
    for rel, data in files(published).items():
        if rel.startswith("charts/") and rel.endswith(".tgz"):
            with tarfile.open(published / rel) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        handle = tar.extractfile(member)
                        assert handle is not None
                        expected[f"charts/{member.name}"] = handle.read()
        else:
            expected[rel] = data
    return expected


EXPECTED_DIRS = {
    ("binderhub", "1.0.0-0.dev.git.3958.haf9ca8b1"),
    ("jupyterhub", "4.2.0"),
    ("traefik", "41.3.0"),
    ("cert-manager", "v1.21.1"),
    ("prometheus", "29.27.0"),
    ("grafana", "12.11.1"),
    ("fluentd", "0.6.0"),
    ("cryptnono", "0.3.2-0.dev.git.256.he86658e"),
    ("harbor", "1.19.1"),
}


# --------------------------------------------------------------------------------------
# The shared copy has the layout the fetcher produces (and the fetcher would keep it)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", fcd.pinned_charts(), ids=lambda p: f"{p.chart}-{p.version}")
def test_the_shared_chart_sources_have_the_fetched_layout(pin: ChartPin):
    """../shared/charts/<chart>/<version>/ is a whole chart: Chart.yaml, values.yaml,
    templates/, each declared dependency unpacked under charts/<name>/ (no archive), so the
    fetcher counts it as present and a run of `make chart-data` here downloads nothing."""
    root = chart_dir(pin)
    assert (root / "Chart.yaml").is_file()
    assert (root / "values.yaml").is_file()
    # (harbor keeps its templates in one directory per component)
    assert any((root / "templates").rglob("*.yaml")), f"{root}/templates/ has no template"
    assert not [p for p in root.glob("charts/*") if p.name.endswith(fcd.ARCHIVE_SUFFIXES)]
    declared = [d["name"] for d in chart_yaml(pin).get("dependencies") or []]
    assert declared == [name for name, _, _ in SUBCHARTS.get(pin.chart, [])]
    for name in declared:
        assert (root / "charts" / name / "Chart.yaml").is_file()
        assert any((root / "charts" / name / "templates").glob("*.yaml"))
    assert fcd.layout_problems(root) == []
    assert fcd.is_present(root)


def test_the_shared_binderhub_vendors_the_pinned_jupyterhub_subchart_data():
    """The jupyterhub subchart under binderhub's charts/ is the one tests validate the
    `jupyterhub:` values against (same values and schema as jupyterhub/4.2.0)."""
    vendored = chart_dir(charts.BINDERHUB) / "charts" / "jupyterhub"
    own = chart_dir(charts.JUPYTERHUB_SUBCHART)
    for name in ("values.yaml", "values.schema.json"):
        assert (vendored / name).read_bytes() == (own / name).read_bytes(), name


# --------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------


def test_every_chart_the_tests_read_is_fetched():
    """The releases and the JupyterHub subchart, each once; no ChartPin of
    components/catalog/charts.py is left out (a new pin is fetched without touching the tool)."""
    pins = fcd.pinned_charts()
    assert {(p.chart, p.version) for p in pins} == EXPECTED_DIRS
    assert len(pins) == len(EXPECTED_DIRS)
    declared = [v for v in vars(charts).values() if isinstance(v, ChartPin)]
    assert declared
    assert all(pin in pins for pin in declared)


def test_default_dest_is_where_the_tests_read():
    assert fcd.DEFAULT_DEST == REPO.parent / "shared" / "charts" == CHARTS_DIR


def test_fetches_whole_charts_with_subcharts_unpacked_in_the_shared_layout(
    helm: FakeHelm, tmp_path: Path
):
    dest = tmp_path / "shared" / "charts"
    result = run("--dest", str(dest))
    assert result.code == 0, result.err
    assert result.err == ""

    pins = {(p.chart, p.version): p for p in fcd.pinned_charts()}
    assert {(d.parent.name, d.name) for d in dest.glob("*/*")} == EXPECTED_DIRS
    for chart, version in EXPECTED_DIRS:
        published = helm.fixtures / chart / version
        # Every file Helm unpacked, byte for byte (templates, CRDs, README, .helmignore
        # too), and the subcharts' files in charts/<name>/ instead of their archives.
        assert files(dest / chart / version) == unpacked(published), chart
        assert fcd.is_present(dest / chart / version)
    binderhub = dest / "binderhub" / charts.BINDERHUB.version
    assert sorted(tree(binderhub / "charts")) == [
        "jupyterhub/", "jupyterhub/.helmignore", "jupyterhub/Chart.yaml", "jupyterhub/README.md",
        "jupyterhub/templates/", "jupyterhub/templates/_helpers.tpl",
        "jupyterhub/templates/deployment.yaml", "jupyterhub/values.schema.json",
        "jupyterhub/values.yaml",
    ]  # fmt: skip
    assert "published binderhub" in (binderhub / "values.yaml").read_text()
    prometheus = dest / "prometheus" / charts.PROMETHEUS.version / "charts"
    assert sorted(p.name for p in prometheus.iterdir()) == [
        "alertmanager", "kube-state-metrics", "prometheus-node-exporter", "prometheus-pushgateway"
    ]  # fmt: skip
    # No staging, unpack or old directories left anywhere.
    assert not [p for p in dest.rglob(".*") if p.name != ".helmignore"]

    calls = helm.calls()
    assert len(calls) == len(pins)
    for call in calls:
        (pin,) = [p for p in pins.values() if p.chart == call[1]]
        untardir = Path(call[call.index("--untardir") + 1])
        assert call == [
            "pull", pin.chart, "--repo", pin.repo, "--version", pin.version,
            "--untar", "--untardir", str(untardir),
        ]  # fmt: skip
        assert dest not in untardir.parents
        assert REPO not in untardir.parents
        assert not untardir.exists(), "the download directory is removed afterwards"
    lines = result.out.splitlines()
    assert all(": fetched -> " in line for line in lines), result.out
    assert any(
        line.startswith("binderhub ") and line.endswith("(subcharts: jupyterhub 4.2.0)")
        for line in lines
    ), result.out


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


def test_the_old_data_only_layout_and_incomplete_charts_are_fetched_again(
    helm: FakeHelm, tmp_path: Path
):
    """The earlier fetcher copied three data files; such a directory lacks templates/ and
    is replaced. So is a chart whose subchart is missing or still an archive. A complete
    chart is kept."""
    dest = tmp_path / "charts"
    data_only = dest / "traefik" / "41.3.0"
    data_only.mkdir(parents=True)
    for name in ("Chart.yaml", "values.yaml", "values.schema.json"):
        shutil.copy(helm.fixtures / "traefik" / "41.3.0" / name, data_only / name)
    no_subchart = dest / "binderhub" / charts.BINDERHUB.version
    shutil.copytree(helm.fixtures / "binderhub" / charts.BINDERHUB.version, no_subchart)
    assert fcd.layout_problems(no_subchart) == [
        "charts/jupyterhub-4.2.0.tgz is still an archive",
        "charts/jupyterhub: Chart.yaml missing",
        "charts/jupyterhub: values.yaml missing",
        "charts/jupyterhub: templates/ missing",
    ]
    kept = dest / "fluentd" / "0.6.0"
    shutil.copytree(helm.fixtures / "fluentd" / "0.6.0", kept)
    (kept / "values.yaml").write_text("local: copy\n")

    result = run("--dest", str(dest))
    assert result.code == 0, result.err
    pulled = {call[1] for call in helm.calls()}
    assert {"traefik", "binderhub"} <= pulled
    assert "fluentd" not in pulled
    assert (data_only / "templates" / "deployment.yaml").is_file()
    assert (no_subchart / "charts" / "jupyterhub" / "templates").is_dir()
    assert not (no_subchart / "charts" / "jupyterhub-4.2.0.tgz").exists()
    assert (kept / "values.yaml").read_text() == "local: copy\n"


def test_force_replaces_every_chart_with_the_published_one(helm: FakeHelm, tmp_path: Path):
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
    assert not (dest / "traefik" / "41.3.0" / "values.schema.json").exists()
    assert not (dest / "grafana" / "12.11.1" / "notes.txt").exists()
    assert not [p for p in dest.rglob(".*") if p.name != ".helmignore"]


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
    chart_yaml_path = helm.fixtures / "cert-manager" / "v1.21.1" / "Chart.yaml"
    chart_yaml_path.write_text(yaml.safe_dump({"name": "cert-manager", "version": "v0.0.0"}))
    dest = tmp_path / "charts"
    result = run("--dest", str(dest))
    assert result.code == 1
    assert "cert-manager v1.21.1" in result.err
    assert "version='v0.0.0'" in result.err
    assert not (dest / "cert-manager").exists()


def _repack(archive: Path, add: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    """Rewrite a nested chart archive with extra (hostile) members."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in [*members, *add]:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


@pytest.mark.parametrize(
    ("member", "says"),
    [
        ("escape", "at its top, not one chart folder"),
        ("symlink", "links or odd entries"),
    ],
)
def test_a_hostile_subchart_archive_is_refused(
    helm: FakeHelm, tmp_path: Path, member: str, says: str
):
    archive = helm.fixtures / "binderhub" / charts.BINDERHUB.version / "charts"
    archive = archive / "jupyterhub-4.2.0.tgz"
    if member == "escape":
        info = tarfile.TarInfo("../../outside.txt")
        info.size = 3
        _repack(archive, [(info, b"bad")])
    else:
        info = tarfile.TarInfo("jupyterhub/templates/link.yaml")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        _repack(archive, [(info, None)])
    dest = tmp_path / "charts"
    result = run("--dest", str(dest))
    assert result.code == 1
    assert "binderhub" in result.err
    assert "charts/jupyterhub-4.2.0.tgz" in result.err
    assert says in result.err
    assert not (dest / "binderhub").exists()
    assert not list(tmp_path.rglob("outside.txt"))


def test_a_symlink_in_the_pulled_chart_is_refused(helm: FakeHelm, tmp_path: Path):
    templates = helm.fixtures / "grafana" / "12.11.1" / "templates"
    (templates / "secret.yaml").symlink_to("/etc/hostname")
    result = run("--dest", str(tmp_path / "charts"))
    assert result.code == 1
    assert "grafana 12.11.1" in result.err
    assert "templates/secret.yaml is a link or special file" in result.err
    assert not (tmp_path / "charts" / "grafana").exists()


def test_a_declared_dependency_the_chart_does_not_carry_is_refused(helm: FakeHelm, tmp_path: Path):
    (helm.fixtures / "prometheus" / "29.27.0" / "charts" / "alertmanager-1.42.0.tgz").unlink()
    result = run("--dest", str(tmp_path / "charts"))
    assert result.code == 1
    assert "prometheus 29.27.0" in result.err
    assert "declares the dependency alertmanager 1.42.*" in result.err
    assert "no charts/alertmanager/" in result.err
    assert not (tmp_path / "charts" / "prometheus").exists()


def test_a_subchart_at_another_version_than_pinned_is_refused(helm: FakeHelm, tmp_path: Path):
    root = helm.fixtures / "binderhub" / charts.BINDERHUB.version
    (root / "charts" / "jupyterhub-4.2.0.tgz").unlink()
    chart_source(root / "charts" / "jupyterhub", "jupyterhub", "4.4.0", marker="x", schema=True)
    result = run("--dest", str(tmp_path / "charts"))
    assert result.code == 1
    assert (
        "the dependency jupyterhub is pinned to 4.2.0 but charts/jupyterhub/ is version "
        "4.4.0" in result.err
    )


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
