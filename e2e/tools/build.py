"""Build the tools of the real-engine tests (and the fast suite's promtool/amtool) from their
pinned Go modules into ``bin/``: ``python -m e2e.tools.build [TOOL ...]``.

Every pin lives in a ``go.mod``/``go.sum`` of ours under ``e2e/tools/<module>/``; why each
pin is what it is: ``e2e/tools/README.md``. Versions reported at link time are read from those
go.mod files (``go list -m``) or from ``requirements.lock``, never typed twice. A tool is
skipped when ``bin/`` already holds it built from the same inputs (a stamp of the module's
files, the recipe and the Go version in ``bin/.stamps/``).

Go's module and build caches are the user's own (``go env GOMODCACHE GOCACHE``, by default
``~/go/pkg/mod`` and ``~/.cache/go-build``): they survive between runs on one machine, and a
warm rebuild takes seconds. Builds use ``-mod=readonly``: a go.mod or go.sum that does not
cover the build fails it instead of being rewritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN = REPO / "bin"
STAMPS = BIN / ".stamps"

#: The kwok stages we use, from the kwok module (``kustomize/stage/``): kwokctl normally
#: injects them; kwok itself reads them from ``--config`` files.
#: https://github.com/kubernetes-sigs/kwok/tree/v0.8.0/kustomize/stage
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pv-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pvc-delete.yaml",
)

#: The Kubernetes provider is served only as a pseudo-version (its ``provider/`` module is
#: never tagged). This commit is tag v4.25.0 (read in pulumi/pulumi-kubernetes), so the
#: provider reports 4.25.0; the build refuses another commit until this line is updated.
KUBERNETES_PROVIDER_COMMIT = "f47bc2d6f199"
KUBERNETES_PROVIDER_VERSION = "4.25.0"


class BuildError(RuntimeError):
    """A build that cannot go on; the message says why and what to do."""


def go(args: Sequence[str], module: Path, *, env: dict[str, str] | None = None) -> str:
    """Run ``go`` in ``module``; its stdout, or a BuildError with its stderr."""
    if shutil.which("go") is None:
        raise BuildError(
            "the Go toolchain is not installed: these tools are built from their Go modules "
            "(https://go.dev/doc/install; Debian: apt-get install golang-go, 1.26 or newer)"
        )
    result = subprocess.run(
        ["go", *args], cwd=module, capture_output=True, text=True, check=False,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly", **(env or {})},
    )
    if result.returncode != 0:
        raise BuildError(f"`go {' '.join(args)}` in {module.relative_to(REPO)} failed:\n"
                         f"{result.stderr.strip()}")
    return result.stdout


def module_version(module: Path, path: str) -> str:
    """The version of ``path`` that ``module``'s go.mod selects (after replaces)."""
    info = json.loads(go(["list", "-m", "-json", path], module))
    return str((info.get("Replace") or info)["Version"])


def module_dir(module: Path, path: str) -> Path:
    """Where the module cache holds ``path`` at the version ``module`` selects, downloading it
    first if need be (``go list -m`` names no directory for a module not yet downloaded)."""
    info = json.loads(go(["mod", "download", "-json", path], module))
    if not info.get("Dir"):
        raise BuildError(f"the module proxy gave no source for {path}: {info.get('Error', '?')}")
    return Path(info["Dir"])


def python_pin(package: str) -> str:
    """The exact version of ``package`` in ``requirements.lock``."""
    text = (REPO / "requirements.lock").read_text()
    found = re.search(rf"^{re.escape(package)}==([^ \\\n]+)", text, re.MULTILINE)
    if not found:
        raise BuildError(f"requirements.lock pins no {package}")
    return found[1]


def staging_replaces(module: Path) -> dict[str, str]:
    """The replaces ``module`` needs to build from ``k8s.io/kubernetes``: that module requires
    its staging modules at v0.0.0 and replaces them with ``./staging/...`` paths, which no
    consumer can follow; each becomes ``k8s.io/<m> => k8s.io/<m> v0.<minor>.<patch>``. Read
    from the kubernetes go.mod at the pinned version, never typed."""
    version = module_version(module, "k8s.io/kubernetes")
    info = json.loads(go(["mod", "download", "-json", f"k8s.io/kubernetes@{version}"], module))
    upstream = json.loads(go(["mod", "edit", "-json", info["GoMod"]], module))
    staging = "v0." + version.lstrip("v").split(".", 1)[1]
    return {r["Old"]["Path"]: staging for r in upstream.get("Replace") or []
            if r["New"]["Path"].startswith("./staging/")}


