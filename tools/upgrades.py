"""Newer versions of what we pin, and the rewrite of one pin: upgrades as pull requests.

    python -m tools.upgrades                       # a table of what is newer
    python -m tools.upgrades --json                # the same, for the workflow
    python -m tools.upgrades --write traefik       # rewrite that pin in the catalogue

Reads the pins of ``components/catalog/charts.py`` (its source, by its syntax tree: every
``ChartPin`` and ``ImagePin`` constant) and asks, for each:

* a chart: its Helm repository's ``index.yaml`` (``<repo>/index.yaml``, the file ``helm repo
  add`` reads: https://helm.sh/docs/topics/chart_repository/#the-index-file) for the newest
  version of that chart. A stable pin moves to stable versions only; a pin that is itself a
  pre-release (BinderHub publishes development builds only, ``1.0.0-0.dev.git.N.hSHA``) moves
  to the newest pre-release too, as ``helm --devel`` and mybinder.org's watch-dependencies
  workflow do. Versions are ordered by SemVer 2.0 precedence (https://semver.org/#spec-item-11).
  When BinderHub moves, its JupyterHub subchart pin (``JUPYTERHUB_SUBCHART``) follows the
  ``jupyterhub`` dependency the new BinderHub entry declares in the index.
* an image: Quay's tag list (``/api/v1/repository/<namespace>/<name>/tag/``,
  https://docs.quay.io/api/swagger/) for the newest tag, ordered as Python versions (repo2docker
  tags are CalVer, ``2025.08.0``; a development tag ``2025.8.1.dev4-gabc1234`` is a
  pre-release, considered only when the pin is one), as mybinder.org's ``latest_tag.py`` does.

``--source-prefix PREFIX`` reads every index from ``PREFIX<host><path>`` instead (a mirror, or
the tests' fixture server on 127.0.0.1). ``--write NAME`` rewrites the version (and, for
BinderHub, the subchart's) in place, nothing else in the file. Standard library only besides
PyYAML and ``packaging``. Exit status: 0 done (whether or not anything is newer), 1 an index
could not be read, 2 bad usage.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from packaging.version import InvalidVersion, Version

from components.config.yaml_input import load_written

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "components" / "catalog" / "charts.py"
USER_AGENT = "binder-upgrades/1 (+tools/upgrades.py)"
TIMEOUT = 60
#: Helm repository indexes can be tens of MB (every BinderHub development build is listed).
MAX_INDEX = 200 * 1024 * 1024
MAX_TAG_PAGES = 100
#: The constant whose version follows BinderHub's ``jupyterhub`` dependency.
SUBCHART_OF = {"BINDERHUB": "JUPYTERHUB_SUBCHART"}

Fetch = Callable[[str], bytes]


class UpgradeError(Exception):
    """A source could not be read or understood."""


# --------------------------------------------------------------------------------------
# The pins, from the catalogue's syntax tree
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    constant: str
    """The constant's name in the catalogue (``TRAEFIK``)."""
    kind: str
    """``chart`` or ``image``."""
    name: str
    """The chart's name, or the image's repository."""
    current: str
    """The pinned version or tag."""
    source: str
    """The Helm repository URL, or the image's registry and repository."""
    span: tuple[int, int] = field(repr=False, compare=False)
    """Where the version string literal is in the file (character offsets)."""


def _offset(lines: list[str], line: int, col: int) -> int:
    """Character offset of a (1-based line, UTF-8 byte column) position."""
    before = sum(len(text) for text in lines[: line - 1])
    return before + len(lines[line - 1].encode()[:col].decode())


def read_pins(text: str) -> list[Pin]:
    """Every ``X = ChartPin(...)`` / ``X = ImagePin(...)`` of the catalogue, in order."""
    lines = text.splitlines(keepends=True)
    pins = []
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id in ("ChartPin", "ImagePin")):
            continue
        words = {k.arg: k.value for k in node.value.keywords if k.arg}
        if not all(isinstance(v, ast.Constant) and isinstance(v.value, str)
                   for v in words.values()):
            raise UpgradeError(f"{node.targets[0].id}: every argument must be a plain string")
        value = {k: str(v.value) for k, v in words.items() if isinstance(v, ast.Constant)}
        chart = node.value.func.id == "ChartPin"
        literal = words["version" if chart else "tag"]
        assert literal.end_lineno is not None
        assert literal.end_col_offset is not None
        span = (_offset(lines, literal.lineno, literal.col_offset),
                _offset(lines, literal.end_lineno, literal.end_col_offset))
        pins.append(Pin(
            constant=node.targets[0].id,
            kind="chart" if chart else "image",
            name=value["chart"] if chart else value["repository"],
            current=value["version"] if chart else value["tag"],
            source=value["repo"] if chart else value["repository"],
            span=span,
        ))
    return pins


