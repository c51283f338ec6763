"""Evaluate a recorded ValidatingAdmissionPolicy against admission requests, with real CEL.

The CEL expressions are evaluated by `cel-python <https://pypi.org/project/cel-python/>`_ (a
CEL implementation following the CEL language definition), the rest of the admission flow as
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/ describes:

1. ``matchConstraints.resourceRules``: API group, resource and operation (``*`` matches all);
2. ``matchConditions``: every expression true, else the policy does not apply;
3. ``variables``: evaluated (here eagerly, in order) and exposed as ``variables.<name>``;
4. ``validations``: each expression must be true, else the request is refused with its
   ``message``. An expression that errors refuses the request too (``failurePolicy: Fail``).

``object`` is null on DELETE and ``oldObject`` on CREATE, as in the API server. What this
cannot show about the API server's CEL environment is listed in docs/access.md ("What the
CEL tests cannot show"): above all, the API server type-checks every expression against the
OpenAPI schemas when the policy is created, and bounds its cost; cel-python does neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import celpy

from tools.mockrun import Recording

POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


#: CEL's reserved words, which no identifier may be: the language definition,
#: https://github.com/google/cel-spec/blob/master/doc/langdef.md#syntax
CEL_RESERVED = frozenset({
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
    "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
    "void", "while",
})
_CEL_IDENTIFIER = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")


@dataclass(frozen=True)
class Request:
    """The parts of an ``AdmissionRequest`` the policy reads."""

    operation: str
    """CREATE, UPDATE, DELETE or CONNECT."""
    group: str
    resource: str
    username: str
    namespace: str = ""
    """Empty for cluster-scoped objects, as in the API server's ``request.namespace``."""
    object: Mapping[str, Any] | None = None
    old_object: Mapping[str, Any] | None = None
    version: str = "v1"
    groups: tuple[str, ...] = field(default=())

    def cel_request(self) -> dict[str, Any]:
        """``request`` as the API server's CEL sees it: the AdmissionRequest converted to
        unstructured, so the ``omitempty`` fields ``namespace`` and ``name`` are absent when
        empty (k8s.io/api admission/v1 types.go). A cluster-scoped request has no
        ``request.namespace``: reading it fails ("no such key: namespace"), as the first
        real-engine run of the role-rules check showed."""
        name = (self.object or self.old_object or {}).get("metadata", {}).get("name", "")
        request: dict[str, Any] = {
            "operation": self.operation,
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "userInfo": {"username": self.username, "groups": list(self.groups)},
        }
        if self.namespace:
            request["namespace"] = self.namespace
        if name:
            request["name"] = name
        return request


@dataclass(frozen=True)
class Decision:
    matched: bool
    """Whether the policy applied to the request at all."""
    refused: tuple[str, ...] = ()
    """Messages of the validations that failed (or errored); empty: admitted."""

    @property
    def allowed(self) -> bool:
        return not self.refused


def _compile(env: celpy.Environment, expression: str) -> Any:
    return env.program(env.compile(expression))


class AdmissionPolicy:
    """One ValidatingAdmissionPolicy ``spec``, compiled once."""

    #: Decisions by (policy, request), both as JSON: a decision depends on nothing else, and
    #: the stacks render many identical objects (cel-python interprets every expression
    #: afresh, some milliseconds each).
    _decided: dict[tuple[str, str], Decision] = {}  # noqa: RUF012 -- one cache for all

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self._key = json.dumps(spec, sort_keys=True)
        env = celpy.Environment()
        self._conditions = [
            (c["name"], _compile(env, c["expression"])) for c in spec.get("matchConditions", [])
        ]
        for v in spec.get("variables", []):
            if not _CEL_IDENTIFIER.fullmatch(v["name"]) or v["name"] in CEL_RESERVED:
                # The API server refuses the policy: "must be a valid CEL identifier" (the
                # first real-engine run of a variable named `namespace` said exactly that).
                raise ValueError(f"variable {v['name']!r} is not a valid CEL identifier")
        self._variables = [
            (v["name"], _compile(env, v["expression"])) for v in spec.get("variables", [])
        ]
        self._validations = [
            (v.get("message", v["expression"]), _compile(env, v["expression"]))
            for v in spec.get("validations", [])
        ]

    @classmethod
    def from_recording(cls, recording: Recording) -> AdmissionPolicy:
        """The recorded policy; fails unless exactly one binding enforces it with Deny."""
        policies = recording.of_type(POLICY)
        assert len(policies) == 1, [p.name for p in policies]
        policy = policies[0].inputs
        bindings = [
            b
            for b in recording.of_type(BINDING)
            if b.inputs["spec"]["policyName"] == policy["metadata"]["name"]
        ]
        assert len(bindings) == 1, "the policy must have exactly one binding"
        assert bindings[0].inputs["spec"]["validationActions"] == ["Deny"]
        return cls(policy["spec"])

    def _rule_matches(self, request: Request) -> bool:
        def has(values: list[str], wanted: str) -> bool:
            return "*" in values or wanted in values

        return any(
            has(rule["apiGroups"], request.group)
            and has(rule["apiVersions"], request.version)
            and has(rule["operations"], request.operation)
            and has(rule["resources"], request.resource)
            for rule in self.spec["matchConstraints"]["resourceRules"]
        )

    def decide(self, request: Request) -> Decision:
        key = (self._key, json.dumps(asdict(request), sort_keys=True))
        if key not in self._decided:
            self._decided[key] = self._decide(request)
        return self._decided[key]

    def _decide(self, request: Request) -> Decision:
        if not self._rule_matches(request):
            return Decision(matched=False)
        activation: dict[str, Any] = {
            "request": request.cel_request(),
            "object": request.object,
            "oldObject": request.old_object,
        }
        for name, program in self._conditions:
            result = program.evaluate(celpy.json_to_cel(activation))
            if not isinstance(result, celpy.celtypes.BoolType):
                return Decision(matched=True, refused=(f"matchCondition {name} errored: {result}",))
            if not result:
                return Decision(matched=False)
        # A variable may use the ones declared before it, as in the API server ("each
        # variable can reference previously defined variables", the VAP documentation).
        context = celpy.json_to_cel({**activation, "variables": {}})
        assert isinstance(context, celpy.celtypes.MapType)
        variables = celpy.celtypes.MapType({})
        for name, program in self._variables:
            context[celpy.celtypes.StringType("variables")] = variables
            variables = celpy.celtypes.MapType(
                {**variables, celpy.celtypes.StringType(name): program.evaluate(context)})
        context[celpy.celtypes.StringType("variables")] = variables
        refused = []
        for message, program in self._validations:
            try:
                result = program.evaluate(context)
            except celpy.CELEvalError as exc:
                refused.append(f"error: {exc} ({message})")
                continue
            if not isinstance(result, celpy.celtypes.BoolType):
                refused.append(f"error: {result} ({message})")
            elif not result:
                refused.append(message)
        return Decision(matched=True, refused=tuple(refused))
