"""``POST /v1/messages`` on the streaming function: one turn, answered whole or as it runs.

API Gateway sends the method to the streaming function (response transfer mode ``STREAM``)
whatever the body says, so this one use case answers both ways:

* ``stream: false``: the turn runs to its end, then one JSON ``Message`` is written (status
  and body together, like any JSON response). Nothing reaches the client before the end, so
  its wall time is capped by the turn limits (API Gateway drops a stream idle for 5 minutes).
* ``stream: true``: Anthropic's server-sent events, written as the model writes and the
  sandbox answers (:func:`code_exec.anthropic.stream.sse`) through
  :func:`code_exec.streaming.sse_response`: pings while nothing else is sent, the turn asked
  to stop at its next safe point when the client leaves or the function's deadline nears (it
  then ends with ``pause_turn``), an ``error`` event for a failure after the stream started.
  The status is held back until the turn's first item (up to ``first_seconds``), so a failure
  before it (a bad container, a refused first model call) is still an HTTP error.

Either way the model is called with ``InvokeModelWithResponseStream``, and the container is
saved and its lease given back when the turn ends, however it ends (its sandbox is kept by
the container rules, :mod:`code_exec.anthropic.containers`), and the turn's metrics are
flushed (the streaming function's handler has no ``log_metrics`` around a stream).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from code_exec.anthropic.containers import ContainerSession
from code_exec.anthropic.context_edits import apply_edits
from code_exec.anthropic.errors import anthropic_error
from code_exec.anthropic.ids import new_message_id
from code_exec.anthropic.model_catalog import resolve_model
from code_exec.anthropic.routes import header_of, owner_of, request_id_of
from code_exec.anthropic.stream import collect, error_event, message, omit_thinking, sse
from code_exec.anthropic.surface import DROPPED_HEADER, split_betas
from code_exec.anthropic.tools import plan_tools
from code_exec.anthropic.turn import TurnLimits, run_turn
from code_exec.anthropic.wire import MessagesRequest
from code_exec.exceptions import CodeExecError, TurnTimeoutError
from code_exec.observability import metrics
from code_exec.streaming import StreamedResponse, json_response, sse_response

__all__ = ["Deadlines", "respond"]


@dataclass(frozen=True)
class Deadlines:
    """What the invocation leaves a turn, worked out by the streaming function's route.

    Attributes:
        turn_seconds: the turn's wall-time budget: no model call or tool starts after it.
        lease_seconds: how long the container's lease holds (longer than the invocation).
        stop_at: ``time.monotonic()`` at which a streamed turn is asked to stop.
        abandon_at: when the stream stops waiting for a turn that never reached a safe point.
        ping_seconds: a ``ping`` after this long without another event.
        grace_seconds: how long a turn whose client left may take to stop and save.
        first_seconds: how long the status waits for the turn's first item.
    """

    turn_seconds: float
    lease_seconds: float
    stop_at: float
    abandon_at: float
    ping_seconds: float
    grace_seconds: float
    first_seconds: float


def respond(
    services: Any,
    event: Mapping[str, Any],
    request: MessagesRequest,
    deadlines: Deadlines,
    *,
    to_error: Callable[[Exception], CodeExecError],
) -> StreamedResponse:
    """Run the turn ``request`` asks for; its message, or its event stream.

    Raises:
        CodeExecError: (subclasses) what failed before anything was sent; the caller answers
            it in Anthropic's envelope.
    """
    rid = request_id_of(event)
    owner = owner_of(event)
    model_id = resolve_model(services.config, request.model)
    plan = plan_tools(request)
    edited = apply_edits(request)
    extra: dict[str, Any] = {}
    if request.context_management is not None:
        extra["context_management"] = {"applied_edits": edited.applied}
    betas = split_betas(header_of(event, "anthropic-beta"))
    limits: TurnLimits = services.turn_limits
    wall = deadlines.turn_seconds
    if not request.stream:
        wall = min(wall, limits.wall_time_seconds)  # nothing is sent until the end
    cancel = threading.Event() if request.stream else None
    container = ContainerSession(
        services, owner, lease=uuid.uuid4().hex, lease_seconds=deadlines.lease_seconds
    )
    turn = run_turn(
        services,
        request.model_copy(update={"messages": edited.messages}) if edited.applied else request,
        plan,
        model_id=model_id,
        betas=list(betas.passed),
        owner=owner,
        container=container,
        limits=dataclasses.replace(limits, wall_time_seconds=wall),
        cancel=cancel,
    )
    if (request.thinking or {}).get("display") == "omitted":
        turn = omit_thinking(turn)
    message_id = new_message_id()
    headers = {"request-id": rid}
    if betas.dropped:
        headers[DROPPED_HEADER] = ",".join(betas.dropped)
    if not request.stream:
        try:
            blocks, end = collect(turn)
        finally:
            _end(turn, container)
        body = message(message_id, request.model, blocks, end, extra)
        return json_response(200, body, headers)

    def frames() -> Iterator[str]:
        try:
            yield from sse(
                turn,
                message_id=message_id,
                model=request.model,
                container=lambda: container.wire,
                extra=extra,
            )
        finally:  # ended, failed, or closed because the client left
            _end(turn, container)

    def failed(error: BaseException) -> bytes:
        if not isinstance(error, Exception):
            error = CodeExecError(f"the turn was interrupted ({type(error).__name__})")
        return error_event(anthropic_error(to_error(error)), rid).encode()

    def abandoned(reason: str) -> bytes:
        # The turn holds the container; its lease ends shortly after the invocation.
        error = TurnTimeoutError(
            f"the turn was still running when the stream had to end ({reason}); send the "
            "conversation again to continue it"
        )
        return failed(error)

    return sse_response(
        frames(),
        headers=headers,
        cancel=cancel,
        ping_seconds=deadlines.ping_seconds,
        grace_seconds=deadlines.grace_seconds,
        stop_at=deadlines.stop_at,
        abandon_at=deadlines.abandon_at,
        on_abandon=abandoned,
        on_error=failed,
        first_seconds=deadlines.first_seconds,
    )


def _end(turn: Any, container: ContainerSession) -> None:
    """Stop the turn where it is, save the container and give its lease back, flush."""
    try:
        turn.close()
        container.close()
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)
