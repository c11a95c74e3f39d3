"""One agent turn: pick the loop, give it the tools and the sandbox, return an ``AgentResult``.

The caller (``operations.py``) owns the sandbox session (starts it, writes the input
files under ``inputs/``, collects ``outputs/`` afterwards, stops it) and the stored
conversation (passes ``deps.history`` in, persists ``AgentRun.history``). This module
owns the turn: model allow-list, tools for the requested mode, system prompt, loop.

``mode="ptc"``: the model gets one ``execute_code`` tool; the requested tools are
callable from its code in the sandbox (preloaded there by :mod:`code_exec.ptc`), and
described in the system prompt. ``mode="direct"``: each requested tool is a model tool,
run here, one call per tool-use block. Same tools, same data: the two are comparable.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from code_exec import ptc
from code_exec.claude_code import loop as claude_code_loop
from code_exec.config import RuntimeConfig
from code_exec.exceptions import ModelNotAllowedError, RequestValidationError
from code_exec.loops import history_formats
from code_exec.loops.capabilities import capabilities
from code_exec.loops.common import LoopInput, LoopOutput
from code_exec.loops.events import TurnStream
from code_exec.loops.toolbox import DEFAULT_OUTPUT_LIMIT, CodeTool, DirectTools
from code_exec.models import AgentRequest, AgentResult, CodeRun
from code_exec.prompts import direct_system_prompt, ptc_system_prompt
from code_exec.ptc.web_tools import UrlLedger, WebLimits, WebSession

__all__ = [
    "AgentDeps",
    "AgentRun",
    "check_thinking",
    "check_tools",
    "check_web",
    "resolve_model_id",
    "run_agent",
]

logger = logging.getLogger(__name__)

_FORMATS: dict[str, history_formats.HistoryFormat] = {
    "messages": "anthropic",
    "converse": "converse",
    "strands": "converse",
}


@dataclass
class AgentDeps:
    """What one turn needs from outside. The caller starts and stops the sandbox session.

    Attributes:
        sandbox: the ``SandboxClient``.
        sandbox_session_id: a started session (the caller stops it).
        bedrock: a boto3 ``bedrock-runtime`` client (used by every loop, Strands included).
        history: the session's conversation so far, as a previous ``AgentRun.history``.
        config: runtime settings (allow-list, default and sandbox model ids).
        registry: the PTC ``ToolRegistry`` the request's tool names are looked up in
            (default: the demo expense-audit tools, preloaded into the sandbox).
        clock: monotonic seconds, for wall-time limits and durations.
        output_limit: characters of cell output returned to the model per call.
        cell_timeout_seconds: interrupt a single cell after this long (None: service limit).
        stream: set for a streamed turn: the loop streams the model's replies, reports
            progress through it and stops at a safe point when it asks (Claude Code runs
            as usual and reports at the end).
        web_search, web_fetcher: the web backends (``WebSearch``, ``WebFetcher``) a turn
            with ``request.web`` uses; read only then.
    """

    sandbox: Any
    sandbox_session_id: str
    bedrock: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    config: RuntimeConfig = field(default_factory=RuntimeConfig.from_env)
    registry: Any = None
    clock: Callable[[], float] = time.monotonic
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    cell_timeout_seconds: float | None = None
    stream: TurnStream | None = None
    web_search: Any = None
    web_fetcher: Any = None


@dataclass
class AgentRun:
    """A finished turn: the result for the caller, the conversation to persist."""

    result: AgentResult
    history: list[dict[str, Any]]


def run_agent(request: AgentRequest, *, deps: AgentDeps) -> AgentRun:
    """Run one agent turn with the loop the request names.

    Raises:
        ModelNotAllowedError: the model is not on this deployment's allow-list.
        RequestValidationError: an unknown tool name, or a thinking setting the model
            does not take.
        ModelError: the model call failed in a way that ends the turn (translated).
        SandboxError: the sandbox session is gone or refuses service.
    """
    model_id = resolve_model_id(request, deps.config)
    check_thinking(request, model_id)
    check_web(request)
    start = deps.clock()
    if request.loop == "claude_code":
        output, code_runs = claude_code_loop.run(
            request,
            model_id=model_id,
            small_model_id=deps.config.sandbox_small_model_id,
            sandbox=deps.sandbox,
            sandbox_session_id=deps.sandbox_session_id,
            region=deps.bedrock.meta.region_name,
            history=deps.history,
            clock=deps.clock,
        )
    else:
        output, code_runs = _run_bedrock_loop(request, model_id, deps)
    result = AgentResult(
        text=output.text,
        loop=request.loop,
        model_id=model_id,
        session_id=request.session_id,
        stop_reason=output.stop_reason,
        code_runs=code_runs,
        usage=output.usage,
        duration_ms=(deps.clock() - start) * 1000.0,
    )
    logger.info(
        "agent turn done: loop=%s mode=%s stop=%s model_calls=%d code_runs=%d",
        request.loop,
        request.mode,
        output.stop_reason,
        len(output.usage),
        len(code_runs),
    )
    return AgentRun(result=result, history=history_formats.storable(output.history))


def resolve_model_id(request: AgentRequest, config: RuntimeConfig) -> str:
    """The model a turn uses, checked against the models allowed for its loop.

    The one place a model id is chosen: the API checks requests with it before anything
    starts, and every turn resolves through it again. ``claude_code`` runs inside the
    sandbox with the interpreter's execution role, so it may use only
    ``sandbox_model_ids`` (default: the first); every other loop calls Bedrock from the
    Lambda and may use only ``allowed_model_ids`` (default: ``default_model_id``).

    Raises:
        ModelNotAllowedError: naming ``model_id`` and the models allowed for the loop.
    """
    if request.loop == "claude_code":
        allowed = config.sandbox_model_ids or (config.default_model_id,)
        model_id = request.model_id or allowed[0]
        where = "for loop claude_code (models the sandbox may invoke)"
    else:
        allowed = config.allowed_model_ids or (config.default_model_id,)
        model_id = request.model_id or config.default_model_id
        where = "on this deployment"
    if model_id not in allowed:
        raise ModelNotAllowedError(
            f"model {model_id!r} is not enabled {where}; allowed: {', '.join(allowed)}",
            field="model_id",
        )
    return model_id


def check_thinking(request: AgentRequest, model_id: str) -> None:
    """Refuse a ``thinking`` setting the loop or model cannot take, before any model call.

    What a model takes comes from :mod:`code_exec.loops.capabilities`; a model whose
    thinking support is unknown gets the setting as asked and Bedrock decides.

    Raises:
        RequestValidationError: naming ``thinking``, ``thinking.type`` or
            ``thinking.budget_tokens``.
    """
    thinking = request.thinking
    if thinking is None:
        return
    if request.loop == "claude_code":
        raise RequestValidationError(
            "thinking applies to the messages, converse and strands loops; Claude Code "
            "manages its own",
            field="thinking",
        )
    if thinking.type == "enabled":
        if thinking.budget_tokens is None:
            raise RequestValidationError(
                "thinking.budget_tokens is required with type 'enabled'",
                field="thinking.budget_tokens",
            )
        if thinking.budget_tokens >= request.limits.max_tokens:
            raise RequestValidationError(
                f"thinking.budget_tokens ({thinking.budget_tokens}) must be less than "
                f"limits.max_tokens ({request.limits.max_tokens})",
                field="thinking.budget_tokens",
            )
    elif thinking.budget_tokens is not None:
        raise RequestValidationError(
            f"thinking.budget_tokens goes with type 'enabled' only, not {thinking.type!r}",
            field="thinking.budget_tokens",
        )
    accepted = capabilities(model_id).thinking
    if accepted is None:
        return
    if not accepted:
        raise RequestValidationError(
            f"model {model_id!r} takes no thinking setting", field="thinking"
        )
    if thinking.type not in accepted:
        raise RequestValidationError(
            f"model {model_id!r} does not take thinking type {thinking.type!r}; "
            f"allowed: {', '.join(sorted(accepted))}",
            field="thinking.type",
        )


def check_web(request: AgentRequest) -> None:
    """Refuse ``web`` where no web tool can run (Claude Code brings its own tools).

    Raises:
        RequestValidationError: naming ``web``.
    """
    if request.web is not None and request.loop == "claude_code":
        raise RequestValidationError(
            "web applies to the messages, converse and strands loops; Claude Code has its "
            "own WebSearch and WebFetch tools",
            field="web",
        )


def check_tools(names: list[str], registry: Any = None) -> None:
    """Fail fast on a tool name the registry (default: the deployment's) does not offer.

    Raises:
        RequestValidationError: naming ``tools``.
    """
    if names:
        _select_tools(registry if registry is not None else _default_registry(), names)


def _run_bedrock_loop(
    request: AgentRequest, model_id: str, deps: AgentDeps
) -> tuple[LoopOutput, list[CodeRun]]:
    # Imported on use: Strands (and its OpenTelemetry stack) is the heaviest import of the
    # runtime, and a Lambda cold start serving another loop should not pay for it.
    from code_exec.loops import converse, messages, strands

    loops = {"messages": messages.run, "converse": converse.run, "strands": strands.run}
    registry = deps.registry
    if registry is None and request.tools:
        registry = _default_registry()
    selected = _select_tools(registry, request.tools) if request.tools else []
    web = _web_session(request, deps)
    if web is not None:
        web_tools = web.tools()
        taken = {t.name for t in selected} & {t.name for t in web_tools}
        if taken:
            raise RequestValidationError(
                f"the tool {sorted(taken)[0]!r} is given by web; leave it out of tools",
                field="tools",
            )
        selected += web_tools
    executor = None
    if request.mode == "ptc":
        executor, catalogue = _ptc_executor(selected, deps)
        tools: CodeTool | DirectTools = CodeTool(
            executor,
            output_limit=deps.output_limit,
            cell_timeout_seconds=deps.cell_timeout_seconds,
            clock=deps.clock,
            stream=deps.stream,
        )
        system = ptc_system_prompt(catalogue, request.system)
    else:
        tools = DirectTools(selected, stream=deps.stream)
        system = direct_system_prompt(request.system)
    inp = LoopInput(
        prompt=request.prompt,
        model_id=model_id,
        system=system,
        tools=tools,
        limits=request.limits,
        prompt_caching=request.prompt_caching,
        history=history_formats.adapt(deps.history, _FORMATS[request.loop]),
        clock=deps.clock,
        thinking=request.thinking.wire() if request.thinking else None,
        stream=deps.stream,
    )
    try:
        output = loops[request.loop](inp, client=deps.bedrock)
    finally:
        if executor is not None:
            executor.detach()  # the session goes on: keep its runner (and its state) alive
        if web is not None:
            logger.info(
                "web tools: searches=%d fetches=%d", web.search_requests, web.fetch_requests
            )
    return output, list(tools.code_runs)


def _web_session(request: AgentRequest, deps: AgentDeps) -> WebSession | None:
    """The turn's web tools (``request.web``): the fetch rule's URLs are the prompt's, the
    system prompt's and the session history's."""
    options = request.web
    if options is None:
        return None
    limits = WebLimits(
        search_max_uses=options.max_uses,
        fetch_max_uses=options.max_uses,
        allowed_domains=tuple(options.allowed_domains),
        blocked_domains=tuple(options.blocked_domains),
    )
    ledger = UrlLedger()
    ledger.add_text(request.prompt)
    ledger.add_text(request.system or "")
    ledger.add_text(json.dumps(deps.history, default=str))
    return WebSession(
        search_backend=deps.web_search if options.search else None,
        fetch_backend=deps.web_fetcher if options.fetch else None,
        limits=limits,
        ledger=ledger,
    )


# --- PTC registry glue -------------------------------------------------------------------


def _default_registry() -> ptc.ToolRegistry:
    """Every tool module in ``sandbox_assets/`` (each declares ``TOOLS`` and its placement)."""
    return ptc.default_registry()


def _select_tools(registry: Any, names: list[str]) -> list[Any]:
    tools = []
    for name in names:
        try:
            tools.append(registry.get(name))
        except KeyError as e:
            raise RequestValidationError(f"unknown tool {name!r}", field="tools") from e
    return tools


def _ptc_executor(tools: list[Any], deps: AgentDeps) -> tuple[Any, str]:
    """Where cells run, and the tool catalogue for the system prompt.

    Without tools, cells run in the session's kernel. With tools, ``ptc.open_executor``
    preloads them into the kernel or starts (or re-attaches to) the session's bridged
    runner; the runner lives as long as the sandbox session.
    """
    if not tools:
        return ptc.kernel_executor(deps.sandbox, deps.sandbox_session_id), ""

    registry = ptc.ToolRegistry(tools)
    executor = ptc.open_executor(deps.sandbox, deps.sandbox_session_id, registry)
    return executor, registry.catalogue()
