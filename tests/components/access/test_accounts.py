"""components/access/accounts.py: a ServiceAccount, its token Secret, and its kubeconfig."""

from __future__ import annotations

import base64
from typing import cast

import pulumi
import pytest
from pulumi_kubernetes.core.v1 import Secret

from components.access.accounts import service_account_with_token, token_kubeconfig
from tests import fast_yaml
from tools.mockrun import run_program, unwrap


def test_token_secret_follows_its_account_and_names_its_generation() -> None:
    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Parent", "boot")
        ns = pulumi.ResourceOptions(parent=parent)
        from pulumi_kubernetes.core.v1 import Namespace
        from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

        namespace = Namespace("ns", metadata=ObjectMetaArgs(name="deployer"), opts=ns)
        service_account_with_token(parent, "boot", "deployer", "deployer", 3, namespace)

    rec = run_program(program)
    account = rec.one("kubernetes:core/v1:ServiceAccount")
    token = rec.one("kubernetes:core/v1:Secret")
    assert account.inputs["automountServiceAccountToken"] is False
    assert token.inputs["type"] == "kubernetes.io/service-account-token"
    assert token.inputs["metadata"]["name"] == "deployer-token-3"
    assert account.urn in token.dependencies


class _TokenSecret:
    """Stands in for a token Secret: token_kubeconfig reads only its ``data``."""

    def __init__(self, data: dict[str, str] | None) -> None:
        self.data = pulumi.Output.from_input(data)


def _kubeconfig(data: dict[str, str] | None) -> pulumi.Output[str]:
    return token_kubeconfig(
        cast(Secret, _TokenSecret(data)),
        secret_name="the token Secret of deployer/x",
        user="x",
        namespace="binder",
        cluster_name="c",
        endpoint="https://1.2.3.4:6443",
        ca_data="",
    )


def test_kubeconfig_carries_the_decoded_token_as_a_secret() -> None:
    def program() -> None:
        pulumi.export("kubeconfig", _kubeconfig({"token": base64.b64encode(b"abc").decode()}))

    rec = run_program(program)
    assert rec.secret_output("kubeconfig")
    config = fast_yaml.safe_load(unwrap(rec.outputs["kubeconfig"]))
    assert config["users"][0]["user"]["token"] == "abc"
    assert config["contexts"][0]["context"]["namespace"] == "binder"


def test_a_token_secret_the_controller_never_filled_is_a_clear_error() -> None:
    def program() -> None:
        pulumi.export("kubeconfig", _kubeconfig({}))

    with pytest.raises(Exception, match="the token Secret of deployer/x has no token"):
        run_program(program)
