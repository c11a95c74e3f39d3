"""Response streaming for the streaming function (API Gateway REST -> Lambda, up to 15 min).

``framing`` (the bytes API Gateway and the Runtime API expect), ``runtime_api`` (the
Runtime API client), ``runtime`` (the loop the ``bootstrap`` exec wrapper starts),
``response`` (what a streaming handler returns), ``pump`` (producer thread, pings,
deadlines, disconnects) and ``sse`` (server-sent events; :func:`sse_response` turns an
event generator into a streamed response).
"""

from __future__ import annotations

from code_exec.streaming.response import StreamedResponse, json_response
from code_exec.streaming.sse import frame, sse_response

__all__ = ["StreamedResponse", "frame", "json_response", "sse_response"]
