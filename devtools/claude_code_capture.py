"""Record what a Claude Code CLI sends, and how it retries: a loopback server that answers its
first requests with the errors asked for, then a short streamed answer.

``python -m devtools.claude_code_capture VERSION OUT.json [--fail STATUS:MESSAGE ...]`` runs
the pinned CLI ``VERSION`` (:data:`devtools.claude_cli.CLIS`) headless in its loopback-only
namespace with ``claude -p "Say hello"``; each ``--fail`` answers one ``/v1/messages`` request
(in order) with that status and an Anthropic error body carrying MESSAGE; later requests get a
streamed "Hello!". Every request is written to OUT.json (method, path, headers, body), with
the CLI's exit status and result. This is how tests/fixtures/claude_code/ was captured: the
retry variants a gateway must answer 2xx, and the first request of each pinned version.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devtools.claude_cli import CLIS, run_claude

__all__ = ["Capture", "as_fixture", "capturing_server", "main", "sse_answer", "variant_of"]

logger = logging.getLogger(__name__)


def sse_answer(text: str, model: str) -> bytes:
    """A whole streamed Messages answer with one text block."""
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_capture",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


class Capture:
    """The requests received, and the failures still to answer (``(status, message)``)."""

    def __init__(self, failures: list[tuple[int, str]]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures = list(failures)
        self.lock = threading.Lock()

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
            failure = None
            if path.startswith("/v1/messages") and self.failures:
                failure = self.failures.pop(0)
        if failure is not None:
            status, message = failure
            error = {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": message},
                "request_id": "req_capture",
            }
            return status, "application/json", json.dumps(error).encode()
        if path.startswith("/v1/messages") and isinstance(body, dict) and body.get("stream"):
            return 200, "text/event-stream", sse_answer("Hello!", str(body.get("model")))
        return 404, "application/json", b'{"type":"error","error":{"type":"not_found_error"}}'


@contextmanager
def capturing_server(capture: Capture) -> Iterator[int]:
    """Serve ``capture`` on 127.0.0.1 (a free port, yielded) while the block runs."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in separate writes: without this the body waits for the
        # client's delayed ACK (~40 ms) on a kept-alive connection (Nagle's algorithm)
        disable_nagle_algorithm = True

        def _any(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, kind, out = capture.answer(
                self.command, self.path, dict(self.headers.items()), raw
            )
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_HEAD = _any

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


_KEPT_HEADERS = (
    "User-Agent",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "anthropic-version",
    "x-app",
)


def _cut(value: Any) -> Any:
    """Long texts and descriptions cut to 120 characters, ids zeroed (a fixture's form)."""
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v) for v in value]
    if isinstance(value, str) and len(value) > 120:
        return value[:120] + "\u2026"
    return value


def as_fixture(request: dict[str, Any], version: str) -> dict[str, Any]:
    """A captured request in tests/fixtures/claude_code/'s form."""
    user = json.loads(request["body"]["metadata"]["user_id"])
    user.update(device_id="0" * 64, session_id="00000000-0000-4000-8000-000000000000")
    body = _cut({**request["body"], "metadata": {}})
    body["metadata"] = {"user_id": json.dumps(user)}
    headers = {k: v for k, v in request["headers"].items() if k in _KEPT_HEADERS}
    return {
        "_comment": f"The first request Claude Code {version} sent (headless, `claude -p "
        '"Say hello" --output-format json`, ANTHROPIC_BASE_URL on a loopback capture server, '
        "python -m devtools.claude_code_capture). Long texts and descriptions are cut to 120 "
        "characters; metadata.user_id's ids are zeroed; everything else is as sent.",
        "method": request["method"],
        "path": request["path"],
        "headers": headers,
        "body": body,
    }


def variant_of(first: dict[str, Any], retry: dict[str, Any]) -> dict[str, Any]:
    """How ``retry`` differs from ``first``: its ``anthropic-beta`` header, the top-level body
    fields it sets (cut) and those it leaves out; a fixture's form of a retry variant."""
    a, b = first["body"], retry["body"]
    return {
        "anthropic-beta": retry["headers"].get("anthropic-beta", ""),
        "set": {k: _cut(v) for k, v in b.items() if a.get(k) != v and k != "metadata"},
        "unset": sorted(k for k in a if k not in b),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", choices=sorted(CLIS))
    parser.add_argument("out", type=Path)
    parser.add_argument("--fail", action="append", default=[], help="STATUS:MESSAGE")
    parser.add_argument("--prompt", default="Say hello")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the CLI")
    parser.add_argument("--fixture", type=Path, help="write the first request here, cut")
    options = parser.parse_args(argv)
    failures = [(int(f.split(":", 1)[0]), f.split(":", 1)[1]) for f in options.fail]
    capture = Capture(failures)
    env = {"ANTHROPIC_API_KEY": "sk-capture", **dict(e.split("=", 1) for e in options.env)}
    with tempfile.TemporaryDirectory() as scratch, capturing_server(capture) as port:
        run = run_claude(CLIS[options.version], port, Path(scratch), options.prompt, env=env)
    record = {
        "version": options.version,
        "failures": failures,
        "returncode": run.returncode,
        "stdout": run.stdout,
        "requests": capture.requests,
    }
    options.out.write_text(json.dumps(record, indent=1) + "\n")
    if options.fixture is not None:
        first = as_fixture(capture.requests[0], options.version)
        options.fixture.write_text(json.dumps(first, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(capture.requests)} request(s), exit {run.returncode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
