"""Config errors in our own words: a catalogue of bad inputs, every message checked for
pydantic's phrasing and for placeholders (issue 13, item 2)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_config
from tests.components.config.test_stack import _DELETE, BAD_INPUTS, with_change
from tests.hostile import assert_in_our_words
from tools.mockrun import Recording, run_stack

#: (stack, dotted path, value, the key the message must name, words it must contain).
CATALOGUE: list[tuple[str, str, Any, str, str]] = [
    ("gcp", "cluster.kubernetesVersion", 1.3, "binder:cluster.kubernetesVersion",
     'put the value in quotes, e.g. kubernetesVersion: "1.30"'),
    ("gcp", "cluster.kubernetesVersion", 1, "binder:cluster.kubernetesVersion",
     "YAML read an unquoted number"),
    ("gcp", "cluster.name", True, "binder:cluster.name", "YAML reads an unquoted true"),
    ("gcp", "cluster.provider", "aws", "binder:cluster.provider",
     "'aws' is not a provider this program knows; use one of 'magnum', 'gke', 'existing'"),
    ("gcp", "cluster.provider", _DELETE, "binder:cluster",
     "has no `provider`; add `provider: magnum`, `gke` or `existing`"),
    ("gcp", "cluster", 5, "binder:cluster", "must be a mapping (indented `key: value` lines)"),
    ("gcp", "users", {"name": "x"}, "binder:users", "must be a list (lines starting with '- ')"),
    ("gcp", "cluster.corePool", _DELETE, "binder:cluster.corePool",
     "missing; add it to Pulumi.gcp.yaml"),
    ("gcp", "cluster.corePool.autoscaling.minNodes", "two",
     "binder:cluster.corePool.autoscaling.minNodes", "must be a whole number"),
    ("gcp", "cluster.corePool.autoscaling.minNodes", 1.5,
     "binder:cluster.corePool.autoscaling.minNodes", "must be a whole number"),
    ("gcp", "cluster.protect", "perhaps", "binder:cluster.protect", "must be true or false"),
    ("gcp", "cluster.name", "Binder_GCP", "binder:cluster.name", "must be a DNS label"),
    ("gcp", "cluster.name", "x" * 64, "binder:cluster.name", "must be at most 63 characters"),
    ("gcp", "monitoring.retention", "15 days", "binder:monitoring.retention",
     "must be a duration such as '15d'"),
    ("gcp", "binderhub.imageBuilderType", "docker", "binder:binderhub.imageBuilderType",
     "must be one of 'dind', 'pink' or 'host'"),
    ("gcp", "logging", {"output": {"type": "elasticsearch", "host": "es.example.org",
                                   "port": 70000}},
     "binder:logging.output.port", "must be at most 65535"),
    ("gcp", "logging", {"output": {"type": "elasticsearch", "host": "es.example.org",
                                   "indexPrefix": "-x"}},
     "binder:logging.output.indexPrefix", "must start with a lowercase letter or digit"),
    ("gcp", "logging.events", {"indexPrefix": "Launches"},
     "binder:logging.events.indexPrefix", "must start with a lowercase letter or digit"),
    ("gcp", "logging.events", {"enable": False}, "binder:logging.events.enable",
     "unknown key; remove it or fix"),
    # Cost (issue 23): Google Cloud labels and the billing budget.
    ("gcp", "cluster.resourceLabels", {"Cost-Centre": "x"}, "binder:cluster.resourceLabels",
     "label key 'Cost-Centre' must start with a lowercase letter"),
    ("gcp", "cluster.resourceLabels", {"team": "Bio Excel"}, "binder:cluster.resourceLabels",
     "the value of label 'team' must have at most 63 lowercase letters"),
    ("gcp", "cluster.resourceLabels", {"binder-stack": "x"}, "binder:cluster.resourceLabels",
     "label 'binder-stack' is set by the program; remove it"),
    ("gcp", "cluster.budget", {"billingAccount": "0123", "amount": 5},
     "binder:cluster.budget.billingAccount", "must be a billing account ID such as"),
    ("gcp", "cluster.budget", {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": "500 EUR"},
     "binder:cluster.budget.amount", "must be a number, e.g. 1500 or 1500.50, without the"),
    ("gcp", "cluster.budget", {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": 5.001},
     "binder:cluster.budget.amount", "must have at most two decimals"),
    ("gcp", "cluster.budget", {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": 5,
                               "currency": "euro"},
     "binder:cluster.budget.currency", "must be an ISO 4217 code in capitals"),
    ("gcp", "cluster.budget", {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": 5,
                               "thresholds": [50, 90]},
     "binder:cluster.budget.thresholds", "each threshold is a fraction of the amount"),
    ("gcp", "cluster.budget", {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": 5,
                               "notifyBillingAdmins": False},
     "binder:cluster.budget", "no one would be alerted; add a channel"),
    ("gcp", "cluster.budget", {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": 5,
                               "notificationChannels": ["ops@example.org"]},
     "binder:cluster.budget.notificationChannels", "is not a Cloud Monitoring channel"),
    ("gcp", "users[0].name", "", "binder:users[0].name", "must not be empty"),
    ("gcp", "cluster.corePool.autoscaling.minNodes", -1,
     "binder:cluster.corePool.autoscaling.minNodes", "must be at least 0"),
    ("gcp", "clustr", {"provider": "gke"}, "binder:clustr", "unknown key; remove it or fix"),
    # Issue 20: "did you mean" at every level, and where a misplaced key belongs.
    ("gcp", "clustr", {"provider": "gke"}, "binder:clustr", "did you mean `cluster`?"),
    ("gcp", "binderhub.hosst", "binder.example.org", "binder:binderhub.hosst",
     "did you mean `host`?"),
    ("gcp", "cluster.corePool.machinetype", "e2", "binder:cluster.corePool.machinetype",
     "did you mean `machineType`?"),
    ("gcp", "auth", {"type": "github"}, "binder:auth", "`auth` belongs at binder:binderhub.auth"),
    # Host names: RFC 1123 DNS names, lowercase, without scheme, port or path (issue 12).
    ("gcp", "binderhub.host", "binder ebi!", "binder:binderhub.host", "is not a DNS label"),
    ("gcp", "binderhub.hubHost", "https://hub.example.org", "binder:binderhub.hubHost",
     "without the scheme 'https://'"),
    ("gcp", "binderhub.host", "binder.example.org:8443", "binder:binderhub.host",
     "without a port"),
    ("gcp", "binderhub.host", "Binder.Example.org", "binder:binderhub.host",
     "must be lowercase: write 'binder.example.org'"),
    ("gcp", "binderhub.host", "10.0.0.7", "binder:binderhub.host", "not an IP address"),
    ("gcp", "binderhub.host", "binder.example.org.", "binder:binderhub.host",
     "must not end with a '.'"),
    ("gcp", "monitoring.grafanaHost", "binder.example.org/grafana",
     "binder:monitoring.grafanaHost", "without a path"),
    ("gcp", "logging", {"output": {"type": "elasticsearch", "host": "https://es.example.org"}},
     "binder:logging.output.host", "without the scheme 'https://'"),
    ("gcp", "logging", {"output": {"type": "elasticsearch", "host": "es.example.org:9200"}},
     "binder:logging.output.host", "set it in `port`"),
    # An image prefix Docker would refuse fails at push time, after a whole build (issue 20).
    ("ebi", "registry.prefix", "Bioexcel/binder-ebi-", "binder:registry.prefix",
     "has upper case letters outside a registry host"),
    ("ebi", "registry.prefix", "bioexcel/bïnder-", "binder:registry.prefix",
     "holds 'ï', which image names may not"),
    ("ebi", "registry.prefix", "bioexcel/-binder", "binder:registry.prefix",
     "puts separators (. _ -) at the start of a part"),
    # dind is privileged: its data directory is a path on the node (issue 20, item 8).
    ("gcp", "binderhub.builder.dataDir", "/../../etc", "binder:binderhub.builder.dataDir",
     "without '.', '..', '//' or a trailing '/' (it means /etc)"),
    ("gcp", "binderhub.builder.dataDir", "/mnt/dind/", "binder:binderhub.builder.dataDir",
     "(it means /mnt/dind)"),
    ("gcp", "binderhub.builder.dataDir", "/etc/dind", "binder:binderhub.builder.dataDir",
     "is in the node's own /etc"),
    ("gcp", "binderhub.builder.dataDir", "/var/lib/kubelet", "binder:binderhub.builder.dataDir",
     "is in the node's own /var/lib/kubelet"),
]


def _message(stack: str, path: str, value: Any, named_stack: str | None) -> str:
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        parse_config(with_change(stack, path, value), named_stack)
    assert time.perf_counter() - started < 2
    return str(info.value)


@pytest.mark.parametrize(
    ("stack", "path", "value", "key", "words"),
    CATALOGUE,
    ids=[f"{c[1]}={c[2]!r}"[:60] for c in CATALOGUE],
)
def test_each_bad_input_names_the_key_in_our_words(
    stack: str, path: str, value: Any, key: str, words: str
) -> None:
    message = _message(stack, path, value, stack)
    assert re.search(rf"^  {re.escape(key)}: ", message, re.MULTILINE), message
    assert words in message, message
    assert_in_our_words(message)
    assert f"Pulumi.{stack}.yaml" in message  # the stack's real file


@pytest.mark.parametrize(("stack", "path", "value", "expected"), BAD_INPUTS)
def test_the_config_tests_messages_are_in_our_words(
    stack: str, path: str, value: Any, expected: list[str]
) -> None:
    """Every message of tests/components/config/test_stack.py's catalogue, checked too."""
    assert_in_our_words(_message(stack, path, value, stack))


