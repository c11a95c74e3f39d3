"""The streamed routes: served by the streaming function, answered as server-sent events.

API Gateway sends these methods to the streaming function (response transfer mode
``STREAM``, up to 15 minutes), whose runtime (:mod:`code_exec.streaming.runtime`) calls
:func:`stream_handler` and writes the :class:`~code_exec.streaming.StreamedResponse` it
returns. Errors found before the stream starts (bad input, 409/410 from the session) are
ordinary JSON error responses with their status; later ones are an ``error`` event.

``POST /invoke/stream`` takes the body of ``POST /invoke`` and runs the same turn, without
``/invoke``'s 22 s cap: it may run until shortly before the function's own deadline. Its
events are listed in :data:`EVENTS` (``event:`` name, ``data:`` JSON with the same ``type``).

A turn is ``paused`` when it stopped at its wall-time limit or shortly before the function's
deadline (``stop_reason`` ``wall_time`` or ``interrupted``). Its conversation and sandbox
state are kept in its session: send the session id to ``POST /invoke`` or ``/invoke/stream``
again to go on. A client that disconnects stops the turn at its next safe point; the
session rules then apply as for any request (a one-shot sandbox is stopped, a named session
keeps its sandbox and saves the conversation so far). A one-shot turn's sandbox session is
named for a streamed turn (:func:`code_exec.owners.stream_owner`), which the sweeper leaves
alone for as long as the function may run.

``POST /v1/messages`` (Anthropic's Messages API) is served here too, with ``stream`` true
or false (API Gateway picks the integration per method, not per body):
:mod:`code_exec.anthropic.create_message`. Its errors are Anthropic's envelope; its deadlines are
worked out here like those of ``/invoke/stream`` (:class:`StreamSettings`).

New streamed routes register in :data:`ROUTES`; a route returns a ``StreamedResponse``,
usually through :func:`code_exec.streaming.sse_response` (an event generator in, a
streamed response out).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ValidationError

from code_exec.api.errors import error_parts, to_api_error, validation_error
from code_exec.api.resolver import json_body
from code_exec.deadline import Deadline, bound
from code_exec.exceptions import (
    CodeExecError,
    NotFoundError,
    RequestValidationError,
    TurnTimeoutError,
)
from code_exec.loops.common import StopReason
from code_exec.loops.events import LoopEvent, TurnStream
from code_exec.models import AgentRequest, AgentResult
from code_exec.observability import logger as powertools_logger
from code_exec.observability import metrics
from code_exec.operations import Operations
from code_exec.owners import stream_owner
from code_exec.services import Services
from code_exec.streaming import StreamedResponse, frame
from code_exec.streaming.pump import Emit, Pump
from code_exec.streaming.sse import PING, SSE_HEADERS

__all__ = [
    "EVENTS",
    "ROUTES",
    "StreamSettings",
    "StreamedRoutes",
    "operations",
    "services",
    "stream_handler",
]

logger = logging.getLogger(__name__)

Route = Callable[["StreamedRoutes", Mapping[str, Any], Any], StreamedResponse]
_M = TypeVar("_M", bound=BaseModel)

# The events of ``POST /invoke/stream``, in the order they can come (docs/openapi.json).
EVENTS = {
    "start": "the sandbox session is ready: loop, mode, model_id, session_id",
    "text": "model text as it is written: text",
    "thinking": "the model's readable thinking as it is written: thinking",
    "tool_use": "the model starts a tool call: id, name",
    "tool_input": "a piece of that call's JSON input: id, partial_json",
    "model_call": "one model call ended: stop_reason, usage",
    "code_start": "a cell starts in the sandbox: code",
    "code_end": "the cell finished: code_run (stdout, stderr, exit_code, is_error, duration_ms)",
    "tool_call": "direct mode: a tool runs: name, input",
    "tool_result": "the tool returned: name, is_error, output",
    "files": "files the turn wrote under outputs/: files (presigned URLs)",
    "result": "the last event: status (finished or paused), result (what POST /invoke "
    "returns), continuation (how to go on in the session, or null)",
    "error": "the turn failed after the stream started: error (code, message, field), status",
    "ping": "keep-alive while nothing else is sent",
}


@dataclass
class StreamSettings:
    """Time budget of a streamed turn, measured back from the function's deadline.

    Attributes:
        ping_seconds: a ``ping`` event after this long without another.
        turn_margin_seconds: no new model call starts later than this before the deadline
            (the turn's wall-time limit).
        stop_margin_seconds: the turn is asked to stop at its next safe point (a running
            cell is cut off) this long before the deadline, leaving time to save the
            session and send the last event.
        abandon_margin_seconds: if the turn is still running this long before the deadline,
            the stream stops waiting for it (its one-shot sandbox is stopped) and ends.
        grace_seconds: after a disconnect, how long the turn may take to reach a safe point
            and clean up before the invocation ends anyway.
        lease_margin_seconds: a session's (or container's) lease outlives the invocation by
            this much.
        first_seconds: how long ``/v1/messages`` holds its status back for the turn's first
            event (so an early failure is still an HTTP error) before committing to the
            stream.
    """

    ping_seconds: float = 15.0
    turn_margin_seconds: float = 120.0
    stop_margin_seconds: float = 45.0
    abandon_margin_seconds: float = 10.0
    grace_seconds: float = 30.0
    lease_margin_seconds: float = 60.0
    first_seconds: float = 15.0


@dataclass
class _Turn:
    """One ``POST /invoke/stream`` turn, run by the pump's producer thread."""

    ops: Operations
    request: AgentRequest
    lease_seconds: float
    cell_deadline: float
    sandbox_session_id: str | None = None

    def produce(self, emit: Emit, stop: threading.Event) -> None:
        def forward(event: LoopEvent) -> None:
            emit(frame(event.kind, event.wire()))

        def started(sandbox_session_id: str) -> None:
            self.sandbox_session_id = sandbox_session_id
            r = self.request
            start = {"loop": r.loop, "mode": r.mode, "model_id": r.model_id}
            emit(frame("start", {**start, "session_id": r.session_id}))

        stream = TurnStream(forward, cancel=stop, deadline=self.cell_deadline)
        try:
            result = self.ops.invoke(
                self.request,
                wall_time_cap=None,
                lease_seconds=self.lease_seconds,
                on_started=started,
                stream=stream,
                owner=stream_owner(self.ops.s.new_id()),
            )
        except Exception as e:
            if self.sandbox_session_id is None:
                raise  # before the stream started: an HTTP error
            error = to_api_error(e)
            emit(frame("error", {"error": error.to_dict(), "status": error.status}))
            return
        finally:
            metrics.flush_metrics(raise_on_empty_metrics=False)
        if result.files:
            emit(frame("files", {"files": [f.model_dump() for f in result.files]}))
        emit(frame("result", _final(result)))

    def abandon(self, reason: str) -> bytes:
        """The turn never reached a safe point: stop its one-shot sandbox, say so."""
        message = f"the turn was still running when the stream had to end ({reason})"
        if self.request.session_id is None and self.sandbox_session_id is not None:
            self.ops.stop_quietly(self.sandbox_session_id)
            message += "; its sandbox session was stopped"
        error = TurnTimeoutError(message)
        return frame("error", {"error": error.to_dict(), "status": error.status})


