"""A test HTTP server on loopback, served from a thread for the length of a ``with`` block.

The tools that talk to services (the smoke test, the status issues, the upgrade finder, the
deploy markers) are tested against stand-ins on 127.0.0.1; each stand-in is a
``socketserver`` server, started and stopped the same way here.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

Server = TypeVar("Server", bound=socketserver.BaseServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """``server`` answering from a thread until the block ends; then shut down and closed,
    whatever the block raised."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
