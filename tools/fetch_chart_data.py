"""Fetch the upstream chart data the tests validate against, with the Helm CLI.

For every chart pinned in ``components/releases/charts.py`` (each release, plus the JupyterHub
subchart
that BinderHub depends on), run::

    helm pull <chart> --repo <repo> --version <version> --untar --untardir <tmp>

and copy ONLY ``Chart.yaml``, ``values.yaml`` and ``values.schema.json`` (when the chart has
one) into ``<dest>/<chart>/<version>/``, the layout of ``shared/charts`` that
``tests/chart_data.py`` reads. Templates, subcharts and everything else stay behind::

    python -m tools.fetch_chart_data                       # dest: <repo>/../shared/charts
    python -m tools.fetch_chart_data --dest DIR --force    # re-fetch what is already there

A chart whose ``Chart.yaml`` and ``values.yaml`` are already in place is skipped, so a second
run downloads nothing; ``--force`` replaces it. Each version directory is written beside its
final place and renamed into it, so an interrupted run never leaves a half-copied chart that
a later run would skip. The destination may not lie inside the repository: the chart data is
never committed (https://helm.sh/docs/helm/helm_pull/).

These are the *published* charts. For BinderHub and JupyterHub, chartpress has replaced the
``set-by-chartpress`` image tags and the ``0.0.1-set.by.chartpress`` chart version of the git
sources with real ones, and the BinderHub tarball ships the ``values.schema.json`` its CI
generates (shared/charts/README.md). The tests depend on neither spelling.

The JupyterHub subchart comes from its own repository entry (``JUPYTERHUB_SUBCHART``), not from
inside the BinderHub tarball: there it is a nested ``charts/jupyterhub-<version>.tgz`` that
``helm dependency update`` downloaded from the same repository at the same version, and a
test (tests/components/releases/test_charts.py) checks that the BinderHub ``Chart.yaml`` pins
exactly
that version.

Exit status: 0 all present, 1 a chart could not be fetched, 2 Helm missing or bad arguments.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from components.releases import charts
from components.releases.charts import ChartPin

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO.parent / "shared" / "charts"

#: Copied when the chart has them; every other file of the chart is left behind.
REQUIRED_FILES = ("Chart.yaml", "values.yaml")
OPTIONAL_FILES = ("values.schema.json",)

#: One `helm pull` may not hang a CI job forever.
PULL_TIMEOUT = 600

HELM_INSTALL_HELP = (
    "the Helm CLI (`helm`, v3 or v4) is not on PATH. Install it: "
    "https://helm.sh/docs/intro/install/ (e.g. `brew install helm`, "
    "`sudo snap install helm --classic`, or the release binary from "
    "https://github.com/helm/helm/releases), then run this again."
)


class FetchError(Exception):
    """One chart could not be fetched; the message says which and why."""


def pinned_charts() -> tuple[ChartPin, ...]:
    """Every chart whose data the tests read: the releases and the JupyterHub subchart
    (``tests/chart_data.py`` validates BinderHub's ``jupyterhub:`` part against it)."""
    pins: dict[tuple[str, str], ChartPin] = {}
    for pin in (*charts.RELEASES, charts.JUPYTERHUB_SUBCHART):
        pins.setdefault((pin.chart, pin.version), pin)
    return tuple(pins.values())


def is_present(path: Path) -> bool:
    """A version directory counts as present when the files every test needs are there."""
    return all((path / name).is_file() for name in REQUIRED_FILES)


@dataclass(frozen=True)
class Result:
    pin: ChartPin
    path: Path
    fetched: bool
    files: tuple[str, ...]


def _pull(helm: str, pin: ChartPin, untardir: Path) -> Path:
    argv = [
        helm, "pull", pin.chart,
        "--repo", pin.repo,
        "--version", pin.version,
        "--untar", "--untardir", str(untardir),
    ]  # fmt: skip
    where = f"{pin.chart} {pin.version} from {pin.repo}"
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=PULL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise FetchError(f"`helm pull` of {where} took over {PULL_TIMEOUT} s") from err
    except OSError as err:
        raise FetchError(f"could not run {helm}: {err}") from err
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or "(no output)").replace("\n", "\n  ")
        raise FetchError(
            f"`helm pull` of {where} failed (exit {proc.returncode}):\n  {detail}\n"
            f"  Check that {pin.repo.rstrip('/')}/index.yaml is reachable and lists "
            f"{pin.chart} {pin.version} (the pin in components/releases/charts.py)."
        )
    chart_dir = untardir / pin.chart
    if not (chart_dir / "Chart.yaml").is_file():
        raise FetchError(f"`helm pull` of {where} left no {pin.chart}/Chart.yaml in {untardir}")
    return chart_dir