def test_the_check_itself_catches_pydantic_phrasing() -> None:
    for phrase in (
        "binder:x: Input should be a valid string",
        "binder:cluster: Input tag 'aws' found using 'provider'",
        "binder:cluster: Field required",
        "add it to Pulumi.<stack>.yaml",
    ):
        with pytest.raises(AssertionError):
            assert_in_our_words(phrase)


def test_a_message_never_echoes_the_wrong_value() -> None:
    leaked = "hunter2-typed-in-the-wrong-place"
    message = _message("gcp", "cluster.protect", leaked, "gcp")
    assert leaked not in message


# ---- whole program: the stack's real name, and keys under a namespace like ours --------


@pytest.mark.parametrize("namespace", ["bindr", "Binder", "BINDER", "binderr", "bnder"])
def test_a_key_under_a_namespace_like_ours_is_named(namespace: str) -> None:
    recording = Recording()
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        run_stack(
            "gcp",
            overrides={"binder:tls": None, f"{namespace}:tls": {"source": "none"}},
            recording=recording,
        )
    assert time.perf_counter() - started < 5  # the whole mock engine; the check is instant
    message = str(info.value)
    assert f"{namespace}:tls: unknown namespace `{namespace}:`" in message
    assert "did you mean `binder:`, as in `binder:tls`?" in message
    assert "Pulumi.gcp.yaml" in message
    assert recording.resources == []
    assert_in_our_words(message)


def test_provider_namespaces_are_not_mistaken_for_ours() -> None:
    """openstack:, gcp:, kubernetes: keys are the providers' own: never flagged."""
    recording = run_stack("gcp", overrides={"kubernetes:context": "x", "random:x": "y"})
    assert recording.resources


def test_a_missing_key_names_the_real_stack_file() -> None:
    recording = Recording()
    with pytest.raises(ConfigError) as info:
        run_stack("ebi", overrides={"binder:cluster": None}, recording=recording)
    assert "binder:cluster: missing; add it to Pulumi.ebi.yaml" in str(info.value)
    assert_in_our_words(str(info.value))
