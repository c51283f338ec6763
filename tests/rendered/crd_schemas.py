"""JSON Schemas of custom resources, from the CRDs the charts really ship.

A CRD's ``openAPIV3Schema`` is structural: the API server PRUNES fields it does not know
rather than rejecting them (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning),
so a misspelt field would silently vanish on a real cluster. To catch it here, the schema is
made strict the way kubernetes-validate's strict schemas are: every object schema with
``properties`` gets ``additionalProperties: false`` unless it says
``x-kubernetes-preserve-unknown-fields``; ``nullable: true`` admits null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tests.k8s_validate import Schemas


def strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def crd_schemas(objects: Iterable[Mapping[str, Any]]) -> Schemas:
    """``{(apiVersion, kind): strict schema}`` for every served version of every CRD."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for crd in objects:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("served", True) and schema:
                found[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = strict(
                    schema
                )
    return found