# --------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------

_SEMVER = re.compile(
    r"v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?"
)


def semver_key(version: str) -> tuple[Any, ...] | None:
    """A sort key with SemVer 2.0 precedence (pre-releases before their release, numeric
    identifiers numerically and below alphanumeric ones); None if not SemVer."""
    found = _SEMVER.fullmatch(version)
    if not found:
        return None
    core = (int(found["major"]), int(found["minor"]), int(found["patch"]))
    pre = found["pre"]
    if pre is None:
        return (*core, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (*core, 0, parts)


def is_prerelease(version: str) -> bool:
    found = _SEMVER.fullmatch(version)
    return bool(found and found["pre"])


def image_version(tag: str) -> Version | None:
    """repo2docker's tags as Python versions; a ``-`` stands for ``+`` (a local version),
    which Docker tags cannot hold. None for tags that are not versions (``latest``, ...)."""
    if not re.match(r"v?\d", tag):
        return None
    for candidate in (tag, tag.replace("-", "+", 1)):
        try:
            return Version(candidate)
        except InvalidVersion:
            continue
    return None


def newest_chart(pin: Pin, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The index entry newer than the pin that it should move to, if any."""
    current = semver_key(pin.current)
    if current is None:
        raise UpgradeError(f"{pin.constant}: {pin.current!r} is not a SemVer version")
    devel = is_prerelease(pin.current)
    best, best_key = None, current
    for entry in entries:
        version = str(entry.get("version", ""))
        key = semver_key(version)
        if key is None or (is_prerelease(version) and not devel) or entry.get("deprecated"):
            continue
        if key > best_key:
            best, best_key = entry, key
    return best


def newest_tag(pin: Pin, tags: list[str]) -> str | None:
    current = image_version(pin.current)
    if current is None:
        raise UpgradeError(f"{pin.constant}: {pin.current!r} is not a version tag")
    devel = current.is_prerelease or current.local is not None
    best, best_version = None, current
    for tag in tags:
        version = image_version(tag)
        if version is None or (not devel and (version.is_prerelease or version.local)):
            continue
        if version > best_version:
            best, best_version = tag, version
    return best


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------


def http_fetch(url: str) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise UpgradeError(f"{url}: not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310
            data: bytes = resp.read(MAX_INDEX + 1)
    except urllib.error.HTTPError as exc:
        raise UpgradeError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UpgradeError(f"{url}: {exc}") from None
    if len(data) > MAX_INDEX:
        raise UpgradeError(f"{url}: larger than {MAX_INDEX} bytes")
    return data


def via(prefix: str | None, url: str) -> str:
    """``url`` read through ``prefix`` (``<prefix><host><path>?<query>``), if given."""
    if not prefix:
        return url
    parts = urllib.parse.urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{prefix.rstrip('/')}/{parts.netloc}{parts.path}{query}"


def chart_index(fetch: Fetch, repo: str, prefix: str | None) -> dict[str, Any]:
    url = via(prefix, f"{repo.rstrip('/')}/index.yaml")
    try:
        # A Helm repository's index is a program's output: libyaml's safe loader.
        index = load_written(fetch(url))
    except yaml.YAMLError as exc:
        raise UpgradeError(f"{url}: not a Helm repository index ({exc})") from None
    if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
        raise UpgradeError(f"{url}: not a Helm repository index (no `entries`)")
    return index


def quay_tags(fetch: Fetch, repository: str, prefix: str | None) -> list[str]:
    host, _, path = repository.partition("/")
    if host != "quay.io":
        raise UpgradeError(f"{repository}: only quay.io images are looked up")
    tags: list[str] = []
    for page in range(1, MAX_TAG_PAGES + 1):
        url = via(prefix, f"https://quay.io/api/v1/repository/{path}/tag/"
                          f"?onlyActiveTags=true&limit=100&page={page}")
        try:
            data = json.loads(fetch(url))
        except json.JSONDecodeError as exc:
            raise UpgradeError(f"{url}: not JSON ({exc})") from None
        tags += [str(t["name"]) for t in data.get("tags", []) if isinstance(t, dict)]
        if not data.get("has_additional"):
            return tags
    raise UpgradeError(f"{repository}: more than {MAX_TAG_PAGES} pages of tags")


# --------------------------------------------------------------------------------------
# Upgrades
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upgrade:
    constant: str
    kind: str
    name: str
    current: str
    latest: str
    follows: dict[str, str] = field(default_factory=dict)
    """Other constants that move with this one: ``{constant: new version}``."""

    @property
    def slug(self) -> str:
        """A branch-safe name: ``upgrade/<name>-<latest>``."""
        short = self.name.rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{short}-{self.latest}")


def find_upgrades(
    text: str, fetch: Fetch = http_fetch, prefix: str | None = None
) -> list[Upgrade]:
    pins = read_pins(text)
    by_constant = {p.constant: p for p in pins}
    followers = set(SUBCHART_OF.values())
    upgrades = []
    indexes: dict[str, dict[str, Any]] = {}
    for pin in pins:
        if pin.constant in followers:
            continue  # moves with its parent chart
        if pin.kind == "image":
            tag = newest_tag(pin, quay_tags(fetch, pin.source, prefix))
            if tag:
                upgrades.append(Upgrade(pin.constant, "image", pin.name, pin.current, tag))
            continue
        if pin.source not in indexes:
            indexes[pin.source] = chart_index(fetch, pin.source, prefix)
        entries = indexes[pin.source]["entries"].get(pin.name) or []
        if not entries:
            raise UpgradeError(f"{pin.source}: the index lists no chart {pin.name!r}")
        entry = newest_chart(pin, entries)
        if entry is None:
            continue
        follows = {}
        follower = SUBCHART_OF.get(pin.constant)
        if follower and follower in by_constant:
            sub = by_constant[follower]
            wanted = [str(d.get("version")) for d in entry.get("dependencies") or []
                      if isinstance(d, dict) and d.get("name") == sub.name]
            if len(wanted) != 1 or semver_key(wanted[0]) is None:
                raise UpgradeError(
                    f"{pin.name} {entry['version']}: its index entry names no exact "
                    f"{sub.name} dependency ({wanted or 'none'}); {follower} cannot follow"
                )
            if wanted[0] != sub.current:
                follows[follower] = wanted[0]
        upgrades.append(Upgrade(pin.constant, "chart", pin.name, pin.current,
                                str(entry["version"]), follows))
    return upgrades


def rewrite(text: str, upgrade: Upgrade) -> str:
    """The catalogue with the upgrade's version (and its followers') put in."""
    pins = {p.constant: p for p in read_pins(text)}
    changes = {upgrade.constant: upgrade.latest, **upgrade.follows}
    for constant in changes:
        if constant not in pins:
            raise UpgradeError(f"{constant} is not a pin of the catalogue")
    if pins[upgrade.constant].current != upgrade.current:
        raise UpgradeError(
            f"{upgrade.constant} is {pins[upgrade.constant].current}, not {upgrade.current}"
        )
    # From the end, so the earlier offsets stay right.
    for constant in sorted(changes, key=lambda c: pins[c].span[0], reverse=True):
        start, end = pins[constant].span
        text = f"{text[:start]}{json.dumps(changes[constant])}{text[end:]}"
    return text


def main(argv: list[str] | None = None, out: TextIO | None = None,
         fetch: Fetch = http_fetch) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m tools.upgrades",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, default=CATALOG, help=argparse.SUPPRESS)
    parser.add_argument("--source-prefix", metavar="PREFIX",
                        help="read every index from PREFIX<host><path> (a mirror, or fixtures)")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the upgrades as JSON")
    shown.add_argument("--write", metavar="NAME",
                       help="rewrite this pin (chart name, image repository or constant)")
    args = parser.parse_args(argv)
    text = args.catalog.read_text()
    try:
        upgrades = find_upgrades(text, fetch, args.source_prefix)
    except UpgradeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.write:
        chosen = [u for u in upgrades if args.write in (u.name, u.constant, u.slug)]
        if not chosen:
            known = ", ".join(u.name for u in upgrades) or "none"
            print(f"error: no upgrade for {args.write!r} (upgrades: {known})", file=sys.stderr)
            return 2
        args.catalog.write_text(rewrite(text, chosen[0]))
        up = chosen[0]
        also = "".join(f", {c} -> {v}" for c, v in up.follows.items())
        print(f"{up.constant}: {up.current} -> {up.latest}{also}", file=out)
        return 0
    if args.json:
        print(json.dumps([asdict(u) | {"slug": u.slug} for u in upgrades], indent=2), file=out)
        return 0
    if not upgrades:
        print("Every pin is the newest its source lists.", file=out)
        return 0
    width = max(len(u.name) for u in upgrades)
    for up in upgrades:
        also = "".join(f" (with {c} {v})" for c, v in up.follows.items())
        print(f"{up.kind:6} {up.name:{width}}  {up.current} -> {up.latest}{also}", file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
