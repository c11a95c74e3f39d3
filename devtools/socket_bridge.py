"""Carry TCP connections over a Unix socket, so a client in a network namespace that has only
loopback (``bwrap --unshare-net``) can reach a server on the host's loopback, and nothing else.

A test runs a client it does not control (the Claude Code CLI) in such a namespace: whatever
it tries, no packet leaves the machine. Inside, ``python -m devtools.socket_bridge PORT SOCK``
listens on ``127.0.0.1:PORT`` and carries each connection to the Unix socket ``SOCK`` (a file:
namespaces share the filesystem); outside, :func:`serve_unix` carries each connection on
``SOCK`` to the real server's TCP port.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from contextlib import suppress

__all__ = ["main", "pipe", "serve_tcp", "serve_unix"]


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy ``a`` to ``b`` until ``a`` ends, then end ``b``'s writing half."""
    with suppress(OSError):
        while data := a.recv(65536):
            b.sendall(data)
    with suppress(OSError):
        b.shutdown(socket.SHUT_WR)


def _serve(listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # closed
        upstream = connect()
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def serve_unix(path: str, port: int) -> socket.socket:
    """Listen on Unix socket ``path``, forwarding to ``127.0.0.1:port`` (in a thread); close
    the returned socket to stop."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    threading.Thread(
        target=_serve,
        args=(listener, lambda: socket.create_connection(("127.0.0.1", port))),
        daemon=True,
    ).start()
    return listener


def serve_tcp(port: int, path: str) -> None:
    """Listen on ``127.0.0.1:port``, forwarding to Unix socket ``path`` (blocks)."""

    def connect() -> socket.socket:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(path)
        return upstream

    listener = socket.create_server(("127.0.0.1", port))
    _serve(listener, connect)


def main(argv: list[str]) -> int:
    serve_tcp(int(argv[0]), argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