def _final(result: AgentResult) -> dict[str, Any]:
    paused = result.stop_reason in (StopReason.WALL_TIME, StopReason.INTERRUPTED)
    continuation = None
    if paused and result.session_id:
        continuation = {
            "session_id": result.session_id,
            "routes": ["POST /invoke", "POST /invoke/stream"],
            "hint": "send the same session_id with a prompt such as 'Continue.'; the "
            "conversation and the sandbox state carry over",
        }
    return {
        "status": "paused" if paused else "finished",
        "continuation": continuation,
        "result": result.model_dump(mode="json"),
    }


class StreamedRoutes:
    """The streaming function's routes over injected services."""

    def __init__(self, ops: Operations, settings: StreamSettings | None = None) -> None:
        self.ops = ops
        self.settings = settings or StreamSettings()

    def handle(self, event: Mapping[str, Any], context: Any) -> StreamedResponse:
        """Route one API Gateway proxy event; errors before streaming are JSON responses."""
        try:
            method = str(event.get("httpMethod") or "")
            route = ROUTES.get((method, str(event.get("resource") or event.get("path") or "")))
            if route is None:
                raise NotFoundError("no such streamed route")
            return route(self, event, context)
        except Exception as e:
            return error_response(e, event)

    def messages(self, event: Mapping[str, Any], context: Any) -> StreamedResponse:
        """``POST /v1/messages``: a whole message, or Anthropic's events as the turn runs."""
        # The /v1 turn's modules load with the first such request: /invoke/stream needs none.
        from code_exec.anthropic.create_message import Deadlines
        from code_exec.anthropic.create_message import respond as respond_messages
        from code_exec.anthropic.wire import MessagesRequest

        s = self.settings
        request = _parse(event, MessagesRequest)
        remaining = _remaining_seconds(context)
        now = time.monotonic()
        deadlines = Deadlines(
            turn_seconds=remaining - s.turn_margin_seconds,
            lease_seconds=remaining + s.lease_margin_seconds,
            stop_at=now + max(0.5, remaining - s.stop_margin_seconds),
            abandon_at=now + max(1.0, remaining - s.abandon_margin_seconds),
            ping_seconds=s.ping_seconds,
            grace_seconds=s.grace_seconds,
            first_seconds=s.first_seconds,
        )
        return respond_messages(self.ops.s, event, request, deadlines, to_error=to_api_error)

    def invoke(self, event: Mapping[str, Any], context: Any) -> StreamedResponse:
        """``POST /invoke/stream``: one agent turn, streamed."""
        s = self.settings
        remaining = _remaining_seconds(context)
        request = self.ops.check_request(_parse(event, AgentRequest))
        turn_budget = max(1.0, remaining - s.turn_margin_seconds)
        limits = request.limits
        asked = "wall_time_seconds" in limits.model_fields_set  # else: up to the deadline
        wall = min(limits.wall_time_seconds, turn_budget) if asked else turn_budget
        limits = limits.model_copy(update={"wall_time_seconds": max(1, int(wall))})
        request = request.model_copy(update={"limits": limits})
        now = time.monotonic()
        stop_at = now + max(0.5, remaining - s.stop_margin_seconds)
        abandon_at = now + max(1.0, remaining - s.abandon_margin_seconds)
        turn = _Turn(self.ops, request, remaining + s.lease_margin_seconds, stop_at)
        # named after the invoking thread, so its log lines (and calls) trace back to it
        pump = Pump(turn.produce, name=f"{threading.current_thread().name}/turn")
        pump.start()
        if pump.first() is None:  # raises what failed before the stream started
            raise CodeExecError("the turn ended before it started")
        frames = pump.frames(
            ping=PING,
            ping_seconds=s.ping_seconds,
            grace_seconds=s.grace_seconds,
            stop_at=stop_at,
            abandon_at=abandon_at,
            on_abandon=turn.abandon,
        )
        return StreamedResponse(
            200, frames, dict(SSE_HEADERS), on_disconnect=lambda: pump.stop("disconnected")
        )


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/invoke/stream"): StreamedRoutes.invoke,
    ("POST", "/v1/messages"): StreamedRoutes.messages,
}


