"""e2e/engine.py: the real engine's failures said once, in our words (no engine needed)."""

from __future__ import annotations

from e2e.engine import STACK_TYPE, Failures, in_our_words

UNREACHABLE = (
    'configured Kubernetes cluster is unreachable: unable to load schema information from the '
    'API server: Get "https://127.0.0.1:9/openapi/v2?timeout=32s": dial tcp 127.0.0.1:9: '
    "connect: connection refused"
)
HELM = (
    '1 error occurred: * Helm release "monitoring/grafana" was created, but failed to '
    "initialize completely. Use Helm CLI to investigate: failed to become available within "
    "allocated timeout. Error: Helm Release monitoring/grafana: 1 error occurred: * Deployment "
    'in version "v1" cannot be handled as a Deployment: quantities must match the regular '
    "expression"
)
FORBIDDEN = (
    '1 error occurred: * the Kubernetes API server reported that "binder:deployer:deployer" '
    'failed to fully initialize or become live: clusterroles.rbac.authorization.k8s.io '
    '"binder:deployer:deployer" is forbidden: User "system:serviceaccount:deployer:deployer" '
    'cannot patch resource "clusterroles" in API group "rbac.authorization.k8s.io"'
)


def test_an_unreachable_api_server_is_named_with_what_to_do() -> None:
    assert in_our_words(UNREACHABLE) == (
        "the Kubernetes API server at 127.0.0.1:9 cannot be reached (connection refused); "
        "start the cluster, or fix the server of the kubeconfig that binder:cluster names"
    )


def test_a_refused_release_keeps_the_servers_words() -> None:
    words = in_our_words(HELM)
    assert words.startswith("Helm release monitoring/grafana was installed, but the API server "
                            'refused part of it: Deployment in version "v1" cannot be handled')
    assert words.endswith("run up again (the next up upgrades it; destroy removes it)")


def test_a_refusal_by_rbac_says_who_and_what_is_needed() -> None:
    words = in_our_words(FORBIDDEN)
    assert words.startswith("the API server refused it to system:serviceaccount:deployer:"
                            "deployer (RBAC): clusterroles")
    assert "failed to fully initialize" not in words
    assert words.endswith("needs the cluster's admin credentials (docs/access.md)")


def test_one_problem_of_many_resources_is_one_line() -> None:
    failures = Failures()
    for name in ("a", "b", "c", "d", "e", "f"):
        failures.by_resource[f"{name} (kubernetes:core/v1:Namespace)"] = [UNREACHABLE]
    (line,) = failures.lines()
    assert line.startswith("6 resources (a, b, c, d and 2 more): the Kubernetes API server")


def test_the_programs_error_said_twice_is_said_once_without_the_stack() -> None:
    """The SDK logs a program's error and the engine its failure ("an unhandled error
    occurred", though the program handled it): one message, as the plan wrote it."""
    failures = Failures()
    message = "binder:cluster.kubeconfigPath names $X, which is not set in the environment"
    failures.by_resource[f"binder-e2e ({STACK_TYPE})"] = [
        message, f"an unhandled error occurred: {message}"]
    failures.general = ["update failed"]
    assert failures.lines() == [message]


def test_the_sdks_shutdown_note_after_a_failure_is_no_second_problem() -> None:
    """A program still registering when the engine stops after the first failure gets the
    SDK's "Resource monitor has terminated" (a loaded machine made make e2e see it)."""
    failures = Failures()
    failures.by_resource["releases-monitoring-grafana (kubernetes:helm.sh/v3:Release)"] = [HELM]
    failures.general = ["Resource monitor has terminated, shutting down", "update failed"]
    (line,) = failures.lines()
    assert line.startswith("releases-monitoring-grafana (kubernetes:helm.sh/v3:Release): Helm")