def check_replaces(module: Path, sync: bool) -> None:
    """Refuse a controlplane go.mod whose replaces differ from :func:`staging_replaces`
    (with ``sync``: rewrite them, for a version bump)."""
    wanted = staging_replaces(module)
    ours = json.loads(go(["mod", "edit", "-json"], module)).get("Replace") or []
    have = {r["Old"]["Path"]: r["New"].get("Version") for r in ours
            if r["Old"]["Path"] == r["New"]["Path"]}
    if have == wanted:
        return
    if not sync:
        raise BuildError(
            f"{module.relative_to(REPO)}/go.mod does not replace the kubernetes staging modules "
            "as k8s.io/kubernetes requires; run `python -m e2e.tools.build --sync-replaces`"
        )
    for path in have.keys() - wanted.keys():
        go(["mod", "edit", f"-dropreplace={path}"], module, env={"GOFLAGS": ""})
    for path, version in wanted.items():
        go(["mod", "edit", f"-replace={path}={path}@{version}"], module, env={"GOFLAGS": ""})
    go(["mod", "tidy"], module, env={"GOFLAGS": ""})


def kubernetes_ldflags(version: str) -> list[str]:
    """What ``hack/lib/version.sh`` sets, so the API server reports its real version (Helm
    checks charts' ``kubeVersion`` against it; v0.0.0 would fail them):
    https://github.com/kubernetes/kubernetes/blob/v1.36.3/hack/lib/version.sh"""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.gitVersion={version}", f"-X {package}.gitMajor={major}",
                  f"-X {package}.gitMinor={minor}", f"-X {package}.gitTreeState=clean"]
    return flags


@dataclass(frozen=True)
class Tool:
    """One binary in ``bin/``."""

    name: str
    module: str
    """Our Go module under ``e2e/tools/``."""
    package: str
    """The main package: an upstream import path, or ``.`` for our own main."""
    ldflags: Callable[[Path], list[str]] = lambda _: []
    """``-X`` flags, from the module's resolved versions."""
    prepare: Callable[[Path], None] | None = None
    """Work before the build (files to embed, data to copy)."""
    extra_inputs: tuple[str, ...] = field(default=())
    """Files outside the module whose content the build reads (part of the stamp)."""
    tags: tuple[str, ...] = ()
    """Build tags (``go build -tags``)."""

    @property
    def module_path(self) -> Path:
        return HERE / self.module