def error_response(exc: Exception, event: Mapping[str, Any] | None = None) -> StreamedResponse:
    """Any error in the route's wire format (ours, or Anthropic's envelope on ``/v1/*``), with
    its status, as the buffered API answers it."""
    status, body, headers = error_parts(exc, event)
    return StreamedResponse(
        status, [body.encode("utf-8")], {"content-type": "application/json", **headers}
    )


def _parse(event: Mapping[str, Any], model: type[_M]) -> _M:
    """The JSON body of ``event`` as ``model`` (400 naming the field when it is not)."""
    try:
        body = json_body(event)
    except json.JSONDecodeError as e:
        raise RequestValidationError("request body is not valid JSON", field="body") from e
    if body is None:
        raise RequestValidationError("request body is required (a JSON object)", field="body")
    if not isinstance(body, dict):
        raise RequestValidationError("request body must be a JSON object", field="body")
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise validation_error([dict(err) for err in e.errors()]) from e


def _remaining_seconds(context: Any) -> float:
    get = getattr(context, "get_remaining_time_in_millis", None)
    return 900.0 if get is None else get() / 1000.0


services = Services()
operations = Operations(services)
routes = StreamedRoutes(operations)


@powertools_logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
def stream_handler(event: dict[str, Any], context: Any) -> StreamedResponse:
    """The streaming function's handler (``_HANDLER``), called by the streaming runtime.

    The request's deadline (:mod:`code_exec.deadline`) is when the turn is asked to stop
    (``stop_margin_seconds`` before the function's), with the time until it is abandoned as
    grace; the producer thread the route starts runs in a copy of this context.
    """
    s = routes.settings
    grace = max(0.0, s.stop_margin_seconds - s.abandon_margin_seconds)
    limit = Deadline.for_invocation(
        context, budget=None, grace=grace, margin=s.abandon_margin_seconds
    )
    with bound(limit):
        return routes.handle(event, context)
