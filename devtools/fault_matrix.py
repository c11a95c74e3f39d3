"""The fault matrix: every external operation the runtime calls x how it can fail → what a
client sees. One table, read by the tests that inject each cell (``tests/runtime/
test_fault_matrix.py``) and by the generator of ``docs/faults.md`` (:mod:`devtools.faults_report`).

**Rows** are the operations the runtime calls, derived from its source (:func:`called_operations`:
every call of a boto3 operation on a client, every operation named to the sandbox client, every
``InvokeCodeInterpreter`` tool named in the sandbox client); a test fails when the source calls
an operation that has no row here, or a row names one the source no longer calls. Each row says
which public entry point drives it (its *drive*, implemented in ``tests/runtime/fault_drive.py``).

**Columns** are :class:`~devtools.fault_injection.Fault`: throttling, a 5xx, a connection reset,
a read timeout, AccessDenied, and for event streams an error event after the first chunk.

**Cells** give the expected client-visible outcome, from the shared error contract: a throttled
dependency → 429 with ``Retry-After``; a transient failure (5xx, reset, timeout) → 503 with
``Retry-After``; AccessDenied → 502 (a deployment error, nothing to retry). Where the runtime
absorbs the failure (cleanup that the sweeper redoes) the client sees a success.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.fault_injection import Fault, Target

__all__ = [
    "ANTHROPIC_DRIVES",
    "COLUMNS",
    "DRIVES",
    "EVENT_DRIVES",
    "ROWS",
    "Outcome",
    "Row",
    "called_operations",
    "cells",
    "expected",
]

RUNTIME = Path(__file__).resolve().parents[1] / "lambda" / "code_exec"
COLUMNS = tuple(Fault)
_PLAIN = (
    Fault.THROTTLING,
    Fault.SERVER_ERROR,
    Fault.CONNECTION_RESET,
    Fault.READ_TIMEOUT,
    Fault.ACCESS_DENIED,
)


@dataclass(frozen=True)
class Outcome:
    """What the client sees: HTTP status (or the streamed error event's), error code, whether
    ``Retry-After`` is sent, and what the user does about it."""

    status: int
    code: str | None
    retry_after: bool
    action: str

    def seen(self) -> tuple[int, str | None, bool]:
        return self.status, self.code, self.retry_after


# What each public entry point is, for the reader of docs/faults.md.
DRIVES = {
    "execute": "POST /sessions/{id}/execute (a running session; an input and an output file)",
    "execute_new": "POST /sessions/{id}/execute (a new named session)",
    "execute_command": "POST /sessions/{id}/execute with a shell command",
    "execute_s3_input": "POST /sessions/{id}/execute with an input file from the bucket",
    "delete": "DELETE /sessions/{id}",
    "invoke_converse": "POST /invoke (loop converse, a running session)",
    "invoke_messages": "POST /invoke (loop messages, a running session)",
    "stream_converse": "POST /invoke/stream (loop converse, a running session)",
    "stream_v1": "POST /v1/messages with stream: true (streaming function)",
    "job_submit": "POST /jobs (an input file from the bucket)",
    "job_status": "GET /jobs/{id} while the job runs",
    "v1_files": "GET /v1/files (the owner's file list)",
    "v1_count_tokens": "POST /v1/messages/count_tokens (API function)",
    "v1_skill_version_delete": "DELETE /v1/skills/{id}/versions/{version} (its zip, then its item)",
    "sweep": "the sweeper (EventBridge schedule), with one leaked session",
    "claude_code": "POST /invoke (loop claude_code: a background command in the sandbox)",
    "v1_bash": "POST /v1/messages: a bash call that outlives the request (stopped at its end)",
    "web_search": "services.web_search.search (the backend of the web_search tools; a route "
    "drives it once one calls it): status 200 = the turn goes on, the model sees the code",
}


@dataclass(frozen=True)
class Row:
    """One operation, the entry point that drives it, and the faults it is tested with."""

    target: Target
    drive: str
    dependency: str  # sandbox, model, dynamodb, s3, stepfunctions
    # Faults the client never sees (cleanup redone by the sweeper): the outcome is a success.
    absorbed: tuple[Fault, ...] = ()
    # Outcomes that differ from the contract's rule for a reason the reader must know.
    special: tuple[tuple[Fault, Outcome], ...] = ()
    # Called once the code has run (collecting its outputs): a failure is reported in the
    # answer's ``after_run_errors`` with the contract's code, never as an error status that
    # would lose the result and make the client's retry run the code again.
    after_run: bool = False

    @property
    def stream(self) -> bool:
        return self.target.operation in ("ConverseStream", "InvokeModelWithResponseStream")

    @property
    def faults(self) -> tuple[Fault, ...]:
        return (*_PLAIN, Fault.MID_STREAM) if self.stream else _PLAIN


# S3 answers 403 for a key that does not exist when the caller may not list the bucket, so a
# refused read of a client-named input is that input's fault: 400 naming ``files.N.s3_key``.
_DENIED_AS_MISSING = (
    (
        Fault.ACCESS_DENIED,
        Outcome(
            400,
            "ValidationError",
            False,
            "check the named s3_key exists (S3 answers 403 for a missing key when the role "
            "may not list the bucket)",
        ),
    ),
)


# A HEAD answer has no body, so S3's SlowDown on HeadObject is a bare 503: the client cannot be
# told "throttled" apart from "unavailable"; both answers carry Retry-After.
_HEAD = (
    *_DENIED_AS_MISSING,
    (
        Fault.THROTTLING,
        Outcome(503, "DependencyUnavailable", True, "retry after Retry-After seconds"),
    ),
)


def _ac(op: str, drive: str, tool: str | None = None, **kw: Any) -> Row:
    return Row(Target("bedrock-agentcore", op, tool), drive, "sandbox", **kw)


def _icp(tool: str, drive: str, **kw: Any) -> Row:
    return _ac("InvokeCodeInterpreter", drive, tool, **kw)


_MODEL_SEES = (
    "nothing: the model sees a web_search_tool_result_error with this code and may search "
    "again or answer without it; the turn goes on"
)
# A failed search is a tool result the model reads (Anthropic's error codes), not an HTTP
# error; only AccessDenied (a deployment error) ends the turn.
_WEB_SEARCH = (
    (Fault.THROTTLING, Outcome(200, "too_many_requests", False, _MODEL_SEES)),
    (Fault.SERVER_ERROR, Outcome(200, "unavailable", False, _MODEL_SEES)),
    (Fault.CONNECTION_RESET, Outcome(200, "unavailable", False, _MODEL_SEES)),
    (Fault.READ_TIMEOUT, Outcome(200, "unavailable", False, _MODEL_SEES)),
)

ROWS: tuple[Row, ...] = (
    _ac("StartCodeInterpreterSession", "execute_new"),
    _ac("StopCodeInterpreterSession", "delete"),
    _ac("GetCodeInterpreterSession", "execute"),
    _ac("ListCodeInterpreterSessions", "sweep"),
    _icp("executeCode", "execute"),
    _icp("executeCommand", "execute_command"),
    _icp("writeFiles", "execute"),
    _icp("readFiles", "execute", after_run=True),
    _icp("listFiles", "execute", after_run=True),
    _icp("removeFiles", "execute", after_run=True),
    _icp("startCommandExecution", "claude_code"),
    _icp("getTask", "claude_code"),
    # Stopping a command at its request's end is cleanup: when the stop fails, the turn still
    # answers (pause_turn) and the command ends with its container's session at the latest.
    _icp("stopTask", "v1_bash", absorbed=_PLAIN),
    Row(Target("bedrock-agentcore", "InvokeWebSearch"), "web_search", "web", special=_WEB_SEARCH),
    Row(Target("bedrock-runtime", "Converse"), "invoke_converse", "model"),
    Row(Target("bedrock-runtime", "InvokeModel"), "invoke_messages", "model"),
    Row(Target("bedrock-runtime", "ConverseStream"), "stream_converse", "model"),
    Row(Target("bedrock-runtime", "InvokeModelWithResponseStream"), "stream_v1", "model"),
    Row(Target("bedrock-runtime", "CountTokens"), "v1_count_tokens", "model"),
    Row(Target("dynamodb", "GetItem"), "delete", "dynamodb"),
    Row(Target("dynamodb", "PutItem"), "job_submit", "dynamodb"),
    Row(Target("dynamodb", "UpdateItem"), "execute", "dynamodb"),
    Row(Target("dynamodb", "DeleteItem"), "delete", "dynamodb"),
    Row(Target("dynamodb", "Query"), "v1_files", "dynamodb"),
    Row(Target("s3", "PutObject"), "execute", "s3", after_run=True),
    Row(Target("s3", "GetObject"), "execute_s3_input", "s3", special=_DENIED_AS_MISSING),
    Row(Target("s3", "HeadObject"), "job_submit", "s3", special=_HEAD),
    Row(Target("s3", "DeleteObject"), "v1_skill_version_delete", "s3"),
    Row(Target("stepfunctions", "StartExecution"), "job_submit", "stepfunctions"),
    Row(Target("stepfunctions", "DescribeExecution"), "job_status", "stepfunctions"),
)

_RETRY = "retry after Retry-After seconds"
_ABSORBED = (
    "nothing: the request answers as usual; what the failed call left behind ends later "
    "(the sweeper, or the sandbox session's end)"
)
_AGAIN = "send the request again (the stream ended in an error event)"
_DEPLOY = "fix the deployment's IAM grants (a configuration error): retrying does not help"
_AFTER_RUN = (
    "nothing to redo: the answer has the code's result, and after_run_errors names the "
    "failure (its code; retry_after in the entry); files not collected stay in outputs/ and "
    "the next request on the session returns them"
)


def _codes(row: Row) -> tuple[str, str, str, str]:
    """(throttled, unavailable, timed out, denied) error codes of the row's dependency."""
    if row.dependency == "sandbox":
        return "SandboxThrottled", "SandboxInternalError", "SandboxTimeout", "SandboxAccessDenied"
    if row.dependency == "model":
        return "ModelThrottled", "ModelError", "ModelError", "ModelAccessDenied"
    return "Throttled", "DependencyUnavailable", "DependencyUnavailable", "DependencyAccessDenied"


# Streamed entry points whose stream starts before the model is called (the ``start`` event
# follows the sandbox's start): a model failure is an ``error`` event, with no header to carry
# ``Retry-After``. ``/v1/messages`` streams only once the model answered: its early failures
# are HTTP errors like a buffered route's.
EVENT_DRIVES = frozenset({"stream_converse"})
# Entry points that answer in Anthropic's envelope (``error.type``; 529 for "overloaded").
ANTHROPIC_DRIVES = frozenset(
    {"stream_v1", "v1_files", "v1_count_tokens", "v1_skill_version_delete"}
)


def _anthropic(row: Row, fault: Fault) -> Outcome:
    """``/v1``: Anthropic's statuses and ``error.type`` (``code_exec/anthropic/errors.py``):
    a dependency down or silent is ``overloaded_error`` (the SDK retries it after
    ``retry-after``)."""
    if fault is Fault.THROTTLING:
        return Outcome(429, "rate_limit_error", True, _RETRY)
    if fault is Fault.ACCESS_DENIED:
        if row.dependency == "model":
            return Outcome(403, "permission_error", False, _DEPLOY)
        return Outcome(500, "api_error", False, _DEPLOY)
    if fault is Fault.READ_TIMEOUT and row.dependency == "sandbox":
        return Outcome(504, "timeout_error", True, _RETRY)
    if fault is Fault.MID_STREAM:
        return Outcome(529, "overloaded_error", False, _AGAIN)
    return Outcome(529, "overloaded_error", True, _RETRY)


def expected(row: Row, fault: Fault) -> Outcome:
    """The contract's client-visible outcome of ``fault`` on ``row``."""
    if fault in row.absorbed:
        return Outcome(200, None, False, _ABSORBED)
    for special, outcome in row.special:
        if special is fault:
            return outcome
    outcome = _anthropic(row, fault) if row.drive in ANTHROPIC_DRIVES else _ours(row, fault)
    if row.after_run:
        return Outcome(200, outcome.code, False, _AFTER_RUN)
    if outcome.retry_after and row.drive in EVENT_DRIVES:  # the headers went out with 200
        return Outcome(outcome.status, outcome.code, False, _AGAIN)
    return outcome


def _ours(row: Row, fault: Fault) -> Outcome:
    """The API's own routes (``{"error": {"code", ...}}``) and the sweeper."""
    throttled, unavailable, timed_out, denied = _codes(row)
    if fault is Fault.THROTTLING:
        return Outcome(429, throttled, True, _RETRY)
    if fault is Fault.ACCESS_DENIED:
        return Outcome(502, denied, False, _DEPLOY)
    if fault is Fault.READ_TIMEOUT:
        return Outcome(503, timed_out, True, _RETRY)
    if fault is Fault.MID_STREAM:
        return Outcome(503, unavailable, False, _AGAIN)
    return Outcome(503, unavailable, True, _RETRY)


def cells() -> list[tuple[Row, Fault]]:
    """Every (row, fault) the matrix tests."""
    return [(row, fault) for row in ROWS for fault in row.faults]


# --- rows derived from the source -----------------------------------------------------------

_SERVICES = ("bedrock-agentcore", "bedrock-runtime", "dynamodb", "s3", "stepfunctions")
_TOOL_FILE = RUNTIME / "sandbox" / "client.py"


def called_operations(root: Path = RUNTIME) -> set[Target]:
    """Every AWS operation the runtime's source calls (see the module docstring).

    A method call ``<x>.<snake_case_operation>(...)`` on anything but ``self`` counts for the
    services the runtime uses, and so does a string naming an operation passed to the sandbox
    client's ``_call``. InvokeCodeInterpreter is split into the tools the sandbox client
    names (the ``ToolName`` enum of botocore's model).
    """
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    ops: dict[str, tuple[str, str]] = {}
    tools: set[str] = set()
    for service in _SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            ops.setdefault(xform_name(name), (service, name))
        if service == "bedrock-agentcore":
            shape = model.operation_model("InvokeCodeInterpreter").input_shape.members["name"]
            tools = set(shape.enum)
    found: set[Target] = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ops and _on_client(func.value):
                found.add(Target(*ops[func.attr]))
            if isinstance(func, ast.Attribute) and func.attr == "_call" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and first.value in ops:
                    found.add(Target(*ops[str(first.value)]))
    invoke = Target("bedrock-agentcore", "InvokeCodeInterpreter")
    if invoke in found:
        found.discard(invoke)
        named = set(re.findall(r'"([a-zA-Z]+)"', _TOOL_FILE.read_text())) & tools
        found |= {Target(invoke.service, invoke.operation, tool) for tool in named}
    return found


def _on_client(value: ast.expr) -> bool:
    """A receiver that can be a client: not ``self`` itself, nor a repository of ours."""
    if isinstance(value, ast.Name):
        return value.id != "self"
    if isinstance(value, ast.Attribute):
        return value.attr not in ("sessions", "sandbox", "store", "files", "ops")
    return True