def _check_pulled(chart_dir: Path, pin: ChartPin) -> None:
    """The pulled chart is the pinned one (name and version), with the files tests read."""
    where = f"{pin.chart} {pin.version} from {pin.repo}"
    for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
        path = chart_dir / name
        if path.is_symlink():
            raise FetchError(f"{where}: {name} is a symbolic link; refusing to copy it")
    for name in REQUIRED_FILES:
        if not (chart_dir / name).is_file():
            raise FetchError(f"{where}: the published chart has no {name}")
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
    got = (str(meta.get("name")), str(meta.get("version")))
    if got != (pin.chart, pin.version):
        raise FetchError(
            f"{where}: the pulled Chart.yaml says name={got[0]!r} version={got[1]!r}, "
            "not the pinned chart"
        )


def _install(chart_dir: Path, target: Path) -> tuple[str, ...]:
    """Copy the data files into ``target`` (replacing it) through a sibling staging dir."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        copied = []
        for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
            source = chart_dir / name
            if source.is_file():
                shutil.copyfile(source, staging / name)
                copied.append(name)
        staging.chmod(0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(old / target.name)
            staging.rename(target)
            shutil.rmtree(old)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return tuple(copied)


def fetch(pin: ChartPin, dest: Path, *, helm: str, force: bool, workdir: Path) -> Result:
    """Fetch one chart into ``dest/<chart>/<version>/`` unless it is already there."""
    target = dest / pin.chart / pin.version
    if is_present(target) and not force:
        files = tuple(n for n in (*REQUIRED_FILES, *OPTIONAL_FILES) if (target / n).is_file())
        return Result(pin, target, fetched=False, files=files)
    untardir = Path(tempfile.mkdtemp(prefix=f"{pin.chart}-", dir=workdir))
    chart_dir = _pull(helm, pin, untardir)
    _check_pulled(chart_dir, pin)
    return Result(pin, target, fetched=True, files=_install(chart_dir, target))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = argparse.ArgumentParser(
        prog="python -m tools.fetch_chart_data",
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_DEST,
        help="where <chart>/<version>/ directories go (default: <repo>/../shared/charts, "
        "where tests/chart_data.py reads them)",
    )
    parser.add_argument(
        "--force", action="store_true", help="fetch again charts that are already present"
    )
    args = parser.parse_args(argv)

    dest = args.dest.expanduser().resolve()
    if _inside(dest, REPO):
        print(
            f"error: --dest {dest} is inside the repository ({REPO}); the upstream chart data "
            "is never copied into it. Use a folder outside, e.g. the default "
            f"{DEFAULT_DEST}.",
            file=err,
        )
        return 2
    helm = shutil.which("helm")
    if helm is None:
        print(f"error: {HELM_INSTALL_HELP}", file=err)
        return 2

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chart-data-") as work:
        for pin in pinned_charts():
            try:
                result = fetch(pin, dest, helm=helm, force=args.force, workdir=Path(work))
            except FetchError as error:
                failures.append(str(error))
                print(f"{pin.chart} {pin.version}: FAILED (see below)", file=out)
                continue
            state = "fetched" if result.fetched else "present (skipped; --force re-fetches)"
            print(
                f"{pin.chart} {pin.version}: {state} -> {result.path} ({', '.join(result.files)})",
                file=out,
            )
    if failures:
        for message in failures:
            print(f"error: {message}", file=err)
        print(f"{len(failures)} chart(s) could not be fetched into {dest}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
