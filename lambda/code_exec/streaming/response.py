"""What a streaming handler returns to :mod:`code_exec.streaming.runtime`.

A handler of the streaming function returns a :class:`StreamedResponse`: the status and
headers (sent first, as API Gateway's metadata prelude), then the body, written chunk by
chunk as its iterator yields. The runtime always closes the response when the invocation
ends (:meth:`StreamedResponse.close`): after a failed write (the client is gone, the Runtime
API refused it) a generator body gets ``GeneratorExit`` at the ``yield`` it was paused on and
can stop its work there. A generator that was never started would ignore ``close``, so a
body that runs work of its own (a producer thread) must stop it in ``close`` whether or not
it was iterated, as :class:`~code_exec.streaming.pump.Body` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JSON_HEADERS", "StreamedResponse", "json_response"]

JSON_HEADERS = {"content-type": "application/json"}


@dataclass
class StreamedResponse:
    """A response whose body is written as it is produced.

    Attributes:
        status_code: the HTTP status API Gateway answers with (sent before any body byte).
        body: the body, one chunk per item; empty items are skipped.
        headers: response headers (no ``content-length``: the length is not known).
        cookies: ``Set-Cookie`` values.
        on_disconnect: asks the body's producer to stop, from any thread, when the reader
            is seen to leave while the body waits for its next chunk (before a write fails).
    """

    status_code: int
    body: Iterable[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)
    on_disconnect: Callable[[], None] | None = None

    def chunks(self) -> Iterator[bytes]:
        """The body's non-empty chunks (an empty chunk would end a chunked body)."""
        for item in self.body:
            if item:
                yield item

    def close(self) -> None:
        """Stop the body's producer: the client is gone, or writing it failed (idempotent; a
        no-op for a body written to its end)."""
        close = getattr(self.body, "close", None)
        if callable(close):
            close()


def json_response(
    status_code: int, payload: Any, headers: dict[str, str] | None = None
) -> StreamedResponse:
    """A whole JSON body in one chunk (errors found before streaming starts)."""
    body = json.dumps(payload).encode("utf-8")
    return StreamedResponse(status_code, [body], {**JSON_HEADERS, **(headers or {})})
