"""One step of the bridged relay: the kernel code that runs it, and what it answers.

A step is ONE ``executeCode`` in the session's kernel. The code imports the sandbox's
``ptc_relay`` module (``sandbox_assets/ptc_relay.py``, sent into ``.bcx/``) and calls its
``step``: that writes what the orchestrator hands in (a cell, the results of tool calls,
the runner's task id), then blocks inside the sandbox, reading local files, until the
cell has new pending tool calls, has finished, or the runner is gone, or a bounded wait
passes, and prints one reply line. The orchestrator therefore never polls the service:
it makes one call per cell plus one per round of tool calls (while nothing happens, one
call per bounded wait).

The step code puts ``.bcx/`` on the *kernel's* ``sys.path`` (inside the sandbox, never this
process's) because that is where ``ptc_relay`` was written; it reloads the module when the
digest of the asset sent differs from the one imported.

The kernel is used only as a waiting room: no model code runs there in a bridged cell,
and the step leaves nothing behind in the kernel's globals.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from code_exec.exceptions import SandboxError, SandboxReplyError
from code_exec.ptc.assets import RUNTIME_DIR, asset_path
from code_exec.sandbox.types import ExecutionResult

__all__ = [
    "CALL_ID_PATTERN",
    "REPLY_MARKER",
    "CellState",
    "PendingCall",
    "parse_reply",
    "step_code",
]

REPLY_MARKER = "&bcx-relay& "  # as in sandbox_assets/ptc_relay.py
CALL_ID_PATTERN = re.compile(r"[0-9a-f]{16}")  # as ptc_bridge.Bridge.call makes them
_ABSENT = json.dumps({"status": "absent", "cell": 0, "pending": []})
_STEP = """\
def __bcx_relay_step__(request, digest):
    import importlib, json, os, sys
    here = os.path.abspath({runtime_dir!r})
    if here not in sys.path:
        sys.path.insert(0, here)
    module = sys.modules.get("ptc_relay")
    try:
        if module is None:
            importlib.invalidate_caches()  # .bcx/ may have appeared since the last look
            module = importlib.import_module("ptc_relay")
        elif getattr(module, "__bcx_digest__", None) != digest:
            module = importlib.reload(module)
    except ImportError:
        print({marker!r} + {absent!r}, flush=True)
        return
    module.__bcx_digest__ = digest
    module.step(json.loads(request))
__bcx_relay_step__({request!r}, {digest!r})
del __bcx_relay_step__
"""


@dataclass(frozen=True)
class PendingCall:
    """A tool call the cell waits on: run it here and deliver its outcome.

    Its id comes out of the sandbox, where a cell can rewrite the bridge's state: only the
    bridge's own pattern (:data:`CALL_ID_PATTERN`, ``uuid4().hex[:16]`` in
    ``sandbox_assets/ptc_bridge.py``) is accepted, so an id can neither grow the container
    record nor name a path outside the bridge's ``results/``.

    Raises:
        SandboxReplyError: an id of any other shape (the reply is not the bridge's).
    """

    id: str
    tool: str
    input: dict[str, Any]

    def __post_init__(self) -> None:
        if not CALL_ID_PATTERN.fullmatch(self.id):
            raise SandboxReplyError(
                f"the bridge relay reported a call id that is not the bridge's "
                f"({len(self.id)} characters, expected 16 lowercase hex digits)"
            )


@dataclass(frozen=True)
class CellState:
    """What one step learned.

    ``status``: ``done`` (``result`` is the cell's), ``pending`` (the cell waits on the new
    ``pending`` calls), ``running`` (the bounded wait passed; ``pending`` may still hold
    calls), ``idle`` (the runner waits for a cell), ``lost`` (no heartbeat), ``stopped``
    or ``absent`` (no runner).
    """

    status: str
    cell: int = 0
    pending: tuple[PendingCall, ...] = ()
    result: ExecutionResult | None = None
    task_id: str | None = None
    token: str | None = None
    runner: str | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.status == "done"


@functools.cache
def _digest() -> str:
    return hashlib.sha256(asset_path("ptc_relay.py").read_bytes()).hexdigest()[:16]


def step_code(request: dict[str, Any]) -> str:
    """Kernel code that runs ``ptc_relay.step(request)`` (and reloads a stale module)."""
    return _STEP.format(
        runtime_dir=RUNTIME_DIR,
        marker=REPLY_MARKER,
        absent=_ABSENT,
        request=json.dumps(request),
        digest=_digest(),
    )


class _Call(BaseModel):
    model_config = ConfigDict(strict=True)

    id: str  # its shape is PendingCall's to check (CALL_ID_PATTERN), with its own message
    tool: str = Field(min_length=1)
    input: dict[str, Any] | None = None


class _Last(BaseModel):
    model_config = ConfigDict(strict=True)

    stdout: str = ""
    stderr: str = ""
    error: Any = None
    seconds: float | None = Field(default=None, strict=False)  # an int is fine too


class _Reply(BaseModel):
    """The reply line ``ptc_relay.step`` prints. It is built from files the cell can rewrite
    (``state.json``), so every field is checked, strictly, before any is used."""

    model_config = ConfigDict(strict=True)

    status: Literal["done", "pending", "running", "idle", "lost", "stopped", "absent", "stale"]
    cell: int = Field(default=0, ge=0)
    pending: list[_Call] = Field(default_factory=list)
    last: _Last | None = None
    task_id: str | None = None
    token: str | None = None
    runner: str | None = None


def parse_reply(result: ExecutionResult) -> CellState:
    """The :class:`CellState` in a step's output.

    A step that printed no reply but was cut short by the service's own limit on a call
    counts as a bounded wait that passed (``running``); any other failure is a
    :class:`SandboxError`, and a reply that is not what the relay prints (a cell rewrote
    the bridge's files) a :class:`SandboxReplyError`.
    """
    line = next(
        (ln for ln in reversed(result.stdout.splitlines()) if ln.startswith(REPLY_MARKER)), None
    )
    if line is None:
        text = (result.stderr or result.text)[-800:]
        if result.exit_code == 124 or "timed out" in text.lower():
            return CellState("running")
        raise SandboxError(f"the bridge relay step failed in the sandbox: {text}")
    try:
        reply = _Reply.model_validate_json(line[len(REPLY_MARKER) :])
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'reply'}: {err['type']}" for err in e.errors()[:3]
        )
        raise SandboxReplyError(f"the bridge relay's reply is malformed ({where})") from None
    last = reply.last or _Last()
    outcome = None
    if reply.status == "done":
        failed = bool(last.error)
        outcome = ExecutionResult(
            stdout=last.stdout,
            stderr=last.stderr,
            exit_code=1 if failed else 0,
            is_error=failed,
            execution_time=last.seconds,
            text=last.stdout + last.stderr,
        )
    return CellState(
        status=reply.status,
        cell=reply.cell,
        pending=tuple(PendingCall(c.id, c.tool, dict(c.input or {})) for c in reply.pending),
        result=outcome,
        task_id=reply.task_id,
        token=reply.token,
        runner=reply.runner,
    )