def _pulumi_flags(module: Path) -> list[str]:
    # Without it the CLI says v0.0.0 and the Automation API refuses inline refresh/destroy
    # (pulumi .goreleaser.yml sets the same variable).
    version = module_version(module, "github.com/pulumi/pulumi/pkg/v3")
    return [f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={version}"]


def _provider_schema(module: Path) -> None:
    """Upstream's main embeds a schema its release step writes (git-ignored, so not in the
    module zip); ours embeds the committed schema.json with ``version`` set."""
    version = module_version(module, "github.com/pulumi/pulumi-kubernetes/provider/v4")
    if not version.endswith(KUBERNETES_PROVIDER_COMMIT):
        raise BuildError(
            f"e2e/tools/kubernetes pins pulumi-kubernetes {version}, but build.py knows the "
            f"version of commit {KUBERNETES_PROVIDER_COMMIT} only: find the tag of the new "
            "commit and update KUBERNETES_PROVIDER_COMMIT/VERSION"
        )
    source = module_dir(module, "github.com/pulumi/pulumi-kubernetes/provider/v4")
    schema = json.loads((source / "cmd/pulumi-resource-kubernetes/schema.json").read_text())
    schema["version"] = KUBERNETES_PROVIDER_VERSION
    (module / "schema-embed.json").write_text(json.dumps(schema))


def _provider_flags(_: Path) -> list[str]:
    return [f"-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
            f"{KUBERNETES_PROVIDER_VERSION}"]


def _helm_flags(module: Path) -> list[str]:
    return [f"-X helm.sh/helm/v3/internal/version.version="
            f"{module_version(module, 'helm.sh/helm/v3')}"]


def _random_flags(_: Path) -> list[str]:
    # The version the program's pulumi-random SDK asks the engine for.
    return [f"-X main.version={python_pin('pulumi-random')}"]


def _kube_flags(module: Path) -> list[str]:
    check_replaces(module, sync=False)
    return kubernetes_ldflags(module_version(module, "k8s.io/kubernetes"))


def _kwok_stages(module: Path) -> None:
    source = module_dir(module, "sigs.k8s.io/kwok") / "kustomize" / "stage"
    target = BIN / "kwok-stages"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for stage in KWOK_STAGES:
        data = (source / stage).read_bytes()
        (target / Path(stage).name).write_bytes(data)


def _prometheus_flags(module_path: str, tag: Callable[[str], str]) -> Callable[[Path], list[str]]:
    def flags(module: Path) -> list[str]:
        version = tag(module_version(module, module_path))
        return [f"-X github.com/prometheus/common/version.Version={version}",
                "-X github.com/prometheus/common/version.Branch=HEAD"]
    return flags


def _prometheus_tag(go_version: str) -> str:
    """Prometheus 3.x is published as Go module v0.3MM.P (v0.316.0 is Prometheus 3.16.0):
    https://github.com/prometheus/prometheus/blob/main/RELEASE.md"""
    minor, patch = go_version.lstrip("v").split(".")[1:3]
    return f"3.{int(minor) - 300}.{patch}"


TOOLS: tuple[Tool, ...] = (
    Tool("pulumi", "pulumi", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", _pulumi_flags),
    Tool("pulumi-resource-kubernetes", "kubernetes", ".", _provider_flags, _provider_schema),
    Tool("pulumi-resource-random", "random", ".", _random_flags,
         extra_inputs=("requirements.lock",)),
    Tool("helm", "kubernetes", "helm.sh/helm/v3/cmd/helm", _helm_flags),
    Tool("etcd", "controlplane", "go.etcd.io/etcd/server/v3"),
    Tool("kube-apiserver", "controlplane", "k8s.io/kubernetes/cmd/kube-apiserver", _kube_flags),
    Tool("kube-controller-manager", "controlplane", "k8s.io/kubernetes/cmd/kube-controller-manager",
         _kube_flags),
    Tool("kube-scheduler", "controlplane", "k8s.io/kubernetes/cmd/kube-scheduler", _kube_flags),
    Tool("kwok", "controlplane", "sigs.k8s.io/kwok/cmd/kwok", prepare=_kwok_stages),
    # Only Kubernetes service discovery, the one our Prometheus configuration uses (the rest
    # is most of the build): Prometheus' own build tags, plugins/plugin_*.go
    # https://github.com/prometheus/prometheus/tree/v3.16.0/plugins
    Tool("promtool", "prometheus", "github.com/prometheus/prometheus/cmd/promtool",
         _prometheus_flags("github.com/prometheus/prometheus", _prometheus_tag),
         tags=("remove_all_sd", "enable_kubernetes_sd")),
    Tool("amtool", "prometheus", "github.com/prometheus/alertmanager/cmd/amtool",
         _prometheus_flags("github.com/prometheus/alertmanager", lambda v: v.lstrip("v"))),
)

#: What ``make test`` needs (the monitoring checks); the rest is for ``make e2e``.
TEST_TOOLS = ("promtool", "amtool")


def stamp_of(tool: Tool, go_version: str) -> str:
    """A digest of everything the build of ``tool`` reads that can change here: its module's
    go.mod, go.sum and our own Go files, the extra inputs, the recipe and Go's version."""
    digest = hashlib.sha256()
    files = sorted(p for p in tool.module_path.iterdir()
                   if p.name in ("go.mod", "go.sum") or p.suffix == ".go")
    files += [REPO / f for f in tool.extra_inputs]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(f"{tool.package}\0{','.join(tool.tags)}\0{go_version}\0".encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def up_to_date(tool: Tool, stamp: str) -> bool:
    stamp_file = STAMPS / tool.name
    return ((BIN / tool.name).is_file() and stamp_file.is_file()
            and stamp_file.read_text() == stamp)


def build(tool: Tool, go_version: str) -> float | None:
    """Build ``tool`` unless it is up to date; the seconds it took, or None if skipped."""
    stamp = stamp_of(tool, go_version)
    if up_to_date(tool, stamp):
        return None
    began = time.monotonic()
    module = tool.module_path
    if tool.prepare is not None:
        tool.prepare(module)
    flags = " ".join(["-s", "-w", *tool.ldflags(module)])
    BIN.mkdir(exist_ok=True)
    partial = BIN / f".{tool.name}.partial"
    tags = ["-tags", ",".join(tool.tags)] if tool.tags else []
    go(["build", "-trimpath", *tags, "-ldflags", flags, "-o", str(partial), tool.package],
       module)
    partial.replace(BIN / tool.name)
    STAMPS.mkdir(exist_ok=True)
    (STAMPS / tool.name).write_text(stamp)
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    names = [t.name for t in TOOLS]
    parser = argparse.ArgumentParser(prog="python -m e2e.tools.build", description=__doc__)
    parser.add_argument("tools", nargs="*", metavar="TOOL",
                        help=f"what to build (default: all): {', '.join(names)}")
    parser.add_argument("--or-path", action="store_true",
                        help="without Go, accept the tools already on PATH (a note says so)")
    parser.add_argument("--sync-replaces", action="store_true",
                        help="rewrite e2e/tools/controlplane/go.mod's kubernetes staging "
                        "replaces from the pinned k8s.io/kubernetes (after bumping it)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tools) - set(names))
    if unknown:
        parser.error(f"unknown tool {', '.join(unknown)}; choose from {', '.join(names)}")
    wanted = [t for t in TOOLS if not args.tools or t.name in args.tools]
    if args.or_path and shutil.which("go") is None:
        on_path = [t.name for t in wanted if shutil.which(t.name)]
        if len(on_path) == len(wanted):
            print(f"note: Go is not installed; using {', '.join(on_path)} from PATH, not the "
                  "pinned builds (e2e/tools/README.md)")
            return 0
    try:
        if args.sync_replaces:
            check_replaces(HERE / "controlplane", sync=True)
        go_version = go(["env", "GOVERSION"], HERE).strip()
        for tool in wanted:
            seconds = build(tool, go_version)
            state = "up to date" if seconds is None else f"built in {seconds:.0f} s"
            print(f"  {tool.name:28} {state}", flush=True)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
