"""Shared test fixtures.

Tests never touch a cloud: programs run on Pulumi's mock engine through tools/mockrun.py.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import once

REPO = Path(__file__).resolve().parent.parent

#: A kubeconfig for `provider: existing` stacks, so no test reads the developer's own.
LOCAL_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: kind-binder
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: TU9DSyBDQQ==
contexts:
- name: kind-binder
  context: {cluster: kind-binder, user: kind-binder}
- name: other
  context: {cluster: kind-binder, user: kind-binder}
current-context: kind-binder
users:
- name: kind-binder
  user: {token: local-test-token-not-a-secret}
"""


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The last thing a test process does before it exits: keep the interpreter's exit from
    walking the heap the tests built (recordings, rendered charts), which took ~2 s per
    process, with the controller waiting for its workers. ``gc.freeze`` leaves every object
    alive to the exit instead. It runs after pytest's own final collection, which reports
    any exception a finaliser raised (``unraisableexception.pytest_unconfigure``), so that
    check still sees everything. https://docs.python.org/3/library/gc.html#gc.freeze"""
    gc.freeze()


@pytest.fixture(autouse=True, scope="session")
def _share_between_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Lets tests/once.py share a result between the pytest-xdist workers of this run."""
    once.share_between_workers(tmp_path_factory)


@pytest.fixture(autouse=True, scope="session")
def _isolated_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point $KUBECONFIG (and the e2e stack's $BINDER_E2E_KUBECONFIG) at a test file: the
    local stacks must never see a real cluster."""
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(LOCAL_KUBECONFIG)
    saved = {name: os.environ.get(name) for name in ("KUBECONFIG", "BINDER_E2E_KUBECONFIG")}
    for name in saved:
        os.environ[name] = str(path)
    yield path
    for name, old in saved.items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


#: The committed TEST-ONLY age key: the example stacks' SOPS files are encrypted to it.
TEST_AGE_KEY = REPO / "tests" / "keys" / "TEST-ONLY-age-key.txt"


@pytest.fixture(autouse=True, scope="session")
def _test_sops_key() -> Iterator[Path]:
    """Whole-stack runs decrypt helm_configs/*/secrets.yaml with the TEST-ONLY key.

    No test needs a developer's own key; tests of key failures override these variables.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOPS_AGE_KEY_FILE", str(TEST_AGE_KEY))
        # The example stacks' secrets files are encrypted to the TEST-ONLY key only, which
        # the program refuses outside the tests (components/secrets/sops.py).
        patch.setenv("BINDER_TEST_RUN", "1")
        patch.delenv("SOPS_AGE_KEY", raising=False)
        patch.delenv("SOPS_AGE_KEY_CMD", raising=False)
        yield TEST_AGE_KEY


#: The stacks a forked render runs, in order: each committed stack once, and gcp (the stack
#: whose renders showed the teardown noise most often, issue 13) once more. (~2.5 s of CPU
#: per gcp render.)
FORKED_RENDER_STACKS = (
    *sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in REPO.glob("Pulumi.*.yaml")),
    "gcp",
)
#: One more child, for a stack that does not exist: its exit status and message show that
#: what a child prints and returns reaches the report (tests/test_forked_renders.py).
MISSING_STACK = "no-such-stack"

#: What the tests set that `make render` must not need: a SOPS key, a kubeconfig (the
#: session fixtures above), a home with ~/.kube/config, the test-run marker.
_NOT_FOR_RENDER = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
                   "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "KUBECONFIG", "BINDER_TEST_RUN")


@pytest.fixture(scope="session")
def _forked(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from tests.rendered.support import require_chart_data

    require_chart_data()  # up front, with how to fetch them, not as a failed render

    def produce() -> list[dict[str, Any]]:
        folder = tmp_path_factory.mktemp("forked")
        (folder / "home").mkdir()
        env = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_RENDER}
        out = subprocess.run(
            [sys.executable, "-m", "tests.forked_renders", str(folder / "renders"),
             *FORKED_RENDER_STACKS, MISSING_STACK],
            cwd=REPO, capture_output=True, text=True, check=False, timeout=600,
            env={**env, "PYTHONPATH": str(REPO), "HOME": str(folder / "home")},
        )
        assert out.returncode == 0, out.stderr
        assert out.stderr == "", out.stderr
        results: list[dict[str, Any]] = json.loads(out.stdout.splitlines()[-1])
        return results

    results: list[dict[str, Any]] = once.once_per_run("forked-renders", produce)
    assert [r["stack"] for r in results] == [*FORKED_RENDER_STACKS, MISSING_STACK]
    return results


@pytest.fixture(scope="session")
def forked_renders(_forked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of :data:`FORKED_RENDER_STACKS` rendered by ``tools.render.main`` in a process
    of its own that exits as ``python -m tools.render`` does (see tests/forked_renders.py),
    with no SOPS key, kubeconfig or home of the tests': per render its stack, exit status,
    stdout, stderr and installed top-level modules. Made once per test run, whichever
    pytest-xdist worker needs it first (tests/once.py)."""
    return _forked[:-1]


@pytest.fixture(scope="session")
def forked_render_of_a_missing_stack(_forked: list[dict[str, Any]]) -> dict[str, Any]:
    """The same for :data:`MISSING_STACK`, in the same run."""
    return _forked[-1]
