"""e2e/tools/build.py: what it builds, from which pins, and when it skips (no Go build runs
here; the builds themselves run in `make e2e-tools`/`make test-tools`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2e.tools import build
from tests.conftest import REPO

TOOLS = REPO / "e2e" / "tools"


def test_every_tool_is_pinned_by_a_go_module_of_ours() -> None:
    """Each tool's module has go.mod and go.sum; an upstream main is a `tool` directive of
    that go.mod (so `go build` of it is covered by the pins); our own mains are our code."""
    for tool in build.TOOLS:
        module = tool.module_path
        assert (module / "go.mod").is_file(), tool.name
        assert (module / "go.sum").is_file(), tool.name
        go_mod = (module / "go.mod").read_text()
        if tool.package == ".":
            assert (module / "main.go").is_file(), tool.name
        else:
            tools = set(re.findall(r"^tool (\S+)$", go_mod, re.M))
            block = re.search(r"^tool \(\n(.*?)^\)", go_mod, re.M | re.S)
            if block:
                tools |= {line.strip() for line in block[1].splitlines() if line.strip()}
            assert tool.package in tools, f"{tool.name}: {tool.package} is no tool of {module}"
    assert {t.name for t in build.TOOLS} >= {
        "pulumi", "pulumi-resource-kubernetes", "pulumi-resource-random", "helm", "etcd",
        "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "promtool",
        "amtool",
    }


def test_no_upstream_code_is_committed() -> None:
    """Only our own small mains and tests are Go files here."""
    ours = {p.relative_to(TOOLS).as_posix() for p in TOOLS.rglob("*.go")}
    assert ours == {"kubernetes/main.go", "random/main.go", "random/main_test.go"}


def test_the_cli_and_the_sdk_are_one_version() -> None:
    """pkg/v3's go.mod replaces sdk/v3 with ../sdk (ignored in a dependency), so our go.mod
    must require both at the same version."""
    go_mod = (TOOLS / "pulumi" / "go.mod").read_text()
    pkg = re.search(r"github.com/pulumi/pulumi/pkg/v3 (v\S+)", go_mod)
    sdk = re.search(r"github.com/pulumi/pulumi/sdk/v3 (v\S+)", go_mod)
    assert pkg
    assert sdk
    assert pkg[1] == sdk[1]


def test_the_provider_pin_is_the_commit_whose_version_we_report() -> None:
    go_mod = (TOOLS / "kubernetes" / "go.mod").read_text()
    pinned = re.search(r"github.com/pulumi/pulumi-kubernetes/provider/v4 (v\S+)", go_mod)
    assert pinned
    assert pinned[1].endswith(build.KUBERNETES_PROVIDER_COMMIT)


def test_prometheus_module_versions_map_to_releases() -> None:
    assert build._prometheus_tag("v0.316.0") == "3.16.0"
    assert build._prometheus_tag("v0.300.1") == "3.0.1"


def test_kubernetes_version_flags_follow_hack_lib_version_sh() -> None:
    flags = build.kubernetes_ldflags("v1.36.3")
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "-X k8s.io/component-base/version.gitMinor=36" in flags
    assert "-X k8s.io/client-go/pkg/version.gitVersion=v1.36.3" in flags
    assert "-X k8s.io/component-base/version.gitTreeState=clean" in flags


def test_the_random_provider_reports_the_sdks_version() -> None:
    lock = (REPO / "requirements.lock").read_text()
    sdk = re.search(r"^pulumi-random==(\S+)", lock, re.M)
    assert sdk
    assert build._random_flags(REPO) == [f"-X main.version={sdk[1]}"]


def test_a_tool_is_rebuilt_when_its_pins_change(tmp_path: Path, monkeypatch) -> None:
    module = tmp_path / "mod"
    module.mkdir()
    (module / "go.mod").write_text("module x\n")
    (module / "go.sum").write_text("")
    tool = build.Tool("x", "mod", ".")
    monkeypatch.setattr(build, "HERE", tmp_path)
    monkeypatch.setattr(build, "BIN", tmp_path / "bin")
    monkeypatch.setattr(build, "STAMPS", tmp_path / "bin" / ".stamps")
    first = build.stamp_of(tool, "go1.26.8")
    assert build.stamp_of(tool, "go1.26.8") == first
    assert build.stamp_of(tool, "go1.27.0") != first
    (tmp_path / "bin" / ".stamps").mkdir(parents=True)
    (tmp_path / "bin" / "x").write_text("binary")
    (tmp_path / "bin" / ".stamps" / "x").write_text(first)
    assert build.up_to_date(tool, first)
    (module / "go.sum").write_text("example.org/m v1.0.0 h1:...\n")
    assert not build.up_to_date(tool, build.stamp_of(tool, "go1.26.8"))


def test_unknown_tools_are_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build.main(["kubectl"])
    assert "unknown tool kubectl" in capsys.readouterr().err


def test_without_go_the_build_says_how_to_get_it(monkeypatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda _: None)
    with pytest.raises(build.BuildError, match="the Go toolchain is not installed"):
        build.go(["version"], TOOLS)
