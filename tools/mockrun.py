"""Run the real Pulumi program on Pulumi's mock engine and record what it registers.

Nothing here talks to a cloud or a Kubernetes API server: the SDK, the program and the
providers' typed arguments are real, only the engine is stubbed
(https://www.pulumi.com/docs/iac/guides/testing/unit/). The recording keeps every
``RegisterResource`` request as the engine would receive it -- inputs with their secret
markers, parent, dependencies, protect, ignoreChanges, provider -- plus the stack outputs.

It serves the tests, ``make render`` and ``make bench``. Usage from a shell::

    python -m tools.mockrun ebi            # summary of what `pulumi up` would register
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import binascii
import functools
import json
import os
import runpy
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from components.config.base import ConfigError
from components.config.yaml_input import read_stack_config

REPO = Path(__file__).resolve().parent.parent
PROJECT = "binder"

#: The project number the mocked ``gcp.organizations.get_project`` returns.
MOCK_PROJECT_NUMBER = "123456789012"

#: The marker Pulumi puts around a secret value on the wire.
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


# --------------------------------------------------------------------------------------
# What was registered
# --------------------------------------------------------------------------------------


@dataclass
class Registered:
    """One ``RegisterResource`` call, as the engine would see it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    """Inputs with secrets unwrapped (for assertions on values)."""
    wire: dict[str, Any]
    """Inputs exactly as sent, secret values still wrapped in Pulumi's secret marker."""
    protect: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    ignore_changes: list[str]
    provider: str
    delete_before_replace: bool
    replace_on_changes: list[str]
    custom_timeouts: dict[str, str]
    version: str
    additional_secret_outputs: list[str] = field(default_factory=list)
    """Outputs the program asked the engine to keep secret (``additional_secret_outputs``)."""


