"""Shared test fixtures.

Tests never touch a cloud: programs run on Pulumi's mock engine through tools/mockrun.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True, scope="session")
def _isolated_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point $KUBECONFIG at a test file: the local stack must never see a real cluster."""
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(LOCAL_KUBECONFIG)
    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = old


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
