"""Fetch the complete pinned Helm charts the tests and the offline renderer read, with Helm.

For every chart pinned in ``components/catalog/charts.py`` (each release, plus the JupyterHub
subchart that BinderHub depends on), run::

    helm pull <chart> --repo <repo> --version <version> --untar --untardir <tmp>

(https://helm.sh/docs/helm/helm_pull/) and install the WHOLE unpacked chart -- ``Chart.yaml``,
``values.yaml``, ``values.schema.json``, ``templates/``, ``crds/``, ``files/`` ... -- into
``<dest>/<chart>/<version>/``, the layout of ``shared/charts`` (its README.md) that
``tests/chart_data.py`` and the renderer read::

    python -m tools.fetch_chart_data                       # dest: <repo>/../shared/charts
    python -m tools.fetch_chart_data --dest DIR --force    # re-fetch what is already there

Dependencies: a published chart carries its subcharts as nested archives
``charts/<dep>-<version>.tgz`` (``helm dependency build`` put them there; ``--untar`` unpacks
only the outer archive). Each is unpacked into ``charts/<dep>/`` and the archive removed, as
``shared/charts`` vendors them (Helm loads either form, but not both at once: it would see the
subchart twice). Every dependency ``Chart.yaml`` declares must end up there; where it pins an
exact version, the unpacked subchart must have it.
https://helm.sh/docs/topics/charts/#the-charts-directory

A chart that is already complete (:func:`is_present`) is skipped, so a second run downloads
nothing; ``--force`` replaces it. The earlier data-only layout (three files, no
``templates/``) is not complete and is replaced. Each version directory is assembled beside
its final place and renamed into it, so an interrupted run never leaves a half-copied chart
that a later run would skip. The destination may not lie inside the repository: upstream
chart sources are never committed.

These are the *published* charts. ``shared/charts`` was built from the charts' git sources
instead, so the contents differ where the release tooling changes files (chartpress image
tags and Chart.yaml versions of BinderHub/JupyterHub, cert-manager's ``v0.0.0``; files a
chart's ``.helmignore`` keeps out of the package, such as ``tests/`` and ``ci/``); the layout
is the same, and tests/tools/test_fetch_chart_data.py checks the shared copy has it.

Exit status: 0 all present, 1 a chart could not be fetched, 2 Helm missing or bad arguments.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from components.catalog import charts
from components.catalog.charts import ChartPin
from components.config.yaml_input import load_written

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO.parent / "shared" / "charts"

#: What every chart (and subchart) directory must hold to count as complete. Helm itself
#: needs only Chart.yaml; the tests read values.yaml and the renderer needs the templates.
REQUIRED_FILES = ("Chart.yaml", "values.yaml")
REQUIRED_DIRS = ("templates",)
#: Nested chart archives in ``charts/`` as ``helm dependency build`` leaves them.
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")

#: One `helm pull` may not hang a CI job forever.
PULL_TIMEOUT = 600

HELM_INSTALL_HELP = (
    "the Helm CLI (`helm`, v3 or v4) is not on PATH. Install it: "
    "https://helm.sh/docs/intro/install/ (e.g. `brew install helm`, "
    "`sudo snap install helm --classic`, or the release binary from "
    "https://github.com/helm/helm/releases), then run this again."
)

#: A dependency ``version`` that is one exact version, not a range (``1.42.*``, ``~4.2``,
#: ``>=1 <2``): only then can the unpacked subchart's version be compared as text.
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


class FetchError(Exception):
    """One chart could not be fetched; the message says which and why."""


def pinned_charts() -> tuple[ChartPin, ...]:
    """Every chart the tests read: the releases and the JupyterHub subchart
    (``tests/chart_data.py`` validates BinderHub's ``jupyterhub:`` part against it)."""
    pins: dict[tuple[str, str], ChartPin] = {}
    for pin in (*charts.RELEASES, charts.JUPYTERHUB_SUBCHART):
        pins.setdefault((pin.chart, pin.version), pin)
    return tuple(pins.values())


def _chart_meta(chart_dir: Path) -> dict[str, Any]:
    try:
        # libyaml where PyYAML has it: every check reads each pinned chart's Chart.yaml files
        meta = load_written((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise FetchError(f"{chart_dir / 'Chart.yaml'} cannot be read: {err}") from err
    return meta if isinstance(meta, dict) else {}


def _declared_dependencies(meta: dict[str, Any]) -> list[dict[str, Any]]:
    deps = meta.get("dependencies") or []
    return [d for d in deps if isinstance(d, dict) and d.get("name")]


def layout_problems(chart_dir: Path) -> list[str]:
    """Why ``chart_dir`` is not a complete chart in the shared layout (empty: it is).

    Complete means: the required files and ``templates/``; no nested chart archive left in
    ``charts/``; every dependency ``Chart.yaml`` declares unpacked in ``charts/<name>/``,
    itself complete (recursively).
    """
    problems = [f"{name} missing" for name in REQUIRED_FILES if not (chart_dir / name).is_file()]
    problems += [f"{name}/ missing" for name in REQUIRED_DIRS if not (chart_dir / name).is_dir()]
    if problems:
        return problems
    sub = chart_dir / "charts"
    if sub.is_dir():
        problems += [
            f"charts/{p.name} is still an archive"
            for p in sorted(sub.iterdir())
            if p.name.endswith(ARCHIVE_SUFFIXES)
        ]
    try:
        meta = _chart_meta(chart_dir)
    except FetchError as err:
        return [str(err)]
    for dep in _declared_dependencies(meta):
        name = str(dep["name"])
        problems += [f"charts/{name}: {p}" for p in layout_problems(sub / name)]
    return problems


def is_present(path: Path) -> bool:
    """A version directory counts as present when it is a complete chart (see
    :func:`layout_problems`)."""
    return path.is_dir() and not layout_problems(path)


@dataclass(frozen=True)
class Result:
    pin: ChartPin
    path: Path
    fetched: bool
    dependencies: tuple[str, ...]
    """``<name> <version>`` of each subchart under ``charts/``."""


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
            f"{pin.chart} {pin.version} (the pin in components/catalog/charts.py)."
        )
    chart_dir = untardir / pin.chart
    if not (chart_dir / "Chart.yaml").is_file():
        raise FetchError(f"`helm pull` of {where} left no {pin.chart}/Chart.yaml in {untardir}")
    return chart_dir


def _refuse_links(root: Path, where: str) -> None:
    """Helm packages hold regular files only; a link in one is not a chart we install."""
    for path in root.rglob("*"):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise FetchError(
                f"{where}: {path.relative_to(root)} is a link or special file; refusing it"
            )


def _unpack_archive(archive: Path, where: str) -> Path:
    """Unpack a nested chart archive ``charts/<x>.tgz`` into ``charts/<name>/``; return it.

    The archive must hold exactly one top-level directory (the chart's name, as ``helm
    package`` writes it) and only regular files and directories inside it; the ``data``
    extraction filter refuses absolute paths and ``..`` besides.
    """
    parent = archive.parent
    what = f"{where}: charts/{archive.name}"
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            tops = {m.name.split("/", 1)[0] for m in members}
            if len(tops) != 1:
                raise FetchError(f"{what} holds {sorted(tops)} at its top, not one chart folder")
            (top,) = tops
            bad = [m.name for m in members if not (m.isfile() or m.isdir())]
            if bad or top in ("", ".", "..") or "\\" in top:
                raise FetchError(f"{what} holds links or odd entries: {bad or [top]}")
            target = parent / top
            if target.exists():
                raise FetchError(
                    f"{what} unpacks to charts/{top}/, which is already there: the chart "
                    "would carry that subchart twice"
                )
            with tempfile.TemporaryDirectory(prefix=".unpack-", dir=parent) as tmp:
                tar.extractall(tmp, filter="data")
                Path(tmp, top).rename(target)
    except (tarfile.TarError, OSError) as err:
        raise FetchError(f"{what} cannot be unpacked: {err}") from err
    archive.unlink()
    return target


def _unpack_dependencies(chart_dir: Path, where: str) -> list[str]:
    """Unpack every nested archive in ``chart_dir/charts`` (recursively); check that each
    declared dependency is there, at its exact version where one is pinned."""
    found: list[str] = []
    sub = chart_dir / "charts"
    if sub.is_dir():
        for archive in sorted(sub.iterdir()):
            if archive.is_file() and archive.name.endswith(ARCHIVE_SUFFIXES):
                _unpack_archive(archive, where)
    for dep in _declared_dependencies(_chart_meta(chart_dir)):
        name = str(dep["name"])
        dep_dir = sub / name
        if not (dep_dir / "Chart.yaml").is_file():
            raise FetchError(
                f"{where}: Chart.yaml declares the dependency {name} "
                f"{dep.get('version', '')} but the chart carries no charts/{name}/"
            )
        meta = _chart_meta(dep_dir)
        wanted, got = str(dep.get("version", "")), str(meta.get("version"))
        if str(meta.get("name")) != name:
            raise FetchError(f"{where}: charts/{name}/Chart.yaml names {meta.get('name')!r}")
        if _EXACT_VERSION.match(wanted) and got != wanted:
            raise FetchError(
                f"{where}: the dependency {name} is pinned to {wanted} but charts/{name}/ "
                f"is version {got}"
            )
        found.append(f"{name} {got}")
        found += [f"{name}/{d}" for d in _unpack_dependencies(dep_dir, f"{where} > {name}")]
    return found


def _check_pulled(chart_dir: Path, pin: ChartPin) -> tuple[str, ...]:
    """The pulled chart is the pinned one (name and version), complete, with its
    dependencies unpacked into ``charts/<name>/``. Returns the dependencies found."""
    where = f"{pin.chart} {pin.version} from {pin.repo}"
    _refuse_links(chart_dir, where)
    meta = _chart_meta(chart_dir)
    got = (str(meta.get("name")), str(meta.get("version")))
    if got != (pin.chart, pin.version):
        raise FetchError(
            f"{where}: the pulled Chart.yaml says name={got[0]!r} version={got[1]!r}, "
            "not the pinned chart"
        )
    dependencies = _unpack_dependencies(chart_dir, where)
    _refuse_links(chart_dir, where)
    problems = layout_problems(chart_dir)
    if problems:
        raise FetchError(f"{where}: the published chart is incomplete: {'; '.join(problems)}")
    return tuple(dependencies)


def _install(chart_dir: Path, target: Path) -> None:
    """Move the unpacked chart into ``target`` (replacing it) through a sibling staging dir."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        shutil.copytree(chart_dir, staging / "chart", symlinks=True)
        chart = staging / "chart"
        chart.chmod(0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(old / target.name)
            chart.rename(target)
            shutil.rmtree(old)
        else:
            chart.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _present_dependencies(path: Path) -> tuple[str, ...]:
    found: list[str] = []
    for dep in _declared_dependencies(_chart_meta(path)):
        dep_dir = path / "charts" / str(dep["name"])
        found.append(f"{dep['name']} {_chart_meta(dep_dir).get('version')}")
    return tuple(found)


def fetch(pin: ChartPin, dest: Path, *, helm: str, force: bool, workdir: Path) -> Result:
    """Fetch one chart into ``dest/<chart>/<version>/`` unless it is already there."""
    target = dest / pin.chart / pin.version
    if is_present(target) and not force:
        return Result(pin, target, fetched=False, dependencies=_present_dependencies(target))
    untardir = Path(tempfile.mkdtemp(prefix=f"{pin.chart}-", dir=workdir))
    try:
        chart_dir = _pull(helm, pin, untardir)
        dependencies = _check_pulled(chart_dir, pin)
        _install(chart_dir, target)
    finally:
        shutil.rmtree(untardir, ignore_errors=True)
    return Result(pin, target, fetched=True, dependencies=dependencies)


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
            f"error: --dest {dest} is inside the repository ({REPO}); upstream chart sources "
            "are never copied into it. Use a folder outside, e.g. the default "
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
            deps = ", ".join(result.dependencies) or "none"
            print(
                f"{pin.chart} {pin.version}: {state} -> {result.path} (subcharts: {deps})",
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
