"""Switch a stack from Let's Encrypt's staging issuer to production, once its names resolve.

New stacks start on ``binder:tls.issuer: staging``: until every public name resolves to the
ingress, HTTP-01 validations fail, and failed validations count against production's rate
limits (https://letsencrypt.org/docs/rate-limits/). This checks that each name in the stack
output ``public_hosts`` resolves to ``public_address``, then sets the issuer to production
with ``pulumi config set --path``; the next ``make up`` asks for real certificates. Usage::

    python -m tools.tls_production ebi          # via `make tls-production STACK=ebi`
    python -m tools.tls_production ebi --force  # skip the DNS check
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from tools.smoke import REPO, pulumi_outputs

Resolver = Callable[[str], set[str]]


def resolve(host: str) -> set[str]:
    """Every IPv4/IPv6 address ``host`` resolves to (empty if it does not)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


def unresolved(hosts: Sequence[str], address: str, resolver: Resolver = resolve) -> list[str]:
    """Lines naming each host that does not resolve to ``address``.

    A hostname ``address`` (a load balancer known by name) is resolved too."""
    try:
        ipaddress.ip_address(address)
        expected = {address}
    except ValueError:
        expected = resolver(address)
    problems = []
    for host in hosts:
        got = resolver(host)
        if not got:
            problems.append(f"{host} does not resolve (create its A record: {address})")
        elif not got & expected:
            problems.append(f"{host} resolves to {', '.join(sorted(got))}, not {address}")
    return problems


def set_production(stack: str) -> int:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        print("error: the Pulumi CLI is not installed", file=sys.stderr)
        return 2
    return subprocess.run(
        [pulumi, "config", "set", "--path", "binder:tls.issuer", "production", "--stack", stack],
        cwd=REPO, check=False,
    ).returncode


def main(
    argv: list[str] | None = None,
    *,
    outputs: Callable[[str], tuple[dict, str | None]] = pulumi_outputs,
    resolver: Resolver = resolve,
    setter: Callable[[str], int] = set_production,
    out: TextIO = sys.stdout,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--force", action="store_true", help="skip the DNS check")
    args = parser.parse_args(argv)
    if not args.force:
        data, why = outputs(args.stack)
        hosts, address = data.get("public_hosts"), data.get("public_address")
        if why or not hosts or not address:
            why = why or "the stack has no public_hosts/public_address outputs (make up first)"
            print(f"error: cannot check DNS: {why}; rerun with --force to switch anyway", file=out)
            return 2
        problems = unresolved(list(hosts), str(address), resolver)
        if problems:
            print("Not switching: not every name resolves to the ingress yet.", file=out)
            for line in problems:
                print(f"  {line}", file=out)
            return 1
        print(f"Every name resolves to {address}.", file=out)
    code = setter(args.stack)
    if code == 0:
        print(
            f"binder:tls.issuer is now production for {args.stack}: run make up STACK="
            f"{args.stack}, then make smoke STACK={args.stack}",
            file=out,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