@dataclass
class Recording:
    """Everything one program run registered."""

    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Stack outputs with secrets unwrapped."""
    outputs_wire: dict[str, Any] = field(default_factory=dict)
    """Stack outputs as sent, secrets still wrapped."""
    logs: list[str] = field(default_factory=list)
    reads: list[tuple[str, str, str]] = field(default_factory=list)
    """``ReadResource`` calls (type, name, id): a StackReference reads its stack's outputs."""

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise AssertionError(f"expected one {type_} named {name!r}, found {names}")
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def secret_output(self, name: str) -> bool:
        return is_secret(self.outputs_wire.get(name))


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """Drop Pulumi's secret markers, keeping the values."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plaintext_leaks(value: Any, needles: list[str], path: str = "") -> Iterator[str]:
    """Paths where one of ``needles`` appears outside a secret: as is, or base64-encoded.

    Base64 is searched the way Kubernetes and charts produce it: the needle on its own, or
    anywhere inside a larger blob (a Secret's ``data`` holding a kubeconfig or a
    dockerconfigjson) at any byte offset, in the standard or the URL-safe alphabet; and one
    level deeper when a whole value is base64 (dockerconfigjson's ``auth`` is base64 of
    ``user:password`` inside base64 JSON). See :func:`_base64_forms`.
    """
    if is_secret(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from plaintext_leaks(v, needles, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from plaintext_leaks(v, needles, f"{path}[{i}]")
    elif isinstance(value, str) and _hidden_in(value, [n for n in needles if n]):
        yield path or "<value>"


def _hidden_in(text: str, needles: list[str], depth: int = 2) -> bool:
    """Whether a needle is in ``text`` as is or base64-encoded, or in ``text`` decoded."""
    for needle in needles:
        if needle in text or any(form in text for form in _base64_forms(needle)):
            return True
    if depth == 0:
        return False
    decoded = _base64_text(text)
    return decoded is not None and _hidden_in(decoded, needles, depth - 1)


@functools.lru_cache(maxsize=1024)
def _base64_forms(needle: str) -> frozenset[str]:
    """The base64 texts ``needle`` can appear as inside a larger base64 blob.

    Base64 turns each 3 bytes into 4 characters, so the characters a needle's bytes produce
    depend on the needle's offset in the blob modulo 3. For each offset (0, 1 or 2 filler
    bytes before it) we keep only the characters made of needle bits alone: the first ones
    also carry filler bits and the last one carries bits of whatever follows.
    """
    data = needle.encode()
    forms = set()
    for filler in range(3):
        encoded = base64.b64encode(b"\0" * filler + data).decode()
        first = -(-8 * filler // 6)  # the first character that starts after the filler
        end = 8 * (filler + len(data)) // 6  # characters that end within the needle
        middle = encoded[first:end]
        if middle:
            forms.add(middle)
            forms.add(middle.translate(_TO_URLSAFE))
    return frozenset(forms)


_TO_URLSAFE = str.maketrans("+/", "-_")


def _base64_text(text: str) -> str | None:
    """``text`` decoded, when all of it is base64 (either alphabet); else None."""
    compact = text.strip()
    if len(compact) < 4 or len(compact) % 4:
        return None
    try:
        raw = base64.b64decode(compact.translate(_FROM_URLSAFE), validate=True)
    except (binascii.Error, ValueError):
        return None
    # Bytes that are not UTF-8 stay distinct (surrogates) and cannot match a needle by chance.
    return raw.decode("utf-8", errors="surrogateescape")


_FROM_URLSAFE = str.maketrans("-_", "+/")


# --------------------------------------------------------------------------------------
# The mock engine
# --------------------------------------------------------------------------------------

#: Outputs that real providers compute and the program reads. Keyed by type token.
_FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n")


def _computed_state(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    state = dict(inputs)
    if type_ == "gcp:container/cluster:Cluster":
        state.setdefault("endpoint", "203.0.113.10")
        state["masterAuth"] = {"clusterCaCertificate": _FAKE_CA.decode()}
        state.setdefault("name", name)
    elif type_ == "openstack:containerinfra/cluster:Cluster":
        state.setdefault("name", name)
        state["apiAddress"] = "https://192.0.2.10:6443"
        state["kubeconfig"] = {
            # A map, so the provider's own (Terraform) attribute names, not camelCase.
            "host": "https://192.0.2.10:6443",
            "cluster_ca_certificate": base64.b64decode(_FAKE_CA).decode(),
            "client_certificate": "mock-client-cert",
            "client_key": "mock-client-key",
            "raw_config": (
                "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n"
                "    server: https://192.0.2.10:6443\ncontexts:\n- name: mock\n  context:\n"
                "    cluster: mock\n    user: admin\ncurrent-context: mock\nusers:\n"
                "- name: admin\n  user:\n    client-certificate-data: bW9jaw==\n"
            ),
        }
    elif type_ == "kubernetes:core/v1:Secret" and inputs.get("type") == (
        "kubernetes.io/service-account-token"
    ):
        # The token controller fills these in on a real cluster.
        state["data"] = {
            "token": base64.b64encode(f"mock-token-{name}".encode()).decode(),
            "ca.crt": _FAKE_CA.decode(),
        }
    elif type_ == "random:index/randomPassword:RandomPassword":
        state["result"] = f"mock-random-{name}-" + "x" * int(inputs.get("length", 32))
    elif type_ == "random:index/randomId:RandomId":
        state["hex"] = ("ab" * int(inputs.get("byteLength", 32)))
    elif type_ == "kubernetes:helm.sh/v3:Release":
        # The Helm release name (``name`` input) when given, as the provider reports it.
        state.setdefault(
            "status", {"namespace": inputs.get("namespace"), "name": inputs.get("name") or name}
        )
    elif type_ == "openstack:networking/floatingIp:FloatingIp":
        state.setdefault("address", "203.0.113.80")  # Neutron allocates it from the pool
    elif type_ == "gcp:serviceaccount/account:Account":
        # Google names a service account <accountId>@<project>.iam.gserviceaccount.com.
        state.setdefault(
            "email", f"{inputs.get('accountId')}@{inputs.get('project')}.iam.gserviceaccount.com"
        )
    elif type_ == "gcp:compute/address:Address":
        state.setdefault("address", "203.0.113.90")  # GCP reserves it in the region
    elif type_ == "gcp:compute/globalAddress:GlobalAddress":
        state.setdefault("address", "203.0.113.100")  # a global anycast address
    elif type_ == "gcp:cloudrunv2/service:Service":
        state.setdefault("uri", f"https://{inputs.get('name')}-mock-ew.a.run.app")
    elif type_ == "gcp:serviceaccount/account:Account":
        state.setdefault("email", f"{inputs.get('accountId')}@{inputs.get('project')}"
                                  ".iam.gserviceaccount.com")
    elif type_ == "kubernetes:core/v1:Service":
        state.setdefault("status", {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}})
    return state


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: Mapping[str, Recording] | None = None) -> None:
        self.stack_outputs = dict(stack_outputs or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = unwrap(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            return args.resource_id or args.name, self._stack_reference(inputs["name"])
        return f"{args.name}-id", _computed_state(args.typ, args.name, inputs)

    def _stack_reference(self, name: str) -> dict[str, Any]:
        """A referenced stack's outputs, as the engine reads them from its state: here, the
        outputs of that stack's own mock run (``<org>/<project>/<stack>`` -> ``<stack>``);
        none for a stack that was not run (as for a stack never deployed)."""
        recording = self.stack_outputs.get(name.rsplit("/", 1)[-1])
        if recording is None:
            return {"name": name, "outputs": {}, "secretOutputNames": []}
        secret = sorted(k for k in recording.outputs if recording.secret_output(k))
        return {"name": name, "outputs": dict(recording.outputs), "secretOutputNames": secret}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        if args.token == "gcp:organizations/getProject:getProject":  # noqa: S105 (a token name)
            # A project's number, as the provider's invoke returns it.
            return {"number": MOCK_PROJECT_NUMBER, "projectId": args.args.get("projectId")}, []
        return {}, None


def _struct(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=False) or {}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording
        self.stack_urn = ""
        self._thread = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._loops_lock = threading.Lock()

    # Event loops. The SDK's MockMonitor serialises each answer with ``_sync_await`` on the
    # worker thread that made the call, first giving that thread an event loop of its own
    # (``_ensure_event_loop`` in pulumi/runtime/mocks.py) that nothing ever closes
    # (https://github.com/pulumi/pulumi/blob/master/sdk/python/lib/pulumi/runtime/mocks.py).
    # An open loop and its self-pipe sockets form a reference cycle; left for the garbage
    # collector at interpreter shutdown, the sockets may be finalised first, and the loop's
    # own ``__del__`` then fails to unregister the closed socket: "Exception ignored in
    # BaseEventLoop.__del__ ... ValueError: Invalid file descriptor: -1" after a successful
    # run, in whatever order the collector picks. So the monitor hands each worker thread a
    # loop it owns, and :func:`run_program` closes them all once the program has finished.

    def _thread_loop(self) -> None:
        """Give this worker thread an open loop owned by this monitor (before the SDK looks)."""
        if threading.current_thread() is threading.main_thread():
            return  # the main thread runs the program's own loop (see run_program)
        if getattr(self._thread, "loop", None) is None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._thread.loop = loop
            with self._loops_lock:
                self._loops.append(loop)

    def close_loops(self) -> None:
        """Close the worker threads' loops; the workers are idle once the program is done."""
        with self._loops_lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            if not loop.is_closed():
                loop.close()

    def Invoke(self, request: Any) -> Any:
        self._thread_loop()
        return super().Invoke(request)

    def ReadResource(self, request: Any) -> Any:
        self._thread_loop()
        self.recording.reads.append((request.type, request.name, request.id))
        return super().ReadResource(request)

    def RegisterResource(self, request: Any) -> Any:
        if request.type == "pulumi:pulumi:Stack":
            # Registered twice on purpose (see run_program); never recorded.
            response = super().RegisterResource(request)
            self.stack_urn = response.urn
            return response
        self._thread_loop()
        # The real engine refuses a second resource with the same URN (type + name under the
        # same parent type chain) in the middle of `pulumi up`; the SDK's MockMonitor does
        # not, so check here with the engine's wording (pulumi/pkg/resource/deploy).
        # Registrations run on several threads at once: claim the URN with one atomic
        # dict.setdefault (a single call under the GIL) rather than test-then-add, and record
        # the winner at once, so the recording is complete whichever thread fails first.
        urn = self.make_urn(request.parent, request.type, request.name)
        claimed: dict[str, object] = self.__dict__.setdefault("_claimed_urns", {})
        marker = object()
        if claimed.setdefault(urn, marker) is not marker:
            raise AssertionError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        wire = _struct(request.object)
        timeouts = request.customTimeouts
        self.recording.resources.append(
            Registered(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                inputs=unwrap(wire),
                wire=wire,
                protect=bool(request.protect),
                dependencies=list(request.dependencies),
                property_dependencies={
                    k: list(v.urns) for k, v in request.propertyDependencies.items()
                },
                ignore_changes=list(request.ignoreChanges),
                provider=request.provider,
                delete_before_replace=bool(request.deleteBeforeReplace),
                replace_on_changes=list(request.replaceOnChanges),
                custom_timeouts={
                    k: getattr(timeouts, k)
                    for k in ("create", "update", "delete")
                    if getattr(timeouts, k)
                },
                version=request.version,
                additional_secret_outputs=list(request.additionalSecretOutputs),
            )
        )
        response = super().RegisterResource(request)
        if response.urn != urn:
            raise AssertionError(f"mock engine URN {response.urn} differs from {urn}")
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn == self.stack_urn:
            wire = _struct(request.outputs)
            self.recording.outputs_wire = wire
            self.recording.outputs = unwrap(wire)
        return super().RegisterResourceOutputs(request)


