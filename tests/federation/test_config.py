"""The configuration document: a malformed or empty member list is refused at start, with
one message per problem naming where it is and how to fix it, and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from federation.config import FederationConfigError, load_config, parse_config, render
from tests.conftest import REPO
from tests.stack_runs import recorded_stack

PRIME = {"name": "ebi", "url": "https://ebi.example.org/", "prime": True}
GCP = {"name": "gcp", "url": "https://gcp.example.org", "weight": 2}


def _refused(raw: Any) -> str:
    with pytest.raises(FederationConfigError) as refused:
        parse_config(raw, "config.json")
    return str(refused.value)


def test_a_good_document_and_its_defaults() -> None:
    config = parse_config({"members": [PRIME, GCP]})
    assert config.prime.name == "ebi"
    assert config.prime.url == "https://ebi.example.org"  # no trailing '/'
    assert config.choice == "rendezvous"
    assert (config.checks.period_seconds, config.checks.recheck_seconds,
            config.checks.timeout_seconds, config.checks.pod_headroom) == (15, 5, 5, 10)
    assert config.cookie.max_age_hours == 4
    # What render writes, parse reads back unchanged.
    assert parse_config(json.loads(render(config))) == config


@pytest.mark.parametrize(("raw", "message"), [
    (None, "config.json: the document is empty; it must be a mapping with a 'members' list"),
    ([], "the document is a list"),
    ({}, "members: is required"),
    ({"members": []}, "members is empty; list at least one member"),
    ({"members": [PRIME, None]}, "members[1] is empty (null); remove the entry"),
    ({"members": [GCP]}, "exactly one member must be the prime (prime: true); found none"),
    ({"members": [PRIME, {**GCP, "prime": True}]}, "found 2: ebi, gcp"),
    ({"members": [PRIME, {**GCP, "name": "ebi"}]}, "given more than once: ebi"),
    ({"members": [PRIME, {**GCP, "url": "https://ebi.example.org"}]},
     "member urls must differ; given more than once: https://ebi.example.org"),
    ({"members": [{**PRIME, "enabled": False}]}, "the prime serves the front door's pages"),
    ({"members": [PRIME, {**GCP, "url": "gcp.example.org"}]},
     "members[1].url: must be an http(s) URL"),
    ({"members": [PRIME, {**GCP, "weight": -1}]}, "members[1].weight: Input should be"),
    ({"members": [PRIME, {**GCP, "name": "GCP site"}]}, "members[1].name:"),
    ({"members": [PRIME, {**GCP, "wieght": 1}]},
     "members[1].wieght: unknown key (remove it or fix its spelling)"),
    ({"members": [PRIME], "choice": "roundrobin"}, "choice: Input should be 'rendezvous'"),
    ({"members": [PRIME], "checks": {"periodSeconds": 10, "recheckSeconds": 30}},
     "recheckSeconds (30) is longer than periodSeconds (10)"),
])
def test_malformed_documents_are_refused_with_one_clear_line(raw: Any, message: str) -> None:
    text = _refused(raw)
    assert message in text
    assert "Traceback" not in text
    assert "pydantic" not in text


def test_the_service_refuses_to_start_on_a_bad_document(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"members": [PRIME, None]}))
    out = subprocess.run([sys.executable, "-m", "federation", "--config", str(bad)],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {bad} is not a valid federation configuration:\n")
    assert "members[1] is empty (null)" in out.stderr
    assert "Traceback" not in out.stderr
    missing = subprocess.run([sys.executable, "-m", "federation", "--config",
                              str(tmp_path / "nope.json")], cwd=REPO, capture_output=True,
                             text=True, timeout=60, check=False)
    assert missing.returncode == 2
    assert "cannot be read" in missing.stderr
    good = tmp_path / "config.yaml"
    good.write_text("members:\n  - {name: ebi, url: 'https://ebi.example.org', prime: true}\n")
    ok = subprocess.run([sys.executable, "-m", "federation", "--config", str(good),
                         "--check-config"], cwd=REPO, capture_output=True, text=True,
                        timeout=60, check=True)
    assert "1 members: ebi (prime); choice rendezvous" in ok.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("members: [\n")
    with pytest.raises(FederationConfigError, match="not valid yaml"):
        load_config(broken)


def _check_inline(document: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEDERATION_CONFIG_JSON": document}
    return subprocess.run([sys.executable, "-m", "federation", "--check-config"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_document_inline_as_cloud_run_gives_it() -> None:
    """Cloud Run passes the document in $FEDERATION_CONFIG_JSON (components/federation/
    cloud_run.py): the same checks, the same one-line refusals, no file read."""
    # The very document the federation stack renders is accepted.
    rendered = recorded_stack("federation").outputs["redirector_config"]
    ok = _check_inline(rendered)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == ("$FEDERATION_CONFIG_JSON: 2 members: gcp (prime), ebi; "
                         "choice rendezvous\n")
    for document, message in [
        ("", "$FEDERATION_CONFIG_JSON: not valid JSON"),
        ("{", "$FEDERATION_CONFIG_JSON: not valid JSON"),
        (json.dumps({"members": [PRIME, None]}), "members[1] is empty (null)"),
        (json.dumps({"members": []}), "$FEDERATION_CONFIG_JSON is not a valid federation"),
    ]:
        out = _check_inline(document)
        assert out.returncode == 2, document
        assert message in out.stderr, (document, out.stderr)
        assert "Traceback" not in out.stderr
