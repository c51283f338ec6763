"""tools/mockrun.py: the leak detector the secrets tests rely on.

``plaintext_leaks`` must find a secret wherever Kubernetes or a chart could put it: as is,
base64-encoded on its own, inside a larger base64 blob (a Secret's ``data`` holding a
dockerconfigjson or a kubeconfig) at any byte offset, and base64 inside base64 (the
dockerconfigjson ``auth`` field).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tools.mockrun import SECRET_SIG, SIG_KEY, plaintext_leaks

NEEDLE = "fx-mockrun-secret-3c9e"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret(value: object) -> dict[str, object]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def test_plain_and_whole_base64_are_found() -> None:
    value = {"a": {"b": [f"x{NEEDLE}y"]}, "c": _b64(NEEDLE)}
    assert sorted(plaintext_leaks(value, [NEEDLE])) == [".a.b[0]", ".c"]


@pytest.mark.parametrize("offset", range(6))
@pytest.mark.parametrize("after", ["", "z", "zz", "tail-bytes"])
def test_base64_blob_at_every_alignment(offset: int, after: str) -> None:
    """A needle at byte offset 0, 1, 2 (mod 3) of a blob encodes to three different texts."""
    blob = "p" * offset + NEEDLE + after
    assert NEEDLE not in _b64(blob)
    assert list(plaintext_leaks({"data": {"blob": _b64(blob)}}, [NEEDLE])) == [".data.blob"]


@pytest.mark.parametrize("offset", range(3))
def test_base64_blob_inside_text(offset: int) -> None:
    # A base64 blob embedded in a larger text, e.g. a kubeconfig's client-key-data.
    text = f"client-key-data: {_b64('k' * offset + NEEDLE + 'end')}\n"
    assert list(plaintext_leaks(text, [NEEDLE])) == ["<value>"]


@pytest.mark.parametrize("offset", range(3))
def test_base64url_blob(offset: int) -> None:
    needle = "fx>>>???secret"  # bytes whose base64 holds '+' and '/'
    blob = ("q" * offset + needle + "!").encode()
    encoded = base64.urlsafe_b64encode(blob).decode()
    assert encoded != base64.b64encode(blob).decode()  # the two alphabets differ here
    assert list(plaintext_leaks(encoded, [needle])) == ["<value>"]


def test_dockerconfigjson_auth_is_found() -> None:
    """`.dockerconfigjson` = base64 of JSON whose `auth` is base64 of `user:password`."""
    config = {"auths": {"registry.example.org": {"auth": _b64(f"robot:{NEEDLE}")}}}
    data = {".dockerconfigjson": _b64(json.dumps(config))}
    assert list(plaintext_leaks({"data": data}, [NEEDLE])) == [".data..dockerconfigjson"]


def test_kubeconfig_secret_is_found() -> None:
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: deployer\n  user:\n"
        f"    token: {NEEDLE}\n"
    )
    for offset in range(3):
        value = {"data": {"config": _b64("#" * offset + kubeconfig)}}
        assert list(plaintext_leaks(value, [NEEDLE])) == [".data.config"], offset


def test_secrets_are_not_leaks() -> None:
    wrapped = {
        "data": _secret({"blob": _b64("pp" + NEEDLE)}),
        "stringData": {"token": _secret(NEEDLE)},
    }
    assert list(plaintext_leaks(wrapped, [NEEDLE])) == []


def test_other_values_are_not_leaks() -> None:
    # Base64 of other text, and text that shares only a prefix with the needle.
    value = {
        "a": _b64("an unrelated value of some length"),
        "b": "fx-mockrun-secret",
        "c": _b64("fx-mockrun-secret-0000"),
        "d": "YWJj",  # base64 of "abc"
    }
    assert list(plaintext_leaks(value, [NEEDLE])) == []


def test_mock_runs_send_the_sdks_own_source_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    """tools/mockrun.py computes each registration's stack trace itself (faster); on every
    registration of a whole-stack run it must equal what the SDK's function returns."""
    from pulumi.runtime import resource as sdk_resource

    from tools import mockrun

    sdk, fast = sdk_resource._get_stack_trace, mockrun._stack_trace
    traces: list[Any] = []

    differ: list[tuple[Any, Any]] = []

    def both() -> Any:
        # (Compared after the run: an exception inside a registration leaves the SDK
        # waiting for that resource.)
        ours, theirs = fast(), sdk()
        if ours != theirs:
            differ.append((ours, theirs))
        traces.append(theirs)
        return theirs

    monkeypatch.setattr(mockrun, "_stack_trace", both)
    rec = mockrun.run_stack("ebi")
    assert differ == []
    assert len(traces) >= len(rec.resources) > 50
    # Each names the program's files with their lines: __main__.py for the top components.
    uris = {frame.pc.uri.rsplit("/", 1)[-1] for trace in traces for frame in trace.frames}
    assert {"__main__.py", "bootstrap.py", "releases.py"} <= uris
    assert all(frame.pc.line > 0 for t in traces for frame in t.frames if frame.pc.uri)
    assert sdk_resource._get_stack_trace is sdk  # the SDK's own is back after the run