class _LogCapture:
    """Collects what the program logs through ``pulumi.log``."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        """The SDK's own chatter; not something the program said."""

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda message, *a, **k: self.recording.logs.append(f"{level}: {message}")


# --------------------------------------------------------------------------------------
# Stack files, loaded as the engine loads them
# --------------------------------------------------------------------------------------


def _test_secret(key: str) -> str:
    """A recognisable stand-in for a ``secure:`` value we cannot decrypt here."""
    return f"test-secret-for-{key.replace(':', '-')}"


def _replace_secure(value: Any, key: str) -> tuple[Any, bool]:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return _test_secret(key), True
    if isinstance(value, dict):
        found = False
        out = {}
        for k, v in value.items():
            out[k], inner = _replace_secure(v, f"{key}.{k}")
            found = found or inner
        return out, found
    if isinstance(value, list):
        items = [_replace_secure(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


@functools.cache
def project_config() -> dict[str, Any]:
    """``config:`` of Pulumi.yaml: the project-level keys, with their defaults."""
    return dict(read_stack_config(REPO / "Pulumi.yaml", error=ConfigError))


def _apply_project_config(stack: str, raw: dict[str, Any]) -> None:
    """What the CLI does with Pulumi.yaml's ``config:`` before the program runs
    (https://www.pulumi.com/docs/iac/concepts/projects/project-file/#config-options): a key a
    stack does not set gets its default; a key without a default must be set, or the CLI
    stops with "Stack '<stack>' is missing configuration value '<key>'" -- which the real
    engine showed for the federation stack, once (e2e/tests/test_lifecycle.py)."""
    given = {key if ":" in key else f"{PROJECT}:{key}" for key in raw}
    for key, spec in project_config().items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if full in given:
            continue
        if not isinstance(spec, dict) or "default" not in spec:
            raise ConfigError(f"Stack '{stack}' is missing configuration value '{key}' "
                              "(Pulumi.yaml declares it without a default)")
        raw[full] = spec["default"]


def stack_config(
    stack: str, overrides: Mapping[str, Any] | None = None, secrets: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Config of ``Pulumi.<stack>.yaml`` in the engine's wire form: ``(config, secret_keys)``.

    Structured values become JSON strings, ``secure:`` values become test secrets and their
    keys are marked secret -- as the CLI does after decrypting them. ``overrides`` replace or
    add keys (``None`` deletes one); ``secrets`` adds secret keys with the given plaintext.
    """
    path = REPO / f"Pulumi.{stack}.yaml"
    # One-line errors naming the file, line and column; aliases refused (yaml_input).
    raw: dict[str, Any] = dict(read_stack_config(path, error=ConfigError))
    for key, value in (overrides or {}).items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    _apply_project_config(stack, raw)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        value, secret = _replace_secure(value, full)
        config[full] = value if isinstance(value, str) else json.dumps(value)
        if secret:
            secret_keys.append(full)
    for key, value in (secrets or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        config[full] = value
        secret_keys.append(full)
    return config, secret_keys


# --------------------------------------------------------------------------------------
# Source positions
# --------------------------------------------------------------------------------------

# For every registration the SDK sends the stack below the resource's constructor as source
# positions (``_get_stack_trace`` in pulumi/runtime/resource.py,
# https://github.com/pulumi/pulumi/blob/master/sdk/python/lib/pulumi/runtime/resource.py):
# it extracts the whole stack through ``traceback`` (which stats every frame's file) and
# builds a ``pathlib.Path`` and its file: URI for every frame. Under pytest a program runs
# some 60 frames deep (deeper in a pytest-xdist worker), several hundred times per suite:
# measured, 10-15 % of the CPU of the tests that run whole stacks.
# Mock runs use :func:`_stack_trace` instead: the same message, read from the frames
# directly, with each file's URI made once. tests/test_mockrun.py checks that it equals the
# SDK's own on every registration of a whole-stack run. The benchmark keeps the SDK's own
# (``sdk_source_positions``): it measures what a deploy pays.


@functools.cache
def _frame_uri(filename: str) -> str | None:
    try:
        return Path(filename).as_uri()
    except ValueError:  # a relative path has no file: URI; the SDK leaves the frame empty
        return None


def _stack_trace() -> source_pb2.StackTrace:
    """``pulumi.runtime.resource._get_stack_trace()``, computed faster."""
    frames: list[tuple[str, int | None, str]] = []
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    frames.reverse()
    # As the SDK: the frames below the third __init__ from the top (Resource, Custom- or
    # ComponentResource, the concrete class), innermost first.
    seen, i = 0, len(frames) - 1
    while i >= 0:
        if frames[i][2] == "__init__":
            seen += 1
            if seen == 3:
                break
        i -= 1
    if i < 1:
        return source_pb2.StackTrace()
    out = []
    for filename, lineno, _ in reversed(frames[:i]):
        uri = _frame_uri(filename) if filename != "" else None
        if uri is None or lineno is None:
            out.append(source_pb2.StackFrame())
        else:
            out.append(source_pb2.StackFrame(pc=source_pb2.SourcePosition(uri=uri, line=lineno)))
    return source_pb2.StackTrace(frames=out)


@contextmanager
def _fast_stack_traces() -> Iterator[None]:
    saved = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = _stack_trace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = saved


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def run_program(
    program: Callable[[], Any] | None = None,
    *,
    stack: str = "test",
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    preview: bool = False,
    recording: Recording | None = None,
    sdk_source_positions: bool = False,
    stack_outputs: Mapping[str, Recording] | None = None,
) -> Recording:
    """Run ``program`` (default: the repo's ``__main__.py``) on the mock engine.

    Exceptions raised by the program (e.g. a ``ConfigError``) propagate to the caller; pass
    your own ``recording`` to see what was registered before the failure.
    ``sdk_source_positions`` keeps the SDK's own (slower) source positions, as a deploy
    computes them: tools/bench.py measures with them. ``stack_outputs``: the runs whose
    outputs a ``pulumi.StackReference`` to that stack reads.
    """
    recording = recording if recording is not None else Recording()
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
    mocks = _Mocks(stack_outputs)
    monitor = _RecordingMonitor(mocks, recording)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor,
        logger=_LogCapture(recording),  # type: ignore[arg-type]
    )
    # set_mocks made a root stack for component tests; a program run gets a fresh one,
    # as the Python language host gives it.
    settings.ROOT.set(None)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()

    def main() -> None:
        if program is not None:
            program()
            return
        cwd = os.getcwd()
        os.chdir(REPO)  # the CLI runs the program from the project directory
        sys.path.insert(0, str(REPO))
        try:
            runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        finally:
            os.chdir(cwd)
            sys.path.remove(str(REPO))

    _PROGRAM_LOOPS.add(_ensure_event_loop())
    try:
        with nullcontext() if sdk_source_positions else _fast_stack_traces():
            _sync_await(run_in_stack(main))
    finally:
        monitor.close_loops()
    return recording


#: The loops :func:`run_program` ran programs on (the calling thread's, as ``_sync_await``
#: finds or makes it). They stay open for the next run in the same process (the tests) and
#: are closed at exit, for the reason given in :class:`_RecordingMonitor`.
_PROGRAM_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


@atexit.register
def _close_program_loops() -> None:
    """Runs before the interpreter tears modules down and collects the last cycles."""
    for loop in list(_PROGRAM_LOOPS):
        if not loop.is_running() and not loop.is_closed():
            loop.close()


def run_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    preview: bool = False,
    recording: Recording | None = None,
    sdk_source_positions: bool = False,
    stack_outputs: Mapping[str, Recording] | None = None,
) -> Recording:
    """Run the whole program for a committed stack file.

    A federation stack reads its member stacks' outputs (``pulumi.StackReference``): unless
    ``stack_outputs`` gives them, each member stack of this project is run first, from its
    own committed file."""
    config, secret_keys = stack_config(stack, overrides, secrets)
    if stack_outputs is None:
        stack_outputs = {name: run_stack(name, sdk_source_positions=sdk_source_positions)
                         for name in referenced_stacks(config)}
    return run_program(
        stack=stack, config=config, secret_keys=secret_keys, preview=preview,
        recording=recording, sdk_source_positions=sdk_source_positions,
        stack_outputs=stack_outputs,
    )


def referenced_stacks(config: Mapping[str, str]) -> list[str]:
    """The committed stacks a federation stack's members name (``stack: ebi``, or its last
    part ``<org>/binder/ebi``), that have a ``Pulumi.<stack>.yaml`` here."""
    raw = config.get(f"{PROJECT}:federation")
    try:
        members = json.loads(raw).get("members") or [] if raw else []
    except (ValueError, AttributeError):
        return []  # the program's own validation says what is wrong
    names = [m["stack"].rsplit("/", 1)[-1] for m in members
             if isinstance(m, dict) and isinstance(m.get("stack"), str)]
    return [n for n in dict.fromkeys(names) if (REPO / f"Pulumi.{n}.yaml").is_file()]


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: Pulumi.<stack>.yaml must exist")
    parser.add_argument(
        "--modules", action="store_true", help="also list the provider SDKs that were imported"
    )
    args = parser.parse_args()
    try:
        recording = run_stack(args.stack)
    except pulumi.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    by_type: dict[str, int] = {}
    for r in recording.resources:
        by_type[r.type] = by_type.get(r.type, 0) + 1
    for type_, count in sorted(by_type.items()):
        print(f"{count:4d}  {type_}")
    outputs = ", ".join(sorted(recording.outputs))
    print(f"{len(recording.resources):4d}  resources; outputs: {outputs}")
    if args.modules:
        sdks = sorted(m for m in sys.modules if m.startswith("pulumi_") and "." not in m)
        print("imported SDKs:", ", ".join(sdks))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
