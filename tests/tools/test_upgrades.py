"""tools/upgrades.py against fixture indexes served from 127.0.0.1 (made up, see
tests/tools/fixtures/upgrades/README.md): what it finds against today's pins, and the rewrite
of one pin, nothing else, in a copy of the real catalogue."""

from __future__ import annotations

import ast
import io
import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components.catalog import charts
from tests.local_server import serving
from tools import upgrades

FIXTURES = Path(__file__).parent / "fixtures" / "upgrades"


class _Fixtures(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    hits: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Fixtures

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.server.hits.append(self.path)
        path = url.path
        if path.endswith("/"):  # Quay's paged tag list
            page = urllib.parse.parse_qs(url.query).get("page", ["1"])[0]
            path += f"page-{page}.json"
        file = (self.server.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.server.root) or not file.is_file():
            self.send_response(404)
            self.end_headers()
            return
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fixtures() -> Iterator[_Fixtures]:
    server = _Fixtures(("127.0.0.1", 0), _Handler)  # loopback only
    server.root = FIXTURES.resolve()
    server.hits = []
    with serving(server):
        yield server


def _prefix(server: _Fixtures) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"


def run(server: _Fixtures, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = upgrades.main(["--source-prefix", _prefix(server), *argv], out=out)
    return code, out.getvalue()


def test_what_the_tool_finds_against_todays_pins(fixtures: _Fixtures) -> None:
    code, out = run(fixtures, "--json")
    assert code == 0
    found = {u["constant"]: u for u in json.loads(out)}
    assert set(found) == {"BINDERHUB", "TRAEFIK", "PROMETHEUS", "REPO2DOCKER"}
    assert found["BINDERHUB"] | {} == {
        "constant": "BINDERHUB", "kind": "chart", "name": "binderhub",
        "current": charts.BINDERHUB.version, "latest": "1.0.0-0.dev.git.3990.h0c1d2e3",
        "follows": {"JUPYTERHUB_SUBCHART": "4.4.0"},
        "slug": "binderhub-1.0.0-0.dev.git.3990.h0c1d2e3",
    }
    assert (found["TRAEFIK"]["current"], found["TRAEFIK"]["latest"]) == ("41.3.0", "41.4.0")
    assert found["PROMETHEUS"]["latest"] == "29.28.0"
    assert found["REPO2DOCKER"] == {
        "constant": "REPO2DOCKER", "kind": "image", "name": "quay.io/jupyterhub/repo2docker",
        "current": "2024.07.0", "latest": "2025.10.0", "follows": {},
        "slug": "repo2docker-2025.10.0",
    }
    # Each repository's index read once (BinderHub and JupyterHub share theirs), and both
    # pages of Quay's tag list.
    indexes = [h for h in fixtures.hits if h.endswith("/index.yaml")]
    assert len(indexes) == len(set(indexes)) == 8
    assert sum("repo2docker/tag/" in h for h in fixtures.hits) == 2


def test_the_table_names_each_upgrade(fixtures: _Fixtures) -> None:
    code, out = run(fixtures)
    assert code == 0
    assert out.splitlines() == [
        "chart  binderhub                       1.0.0-0.dev.git.3958.haf9ca8b1 -> "
        "1.0.0-0.dev.git.3990.h0c1d2e3 (with JUPYTERHUB_SUBCHART 4.4.0)",
        "chart  traefik                         41.3.0 -> 41.4.0",
        "chart  prometheus                      29.27.0 -> 29.28.0",
        "image  quay.io/jupyterhub/repo2docker  2024.07.0 -> 2025.10.0",
    ]


def _copy_of_catalog(tmp_path: Path) -> Path:
    copy = tmp_path / "charts.py"
    copy.write_text(upgrades.CATALOG.read_text())
    return copy


@pytest.mark.parametrize(
    ("name", "changed"),
    [
        ("traefik", {('version="41.3.0"', 'version="41.4.0"')}),
        ("binderhub", {('version="1.0.0-0.dev.git.3958.haf9ca8b1"',
                        'version="1.0.0-0.dev.git.3990.h0c1d2e3"'),
                       ('version="4.2.0"', 'version="4.4.0"')}),
        ("quay.io/jupyterhub/repo2docker", {('tag="2024.07.0"', 'tag="2025.10.0"')}),
    ],
)
def test_write_rewrites_that_pin_and_nothing_else(
    fixtures: _Fixtures, tmp_path: Path, name: str, changed: set[tuple[str, str]]
) -> None:
    catalog = _copy_of_catalog(tmp_path)
    before = catalog.read_text()
    code, out = run(fixtures, "--catalog", str(catalog), "--write", name)
    assert code == 0, out
    after = catalog.read_text()
    expected = before
    for old, new in changed:
        assert before.count(old) == 1
        expected = expected.replace(old, new)
    assert after == expected
    ast.parse(after)  # still Python
    # The rewritten catalogue reads back with the new versions; no upgrade left for it.
    pins = {p.constant: p.current for p in upgrades.read_pins(after)}
    for _, new in changed:
        assert new.split('"')[1] in pins.values()
    again = upgrades.find_upgrades(after, upgrades.http_fetch, _prefix(fixtures))
    assert name not in {u.name for u in again}


def test_write_of_something_without_an_upgrade_says_what_can_be_written(
    fixtures: _Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = _copy_of_catalog(tmp_path)
    code, _ = run(fixtures, "--catalog", str(catalog), "--write", "cert-manager")
    assert code == 2
    assert capsys.readouterr().err == (
        "error: no upgrade for 'cert-manager' (upgrades: binderhub, traefik, prometheus, "
        "quay.io/jupyterhub/repo2docker)\n"
    )
    assert catalog.read_text() == upgrades.CATALOG.read_text()


def test_a_missing_index_is_an_error(
    fixtures: _Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = _copy_of_catalog(tmp_path)
    catalog.write_text(catalog.read_text().replace(
        "https://charts.jetstack.io", "https://charts.example.org"))
    code, _ = run(fixtures, "--catalog", str(catalog))
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: {_prefix(fixtures)}charts.example.org/index.yaml: HTTP 404\n"
    )


def test_binderhub_without_a_jupyterhub_dependency_cannot_move() -> None:
    index = {"entries": {"binderhub": [{"version": "1.0.0-0.dev.git.4000.habc"}],
                         "jupyterhub": [{"version": "4.2.0"}]}}
    text = (
        'BINDERHUB = ChartPin(chart="binderhub", version="1.0.0-0.dev.git.3958.haf9ca8b1", '
        'repo="https://jupyterhub.github.io/helm-chart/", release="binderhub")\n'
        'JUPYTERHUB_SUBCHART = ChartPin(chart="jupyterhub", version="4.2.0", '
        'repo="https://jupyterhub.github.io/helm-chart/", release="binderhub")\n'
    )
    with pytest.raises(upgrades.UpgradeError, match="names no exact jupyterhub dependency"):
        upgrades.find_upgrades(text, lambda url: json.dumps(index).encode())


@pytest.mark.parametrize(
    ("older", "newer"),
    [("1.0.0-0.dev.git.3958.haf9ca8b1", "1.0.0-0.dev.git.3990.h0c1d2e3"),
     ("1.0.0-0.dev.git.999.hzzz", "1.0.0-0.dev.git.1000.haaa"),  # numerically
     ("1.0.0-0.dev.git.3990.h0", "1.0.0"),  # a release after its pre-releases
     ("v1.21.1", "v1.22.0-alpha.0"),
     ("29.3.0", "29.27.0"),
     ("1.0.0-alpha", "1.0.0-alpha.1"),
     ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
     ("1.0.0-beta.2", "1.0.0-beta.11"),
     ("1.0.0-rc.1", "1.0.0")],
)
def test_semver_precedence(older: str, newer: str) -> None:
    old_key, new_key = upgrades.semver_key(older), upgrades.semver_key(newer)
    assert old_key is not None
    assert new_key is not None
    assert old_key < new_key


def test_image_tags_as_versions() -> None:
    version = upgrades.image_version
    assert version("latest") is None
    assert version("main") is None
    dev = version("2026.4.1.dev44-g97bb4e45a")
    assert dev is not None
    assert dev.is_prerelease
    assert version("2025.10.0") > version("2025.08.0")  # type: ignore[operator]


def test_the_pins_read_from_the_catalogue_are_the_catalogues() -> None:
    """The syntax-tree reading agrees with the module's own constants."""
    pins = {p.constant: p for p in upgrades.read_pins(upgrades.CATALOG.read_text())}
    for pin in (*charts.RELEASES, charts.JUPYTERHUB_SUBCHART):
        (constant,) = [c for c, p in pins.items()
                       if p.kind == "chart" and p.name == pin.chart and p.current == pin.version]
        assert pins[constant].source == pin.repo
    assert pins["REPO2DOCKER"].current == charts.REPO2DOCKER.tag
    assert pins["REPO2DOCKER"].source == charts.REPO2DOCKER.repository
