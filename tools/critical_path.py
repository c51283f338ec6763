"""The critical path of a deploy: custom resources in sequence from the cluster to BinderHub.

Read from what the program really registers (:mod:`tools.mockrun`), not from the code: a
resource waits for every resource in its ``dependencies`` and property dependencies, for its
provider, and -- when it depends on a component -- for every custom resource inside that
component (that is what Pulumi does with ``depends_on=[component]``). The critical path is the
longest such chain of *custom* resources that ends at the BinderHub Helm release; the engine
can run everything else beside it. Each link costs a cloud round trip or a Helm install, so the
length is what a first ``pulumi up`` waits for in sequence. Usage::

    python -m tools.critical_path ebi      # the chain, one resource per line
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from collections.abc import Iterable

from components.secrets.stored_files import TEST_RUN_ENV
from tools.bench import _local_kubeconfig
from tools.mockrun import REPO, Recording, Registered, run_stack

RELEASE = "kubernetes:helm.sh/v3:Release"


def _custom_within(rec: Recording, urn: str) -> set[str]:
    """The custom resources a dependency on ``urn`` stands for."""
    res = rec.by_urn(urn)
    if res.custom:
        return {urn}
    found: set[str] = set()
    for child in rec.resources:
        if child.parent == urn:
            found |= _custom_within(rec, child.urn)
    return found


def waits_for(rec: Recording, res: Registered) -> set[str]:
    """URNs of the custom resources ``res`` waits for before it is created."""
    direct: set[str] = set(res.dependencies)
    for urns in res.property_dependencies.values():
        direct |= set(urns)
    if res.provider:
        # A provider reference is "<urn>::<id>"; the provider itself is a custom resource.
        direct.add(res.provider.rsplit("::", 1)[0])
    known = {r.urn for r in rec.resources}
    waits: set[str] = set()
    for urn in direct:
        if urn in known:
            waits |= _custom_within(rec, urn)
    waits.discard(res.urn)
    return waits


def longest_chain(rec: Recording, end: Registered) -> list[Registered]:
    """The longest chain of custom resources ending at ``end``, first to last."""

    @functools.cache
    def chain(urn: str) -> tuple[str, ...]:
        res = rec.by_urn(urn)
        best: tuple[str, ...] = ()
        for dep in sorted(waits_for(rec, res)):
            candidate = chain(dep)
            if len(candidate) > len(best):
                best = candidate
        return (*best, urn)

    return [rec.by_urn(urn) for urn in chain(end.urn)]


def binderhub_release(rec: Recording) -> Registered:
    releases = [r for r in rec.of_type(RELEASE) if r.inputs.get("name") == "binderhub"]
    if len(releases) != 1:
        raise SystemExit(f"expected one BinderHub release, found {len(releases)}")
    return releases[0]


def critical_path(stack: str) -> list[Registered]:
    rec = run_stack(stack)
    return longest_chain(rec, binderhub_release(rec))


def describe(path: Iterable[Registered]) -> list[str]:
    return [f"{r.type} {r.name}" for r in path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", default=["ebi", "gcp", "local"])
    args = parser.parse_args(argv)
    # As the tests: the example stacks' TEST-ONLY key (allowed for them only through
    # BINDER_TEST_RUN), and a throwaway kubeconfig for `local`.
    os.environ.setdefault("SOPS_AGE_KEY_FILE", str(REPO / "tests/keys/TEST-ONLY-age-key.txt"))
    os.environ.setdefault(TEST_RUN_ENV, "1")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KUBECONFIG"] = _local_kubeconfig(tmp)
        for stack in args.stacks:
            path = critical_path(stack)
            print(f"{stack}: {len(path)} custom resources in sequence")
            for i, line in enumerate(describe(path), 1):
                print(f"  {i:2}. {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
