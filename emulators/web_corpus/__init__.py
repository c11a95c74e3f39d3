"""The web corpus fixture served over HTTP on loopback, for the web fetcher (tests, make local).

Pages are chosen by the request's ``Host`` header and path (the fetcher connects to
127.0.0.1:port and sends the page's own host name), so one server serves every corpus
domain. Besides the pages, a few test paths exist on every host: ``/_redirect?to=URL&code=N``
answers a redirect, ``/_big?bytes=N`` a body of N bytes, ``/_gzip?bytes=N`` N bytes gzipped,
``/_type?ct=TYPE`` a short binary body of that content type, ``/_slow?seconds=S`` waits
before answering. Every request is recorded
(:attr:`CorpusServer.requests`), so a test can prove what was, and was not, fetched.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["DEFAULT_CORPUS", "CorpusServer"]

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "web_corpus"


class CorpusServer:
    """A threaded HTTP server on ``127.0.0.1`` (port 0: any free one) serving the corpus."""

    def __init__(self, root: Path = DEFAULT_CORPUS, *, port: int = 0) -> None:
        index = json.loads((root / "index.json").read_text())
        self.pages = {
            _key(p["url"]): (root / p["file"], str(p["contentType"])) for p in index["pages"]
        }
        self.domains = tuple(sorted({_registered(k[0]) for k in self.pages}))
        self.requests: list[tuple[str, str, str]] = []  # (host header, method, path)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._record(self.headers.get("Host", ""), "GET", self.path)
                status, headers, body = server.answer(self.headers.get("Host", ""), self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CorpusServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def loopback_spec(self) -> str:
        """The ``WEB_FETCH_LOOPBACK_CORPUS`` value naming this server (local only)."""
        return json.dumps({"port": self.port, "domains": list(self.domains)})

    def _record(self, host: str, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((host, method, path))

    def answer(self, host: str, target: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for ``GET target`` on ``host``."""
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/_redirect":
            return int(query.get("code", "302")), {"Location": query.get("to", target)}, b""
        if parts.path == "/_big":
            return 200, {"Content-Type": "text/plain"}, b"x" * int(query.get("bytes", "0"))
        if parts.path == "/_gzip":
            body = gzip.compress(b"a" * int(query.get("bytes", "0")))
            return 200, {"Content-Type": "text/plain", "Content-Encoding": "gzip"}, body
        if parts.path == "/_type":
            return 200, {"Content-Type": query.get("ct", "")}, b"\x00\x01binary"
        if parts.path == "/_slow":
            time.sleep(min(float(query.get("seconds", "0")), 10.0))
            return 200, {"Content-Type": "text/plain"}, b"slow"
        found = self.pages.get((host.split(":")[0].lower(), parts.path))
        if found is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        path, content_type = found
        return 200, {"Content-Type": content_type}, path.read_bytes()


def _key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.path or "/"


def _registered(host: str) -> str:
    """``docs.northwind-analytics.test`` -> ``northwind-analytics.test``."""
    return ".".join(host.split(".")[-2:])
