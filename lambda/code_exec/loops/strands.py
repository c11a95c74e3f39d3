"""The ``strands`` loop: a Strands ``Agent`` with a ``BedrockModel`` and the sandbox as its tool.

Strands runs the loop; we give it the tools, the limits and the client:

* ``BedrockModel`` calls ``Converse`` on OUR bedrock-runtime client (``deps.bedrock``),
  so retries, endpoints and recorded replays are the same as in the other loops. A
  streamed turn (``LoopInput.stream``) uses ``streaming=True`` (``ConverseStream``): the
  raw stream events reach the callback handler, which forwards them through the shared
  :class:`~code_exec.loops.model_deltas.ConverseReader`, and the stream's cancel signal is
  Strands' own ``cancel_signal`` (it stops at the next chunk, or before the next tool or
  model call, and drops a reply cut mid-stream).
* PTC mode: one ``execute_code`` tool written with Strands' ``@tool``; direct mode:
  each registered tool as a ``PythonAgentTool``. Tools run one at a time
  (``SequentialToolExecutor``): a sandbox session takes one invocation at a time.
* ``max_turns`` is Strands' own ``limits={"turns": n}``; the wall-time limit is
  checked after every tool batch and stops the agent before its next model call.

History is Strands' message list (Converse format), returned as the agent left it.
Thinking round-trips through Strands itself: ``BedrockModel`` keeps each
``reasoningContent`` block (text and signature, or redacted content) in the assistant
message and sends signed blocks back to Claude models unchanged, in order (proven by the
recorded thinking turns in the tests). ``thinking`` is passed as
``additional_request_fields`` only when the caller set it; Strands sends ``toolChoice``
``auto`` (it forces a tool only for structured output, which this loop does not use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from strands import Agent, tool
from strands.hooks import AfterToolsEvent, HookProvider, HookRegistry
from strands.models.bedrock import BedrockModel
from strands.models.model import CacheConfig
from strands.tools.executors import SequentialToolExecutor
from strands.tools.tools import PythonAgentTool
from strands.types.exceptions import (
    ContextWindowOverflowException,
    MaxTokensReachedException,
    ModelThrottledException,
)

from code_exec.exceptions import ModelError, ModelThrottledError
from code_exec.loops.capabilities import ModelCapabilities, capabilities
from code_exec.loops.common import (
    CONVERSE_USAGE,
    Budget,
    LoopInput,
    LoopOutput,
    StopReason,
    Tools,
    finish,
    model_error,
    model_usage,
    with_prompt,
)
from code_exec.loops.converse import block_text, system_blocks, text_block
from code_exec.loops.events import TurnStream
from code_exec.loops.model_deltas import ConverseReader
from code_exec.models import ModelUsage

__all__ = ["run"]

_STOP_REASONS = {"limit_turns": StopReason.MAX_TURNS, "cancelled": StopReason.INTERRUPTED}
# What Strands (1.62, event_loop/streaming.py) appends for a reply cut by its cancel signal.
_CANCELLED = [{"text": "Cancelled by user"}]


def run(inp: LoopInput, *, client: Any) -> LoopOutput:
    """Run one agent turn. ``client`` is a boto3 ``bedrock-runtime`` client."""
    caps = capabilities(inp.model_id)
    budget = Budget(inp.limits, inp.clock)
    wall_time = _WallTime(budget)
    history, prompt = _split_prompt(inp.history, inp.prompt)
    agent = Agent(
        model=_model(inp, caps, client),
        messages=cast(Any, history),
        tools=_strands_tools(inp.tools, caps),
        system_prompt=cast(Any, system_blocks(inp, caps)),
        callback_handler=_Forward(inp.stream, inp.model_id) if inp.stream else None,
        tool_executor=SequentialToolExecutor(),
        hooks=[wall_time],
        retry_strategy=None,  # the boto3 client retries throttling itself
    )
    stop: str
    try:
        result = agent(
            prompt,
            limits={"turns": inp.limits.max_turns},
            cancel_signal=inp.stream.cancel if inp.stream else None,
        )
        stop = wall_time.stopped or _STOP_REASONS.get(result.stop_reason, result.stop_reason)
    except MaxTokensReachedException:
        stop = StopReason.MAX_TOKENS
    except ModelThrottledException as e:
        raise ModelThrottledError(f"Bedrock throttled the call to {inp.model_id}") from e
    except ContextWindowOverflowException as e:
        raise ModelError(f"the conversation no longer fits the context of {inp.model_id}") from e
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, inp.model_id) from e
    messages = cast(list[dict[str, Any]], list(agent.messages))
    if stop == StopReason.INTERRUPTED and messages and messages[-1]["content"] == _CANCELLED:
        messages.pop()  # Strands' stand-in for the reply it cut: dropped, as in the other loops
    return finish("strands", messages, stop, _usage(agent, inp.model_id), block_text)


# --- setup -----------------------------------------------------------------------------


def _model(inp: LoopInput, caps: ModelCapabilities, client: Any) -> BedrockModel:
    config: dict[str, Any] = {
        "model_id": inp.model_id,
        "max_tokens": inp.limits.max_tokens,
        "streaming": inp.stream is not None,
        "include_tool_result_status": caps.tool_result_status,
    }
    if inp.thinking is not None:
        config["additional_request_fields"] = {"thinking": inp.thinking}
    if inp.prompt_caching and caps.cache_tools:
        # Anthropic-style caching: a point after the tools (and the system prompt we mark),
        # plus Strands' own moving point on the conversation.
        config["cache_config"] = CacheConfig(strategy="anthropic", tools_ttl=True)
    # One bedrock-runtime client for every loop: Strands asks its session for one, and gets ours.
    return BedrockModel(boto_session=cast(Any, _OurClient(client)), **config)


class _OurClient:
    """The session ``BedrockModel`` makes its client from, answering with ours.

    Strands builds a bedrock-runtime client at every ``BedrockModel()``, i.e. at every request
    (~4 ms of CPU: the client class, its endpoint, its copy of the session's event hooks);
    ours replaced it anyway. The region is the client's own.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.region_name = client.meta.region_name

    def client(self, *_: Any, **__: Any) -> Any:
        """Ours, whatever Strands asks for (it adds its user agent and read timeout)."""
        return self._client


class _Forward:
    """A Strands callback handler passing each raw ConverseStream event to our reader
    (a fresh reader per model call: each stream starts with ``messageStart``)."""

    def __init__(self, stream: TurnStream, model_id: str) -> None:
        self._stream, self._model_id = stream, model_id
        self._reader = ConverseReader(stream, model_id)

    def __call__(self, **kwargs: Any) -> None:
        event = kwargs.get("event")
        if not isinstance(event, dict):
            return
        if "messageStart" in event:
            self._reader = ConverseReader(self._stream, self._model_id)
        self._reader.feed(event)


def _strands_tools(tools: Tools, caps: ModelCapabilities) -> list[Any]:
    """Our tools as Strands tools: ``execute_code`` through ``@tool``, the rest as specs."""
    worded = _worded if not caps.tool_result_status else _plain
    result: list[Any] = []
    for spec in tools.specs:
        if spec.name == "execute_code":
            result.append(_execute_code_tool(tools, spec.description, worded))
        else:
            spec_schema = spec.input_schema
            result.append(_direct_tool(tools, spec.name, spec.description, spec_schema, worded))
    return result


def _execute_code_tool(tools: Tools, description: str, worded: Callable[..., str]) -> Any:
    @tool(name="execute_code", description=description)
    def execute_code(code: str) -> dict[str, Any]:
        """Run Python code in the session's sandbox and return what it printed.

        Args:
            code: Python source to run; top-level await is allowed.
        """
        outcome = tools.run("execute_code", {"code": code})
        return {
            "status": "error" if outcome.is_error else "success",
            "content": [{"text": worded(outcome.text, outcome.is_error)}],
        }

    return execute_code


def _direct_tool(
    tools: Tools,
    name: str,
    description: str,
    schema: dict[str, Any],
    worded: Callable[..., str],
) -> Any:
    def call(tool_use: dict[str, Any], **_: Any) -> dict[str, Any]:
        outcome = tools.run(name, tool_use.get("input") or {})
        return {
            "toolUseId": tool_use["toolUseId"],
            "status": "error" if outcome.is_error else "success",
            "content": [{"text": worded(outcome.text, outcome.is_error)}],
        }

    spec = {"name": name, "description": description, "inputSchema": {"json": schema}}
    return PythonAgentTool(name, spec, call)  # type: ignore[arg-type]


def _plain(text: str, is_error: bool) -> str:
    return text or ("Error" if is_error else "(no output)")


def _worded(text: str, is_error: bool) -> str:
    # The model takes no toolResult status (Strands drops it): say it in words.
    return f"Error: {text}" if is_error else _plain(text, is_error)


class _WallTime(HookProvider):
    """Stops the agent before its next model call once the wall-time limit has passed."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self.stopped: str | None = None

    def register_hooks(self, registry: HookRegistry, **_: Any) -> None:
        registry.add_callback(AfterToolsEvent, self._after_tools)

    def _after_tools(self, event: AfterToolsEvent) -> None:
        if self._budget.out_of_time():
            self.stopped = StopReason.WALL_TIME
            event.agent.cancel()


# --- result ----------------------------------------------------------------------------


def _split_prompt(history: list[dict[str, Any]], prompt: str) -> tuple[list[dict[str, Any]], Any]:
    """History and the agent's input: a trailing user message (tool results) takes the prompt."""
    if history and history[-1]["role"] == "user":
        return with_prompt(history, prompt, text_block), None
    return [dict(m) for m in history], prompt


def _usage(agent: Agent, model_id: str) -> list[ModelUsage]:
    invocations = agent.event_loop_metrics.agent_invocations
    cycles = invocations[-1].cycles if invocations else []
    usage = []
    for cycle in cycles:
        u = cycle.usage
        if not u.get("inputTokens") and not u.get("outputTokens"):
            continue  # a cycle that never reached the model
        usage.append(model_usage(cast(dict[str, Any], u), model_id, CONVERSE_USAGE))
    return usage
