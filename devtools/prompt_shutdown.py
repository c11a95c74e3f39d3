"""Local HTTP servers that stop at once.

``socketserver``'s ``serve_forever`` looks at its shutdown flag only between polls (every
0.5 s), so each ``shutdown()`` waits up to half a second; ``make local`` stops five such
servers in a row, and the tests start and stop them in many fixtures. Polling faster would
cost CPU all the time the server idles; a connection of our own wakes the loop instead.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["PromptShutdown", "PromptThreadingHTTPServer"]


class PromptShutdown:
    """A ``socketserver`` mixin: :meth:`shutdown` wakes ``serve_forever`` at once."""

    server_address: Any

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (running in another thread) and wait for it, as the
        stdlib's ``shutdown`` does, connecting to the server until its loop has seen the
        flag (the connection's handler reads end-of-file and returns)."""
        stopper = threading.Thread(target=super().shutdown, daemon=True)  # type: ignore[misc]
        stopper.start()
        host, port = self.server_address[:2]
        while stopper.is_alive():
            with contextlib.suppress(OSError):  # already closed, or the loop already gone
                socket.create_connection((host, port), timeout=1).close()
            stopper.join(0.05)


class PromptThreadingHTTPServer(PromptShutdown, ThreadingHTTPServer):
    """``ThreadingHTTPServer`` whose ``shutdown`` returns at once."""
