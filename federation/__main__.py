"""``python -m federation``: the redirector, until SIGTERM/SIGINT.

The configuration is read and checked before anything listens: a malformed one ends the
process with status 2 and one message on stderr (no traceback). Cloud Run gives the port in
``$PORT`` and the document itself in ``$FEDERATION_CONFIG_JSON``; elsewhere it is a file
(``--config``, or ``$FEDERATION_CONFIG``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

DEFAULT_CONFIG = "/etc/federation/config.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m federation", description=__doc__)
    parser.add_argument("--config", type=Path,
                        default=Path(os.environ.get("FEDERATION_CONFIG", DEFAULT_CONFIG)),
                        help="the JSON/YAML document the federation stack renders")
    parser.add_argument("--host", default="0.0.0.0",  # noqa: S104 (a container's listener)
                        help="address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--check-config", action="store_true",
                        help="only read and check the configuration")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    from federation.config import FederationConfigError, load_config, load_config_text

    # Set (even empty) means the document is inline: an empty one is refused, not replaced by
    # a file the operator did not mean.
    inline = os.environ.get("FEDERATION_CONFIG_JSON")
    source = "$FEDERATION_CONFIG_JSON" if inline is not None else str(args.config)
    try:
        config = (load_config_text(inline, source) if inline is not None
                  else load_config(args.config))
    except FederationConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        names = ", ".join(f"{m.name}{' (prime)' if m.prime else ''}" for m in config.members)
        print(f"{source}: {len(config.members)} members: {names}; choice {config.choice}")
        return 0

    from aiohttp import web

    from federation.app import Redirector

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(Redirector(config).app(), host=args.host, port=args.port, print=None,
                access_log=logging.getLogger("federation.access") if args.access_log else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
