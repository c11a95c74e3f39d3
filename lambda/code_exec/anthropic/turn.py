"""One ``/v1/messages`` turn: the server-side loop that emulates code execution on Bedrock.

The turn is a generator of items (:mod:`.sampling`): the model's blocks as it writes them,
and whole blocks for what the server adds (tool results, calls made from code), in the order
the response's ``content`` will hold them, so a streamed response sends each as soon as it
exists. Its return value (:class:`TurnEnd`) carries the stop reason, usage and container.

1. The client's history becomes the Bedrock conversation (:mod:`.history`).
2. A cell paused on client tool calls gets the results the request brings, and runs on.
3. Server tool uses the last turn left unanswered (``pause_turn``, or a turn that ended on a
   client tool) run now: each exactly once (results are remembered in the container).
4. Then, up to ``max_iterations`` times within the wall-time budget: call the model; turn
   its ``tool_use`` s of the stand-in tools into ``server_tool_use`` blocks, run them and emit
   their results; stop at anything else. Out of budget with work left: ``pause_turn``.

A turn may be asked to stop early (``cancel``: the function's deadline is near, or the
client is gone). It stops at its next safe point and ends with ``pause_turn``, leaving what
it did not do to the continuation: before a model call, before a server tool runs, between
two waits of a Python cell (which keeps running in the sandbox), and, within a model reply,
where the next block would start (:func:`.sampling.sample`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from code_exec.anthropic import ptc, tool_search
from code_exec.anthropic.bedrock import request_body
from code_exec.anthropic.client_tool_relay import CellRelay, tool_spec
from code_exec.anthropic.container_inputs import place_skills, place_uploads, requested_skills
from code_exec.anthropic.containers import ContainerSession
from code_exec.anthropic.files import AnthropicFiles
from code_exec.anthropic.history import History, ServerUse, convert
from code_exec.anthropic.results import model_result, result_block, run_error
from code_exec.anthropic.sampling import Item, Reply, sample
from code_exec.anthropic.server_tool_runner import Executor, OutputSink, Paused
from code_exec.anthropic.tools import CODE_EXECUTION, ToolPlan
from code_exec.anthropic.usage import Usage
from code_exec.anthropic.web_code import CodeWeb, seen_urls
from code_exec.anthropic.web_direct import DirectWeb
from code_exec.anthropic.web_direct import model_result as web_model_result
from code_exec.anthropic.web_tools import RESULT_TYPES as WEB_RESULT_TYPES
from code_exec.anthropic.web_tools import WEB_NAMES
from code_exec.anthropic.wire import MessagesRequest
from code_exec.exceptions import RequestValidationError, SessionNotFoundError

__all__ = ["TurnEnd", "TurnLimits", "run_turn"]

logger = logging.getLogger(__name__)

Items = Generator[Item, None, "TurnEnd"]
_Steps = Generator[Item, None, Any]


@dataclass(frozen=True)
class TurnLimits:
    """How much one request may do before it answers ``pause_turn``.

    ``wall_time_seconds`` is replaced per request by what the invocation leaves (see
    :mod:`code_exec.api.streamed`); its default is the cap of a response sent whole.
    """

    max_iterations: int = 10  # model calls (Anthropic's server-side sampling loop)
    wall_time_seconds: float = 240.0  # a whole response: API Gateway's 5-minute idle limit
    call_timeout_seconds: float = 270.0  # a tool result that never comes: TimeoutError


@dataclass
class TurnEnd:
    stop_reason: str
    stop_sequence: str | None
    usage: Usage
    container: dict[str, Any] | None


@dataclass
class _Step:
    """What settling a server tool use gave: its result, or a reason to stop the turn."""

    blocks: list[dict[str, Any]]
    result: dict[str, Any] | None = None
    stop: str | None = None


class _Turn:
    def __init__(
        self,
        services: Any,
        request: MessagesRequest,
        plan: ToolPlan,
        *,
        model_id: str,
        betas: list[str],
        owner: str,
        container: ContainerSession,
        limits: TurnLimits,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s, self.request, self.plan = services, request, plan
        self.model_id, self.betas, self.owner = model_id, betas, owner
        self.container, self.limits, self.clock = container, limits, clock
        self.cancel = cancel
        self.started = clock()
        self.usage = Usage()
        self.files = AnthropicFiles(services)
        self._executor: Executor | None = None
        self.direct_web = DirectWeb(
            plan.direct_web,
            request.messages,
            self.usage,
            search=lambda: services.web_search,
            fetcher=lambda: services.web_fetcher,
        )
        self.web = (  # web tools called from code (dynamic filtering)
            CodeWeb(
                plan.code_web,
                caller_type=plan.caller_type,
                search=lambda: services.web_search,
                fetcher=lambda: services.web_fetcher,
                ledger=seen_urls(request.messages, plan.code_web, self.direct_web),
            )
            if plan.code_web
            else None
        )

    # --- budget --------------------------------------------------------------------------

    def remaining(self) -> float:
        return self.limits.wall_time_seconds - (self.clock() - self.started)

    def stopping(self) -> bool:
        """Asked to stop at the next safe point."""
        return self.cancel is not None and self.cancel.is_set()

    def spent(self) -> bool:
        """No more work may start: out of wall time, or asked to stop."""
        return self.remaining() <= 0 or self.stopping()

    # --- the sandbox ---------------------------------------------------------------------

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            record = self.container.ensure()
            session = self.container.session_id
            outputs = OutputSink(
                lambda: self.files.collect(self.owner, record.container_id, self.s.sandbox, session)
            )
            self._executor = Executor(
                self.s.sandbox,
                session,
                version=self.plan.version or "20250825",
                outputs=outputs,
                relay=self._relay,
                cancel=self.cancel,
                clock=self.clock,
            )
        return self._executor

    def _relay(self) -> CellRelay:
        relay = CellRelay(
            self.s.sandbox,
            self.container.session_id,
            call_timeout=self.limits.call_timeout_seconds,
        )
        record = self.container.ensure()
        specs = sorted(
            [tool_spec(t.name, t.description, t.input_schema) for t in self.plan.programmatic]
            + [tool_spec(t.name, t.description, t.input_schema) for t in self.plan.code_web],
            key=lambda s: str(s["name"]),
        )
        wanted = {"runner": relay.runner_id, "tools": specs}
        # A paused cell holds the runner: binding would queue behind it; keep what is bound.
        if record.runner != wanted and not record.pending:
            relay.bind_tools(specs, budget=max(self.remaining(), 5.0))
            record.runner = wanted
        return relay

    # --- the turn ------------------------------------------------------------------------

    def run(self) -> Items:
        history = convert(self.request.messages)
        ptc.require_container(history, self.request.container_id)
        used = requested_skills(self.s, self.request, self.plan, self.owner)  # 404s first
        if self.request.container_id:
            self.container.open(self.request.container_id)
        try:
            if used:
                self.plan = place_skills(self.s, self.container, self.plan, used)
            if history.uploads:
                place_uploads(self.s, self.files, self.owner, self.container, history)
            stop = yield from self._resume(history)
            if stop is None:
                stop = yield from self._open_uses(history)
            if stop is None:
                stop = yield from self._loop(history)
        except SessionNotFoundError as e:
            raise self.container.sandbox_gone() from e
        finally:
            if self.web is not None:  # the direct calls' are counted as they run
                self.usage.web_search_requests += self.web.search_requests
                self.usage.web_fetch_requests += self.web.fetch_requests
        stop_reason, stop_sequence = stop
        return TurnEnd(stop_reason, stop_sequence, self.usage, self.container.wire)

    def _resume(self, history: History) -> _Steps:
        """Step 2: deliver the client's results to the paused cell and let it run on."""
        record = self.container.record
        pending = ptc.Pending.from_json(record.pending if record else None)
        if record is None or pending is None:
            if history.programmatic_results:
                raise RequestValidationError(
                    "no tool calls made by code execution are pending in this container",
                    field="messages",
                )
            return None
        open_ids = {u.id for u in history.unanswered}
        if not history.programmatic_results and pending.tool_use_id not in open_ids:
            logger.info("container %s: pending calls abandoned by the client", record.container_id)
            record.pending = None
            return None
        outcomes = ptc.outcomes_for(pending, history) if history.programmatic_results else {}
        relay = self.executor.relay
        if pending.runner != relay.runner_id:  # the runner (and the cell) is gone
            record.pending = None
            step = _Step([], result=run_error(CODE_EXECUTION, "unavailable"))
        else:
            pending.answered += list(outcomes)
            paused = self.executor.resume(
                pending.cell,
                outcomes=outcomes,
                answered=set(pending.answered),
                budget=self.remaining(),
            )
            step = self._settle(pending.tool_use_id, paused, pending)
        yield from step.blocks
        if step.stop:
            return step.stop, None
        assert step.result is not None
        use = ServerUse(pending.tool_use_id, CODE_EXECUTION, {})
        history.answer([(yield from self._result(use, step.result))])
        history.unanswered = [u for u in history.unanswered if u.id != use.id]
        return None

    def _open_uses(self, history: History, *, reuse: bool = True) -> _Steps:
        """Step 3: run what the last turn left unanswered (never twice: a use from the client's
        history that already ran gets its remembered result; ``reuse=False`` for uses the
        model has just asked for)."""
        results = []
        for use in list(history.unanswered):
            record = self.container.record
            content = record.executed.get(use.id) if record and reuse else None
            if content is None:
                if self.spent():  # the continuation runs it, in this container
                    if _sandboxed([use]):
                        self.container.ensure()
                    return "pause_turn", None
                step = self._execute(use)
                yield from step.blocks
                if step.stop:
                    return step.stop, None
                assert step.result is not None
                content = step.result
            results.append((yield from self._result(use, content)))
        history.unanswered = []
        history.answer(results)
        return None

    def _loop(self, history: History) -> _Steps:
        """Step 4: the sampling loop."""
        iterations = 0
        while True:
            if iterations >= self.limits.max_iterations or self.spent():
                return "pause_turn", None
            body = request_body(self.request, self.plan, history.messages, self.betas)
            reply: Reply = yield from sample(
                self.s.bedrock, self.model_id, body, self.plan, cancel=self.cancel
            )
            iterations += 1
            self.usage.add(reply.usage)
            history.messages.append(reply.message)
            uses, client_calls = reply.uses, reply.client_calls
            stop_reason = reply.stop_reason or ("tool_use" if client_calls else "pause_turn")
            if _sandboxed(uses) and (stop_reason != "tool_use" or client_calls):
                self.container.ensure()  # the next request runs them in this container
            if stop_reason != "tool_use" or not uses or client_calls:
                return stop_reason, reply.stop_sequence
            if iterations >= self.limits.max_iterations or self.spent():
                if _sandboxed(uses):
                    self.container.ensure()
                return "pause_turn", None
            history.unanswered = list(uses)
            stop = yield from self._open_uses(history, reuse=False)
            if stop is not None:
                return stop

    # --- server tool uses ----------------------------------------------------------------

    def _execute(self, use: ServerUse) -> _Step:
        if use.name in tool_search.NAMES:  # answered here: no sandbox
            return _Step([], result=tool_search.search(use.name, use.input, self.plan.catalog()))
        if use.name in WEB_NAMES:  # web search / fetch called directly (web_direct)
            if use.name not in self.direct_web.names:
                raise RequestValidationError(
                    f"server_tool_use {use.id!r} calls {use.name}, which this request's tools "
                    "do not have",
                    field="tools",
                )
            return _Step([], result={"web": self.direct_web.run(use.name, use.input)})
        self.usage.code_execution_requests += 1
        outcome = self.executor.run(use, budget=self.remaining())
        if isinstance(outcome, Paused):
            return self._settle(use.id, outcome, None)
        return _Step([], result=outcome)

    def _settle(
        self, use_id: str, outcome: dict[str, Any] | Paused, pending: ptc.Pending | None
    ) -> _Step:
        """A finished cell's result, or the ``tool_use`` blocks of a cell paused on calls."""
        record = self.container.ensure()
        answered = set(pending.answered) if pending else set()
        nested: list[dict[str, Any]] = []  # calls made from code that the turn served itself
        while isinstance(outcome, Paused):
            if not outcome.calls and not self.spent():  # still running: wait again
                outcome = self.executor.resume(
                    outcome.cell, outcomes={}, answered=answered, budget=self.remaining()
                )
                continue
            if not outcome.calls:  # still running when the budget ran out
                record.pending = ptc.Pending(
                    use_id, outcome.cell, self.executor.relay.runner_id, {}, sorted(answered)
                ).to_json()
                return _Step(nested, stop="pause_turn")
            calls = outcome.calls
            if self.web is not None:  # web tools called from code: served here, not paused
                served = self.web.serve(calls, use_id)
                nested += served.blocks
                calls = served.rest
            blocks, ids, errors = ptc.translate(calls, self.plan, use_id)
            if self.web is not None:
                errors.update(served.outcomes)
            answered |= set(errors)
            if not blocks:  # nothing for the client: the outcomes go to the code now
                budget = 0.0 if self.spent() else self.remaining()
                outcome = self.executor.resume(
                    outcome.cell, outcomes=errors, answered=answered, budget=budget
                )
                if budget <= 0 and isinstance(outcome, Paused):  # the continuation waits on
                    outcome.calls = []  # (the calls it made meanwhile are reported again)
                continue
            if errors:  # delivered now, next to the calls the client will answer
                self.executor.resume(
                    outcome.cell, outcomes=errors, answered=answered | set(ids.values()), budget=0
                )
            record.pending = ptc.Pending(
                use_id, outcome.cell, self.executor.relay.runner_id, ids, sorted(answered)
            ).to_json()
            return _Step(nested + blocks, stop="tool_use")
        record.pending = None
        done = self.web.completed(nested) if self.web is not None else nested
        return _Step(done, result=outcome)

    def _result(
        self, use: ServerUse, content: dict[str, Any]
    ) -> Generator[dict[str, Any], None, dict[str, Any]]:
        """Emit the result block of ``use``; return the ``tool_result`` the model reads."""
        if use.name in WEB_NAMES:  # not remembered: a rerun of a search or fetch is harmless
            web = {
                "type": WEB_RESULT_TYPES[use.name],
                "tool_use_id": use.id,
                "content": content["web"],
            }
            yield web
            return web_model_result(web)
        block = result_block(use.name, use.id, content)
        self.plan = self.plan.with_loaded(tool_search.loaded_by(content))  # from the next call
        if self.container.record is not None:
            self.container.record.remember(use.id, content)
        yield block
        return model_result(block)


def _sandboxed(uses: list[ServerUse]) -> bool:
    """Whether any of ``uses`` runs in the container (tool search and web tools do not)."""
    return any(u.name not in tool_search.NAMES and u.name not in WEB_NAMES for u in uses)


def run_turn(services: Any, request: MessagesRequest, plan: ToolPlan, **kwargs: Any) -> Items:
    """The turn's items (:mod:`.sampling`), in order; returns its :class:`TurnEnd`."""
    return _Turn(services, request, plan, **kwargs).run()
