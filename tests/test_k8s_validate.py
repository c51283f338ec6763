"""The strict-validation helper fails on every situation it cannot check, never passes it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s_validate import (
    UnvalidatedObjectError,
    assert_valid_objects,
    schema_version,
    validate_object,
)
from tools.mockrun import Recording

NS_TYPE = "kubernetes:core/v1:Namespace"


def namespace(**extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "binder"}, **extra}


def test_a_valid_object_passes() -> None:
    validate_object(NS_TYPE, namespace(), "1.33")


@pytest.mark.parametrize(
    "obj",
    [
        namespace(bogus=1),  # unknown top-level field: strict mode
        namespace(metadata={"name": "binder", "labelz": {}}),  # unknown nested field
        namespace(spec={"finalizers": "kubernetes"}),  # wrong type
    ],
)
def test_invalid_objects_fail(obj: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        validate_object(NS_TYPE, obj, "1.33")


def test_unknown_situations_fail_instead_of_passing() -> None:
    with pytest.raises(UnvalidatedObjectError, match=r"no schemas for Kubernetes 1\.24"):
        schema_version("1.24")
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {}}
    with pytest.raises(UnvalidatedObjectError, match="extra_schemas"):
        validate_object("kubernetes:cert-manager.io/v1:ClusterIssuer", issuer, "1.33")
    with pytest.raises(UnvalidatedObjectError, match="Patch"):
        validate_object("kubernetes:core/v1:NamespacePatch", namespace(), "1.33")
    with pytest.raises(UnvalidatedObjectError, match="expected 'v1' 'Namespace'"):
        validate_object(NS_TYPE, {**namespace(), "kind": "Secret"}, "1.33")
    unknown = namespace(metadata={"name": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})
    with pytest.raises(UnvalidatedObjectError, match="not known yet"):
        validate_object(NS_TYPE, unknown, "1.33")
    with pytest.raises(UnvalidatedObjectError, match="no raw Kubernetes objects"):
        assert_valid_objects(Recording(), "1.33")


def test_custom_resources_validate_against_a_given_schema() -> None:
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": {"type": "object", "required": ["acme"]}},
    }
    key = ("cert-manager.io/v1", "ClusterIssuer")
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {}}
    token = "kubernetes:cert-manager.io/v1:ClusterIssuer"
    validate_object(token, {**issuer, "spec": {"acme": {}}}, "1.33", {key: schema})
    with pytest.raises(AssertionError, match="acme"):
        validate_object(token, {**issuer, "spec": {}}, "1.33", {key: schema})
