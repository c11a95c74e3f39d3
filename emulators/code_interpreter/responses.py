"""Wire serialization: parse REST-JSON requests, call the backend, shape responses.

Errors raised before a stream starts become REST-JSON errors (``x-amzn-ErrorType``);
errors of an ``InvokeCodeInterpreter`` call become exception events inside a 200 stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .backend import CodeInterpreterBackend, Fault
from .eventstream import CONTENT_TYPE, event_frame, exception_frame
from .exceptions import (
    EmulatorError,
    InternalServerException,
    ResourceNotFoundException,
    ValidationException,
)
from .processes import descendants
from .routes import service_model
from .session import READY, TERMINATED, Session
from .websearch import invoke_web_search

__all__ = ["Request", "Response", "dispatch", "dispatch_admin"]

log = logging.getLogger(__name__)
SESSION_HEADER = "x-amzn-code-interpreter-session-id"


@dataclass
class Request:
    """What a handler needs from an HTTP request."""

    method: str
    params: dict[str, str]  # URI labels
    query: dict[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as e:
            raise ValidationException("Request body is not valid JSON", reason="CannotParse") from e
        if not isinstance(data, dict):
            raise ValidationException("Request body must be a JSON object", reason="CannotParse")
        return data


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Response:
        return cls(
            status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()
        )

    @classmethod
    def error(cls, error: EmulatorError) -> Response:
        status, headers, body = error.http_response()
        return cls(status, headers, body)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _session_id(req: Request) -> str:
    sid = req.query.get("sessionId") or req.json().get("sessionId")
    if not sid:
        raise ValidationException("sessionId is required", field="sessionId")
    return sid


def _summary(s: Session) -> dict[str, Any]:
    item = {
        "codeInterpreterIdentifier": s.interpreter_id,
        "sessionId": s.session_id,
        "status": s.status,
        "createdAt": _ts(s.created_at),
        "lastUpdatedAt": _ts(s.last_updated_at),
    }
    if s.name:
        item["name"] = s.name
    return item


# --- operations ---------------------------------------------------------------------------


def start_session(backend: CodeInterpreterBackend, req: Request) -> Response:
    body = req.json()
    interpreter = req.params["codeInterpreterIdentifier"]
    s = backend.start_session(
        interpreter,
        name=body.get("name"),
        timeout_seconds=body.get("sessionTimeoutSeconds"),
        client_token=body.get("clientToken"),
    )
    return Response.json(
        {
            "codeInterpreterIdentifier": s.interpreter_id,
            "sessionId": s.session_id,
            "createdAt": _ts(s.created_at),
        }
    )


def get_session(backend: CodeInterpreterBackend, req: Request) -> Response:
    s = backend.get_session(req.params["codeInterpreterIdentifier"], _session_id(req))
    data = _summary(s)
    data.pop("lastUpdatedAt")
    data["sessionTimeoutSeconds"] = s.timeout_seconds
    return Response.json(data)


def stop_session(backend: CodeInterpreterBackend, req: Request) -> Response:
    s = backend.stop_session(req.params["codeInterpreterIdentifier"], _session_id(req))
    return Response.json(
        {
            "codeInterpreterIdentifier": s.interpreter_id,
            "sessionId": s.session_id,
            "lastUpdatedAt": _ts(s.last_updated_at),
        }
    )


def list_sessions(backend: CodeInterpreterBackend, req: Request) -> Response:
    body = req.json()
    max_results = body.get("maxResults", 10)
    if not isinstance(max_results, int) or not 1 <= max_results <= 100:
        raise ValidationException("maxResults must be between 1 and 100", field="maxResults")
    status = body.get("status")
    if status is not None and status not in (READY, TERMINATED):  # the model's enum
        raise ValidationException(
            f"status must be one of {READY}, {TERMINATED}; got {status!r}", field="status"
        )
    next_token = body.get("nextToken")
    if next_token is not None and (not isinstance(next_token, str) or not next_token):
        raise ValidationException("nextToken must be a non-empty string", field="nextToken")
    items, token = backend.list_sessions(
        req.params["codeInterpreterIdentifier"],
        status=status,
        max_results=max_results,
        next_token=next_token,
    )
    data: dict[str, Any] = {"items": [_summary(s) for s in items]}
    if token:
        data["nextToken"] = token
    return Response.json(data)


def invoke(backend: CodeInterpreterBackend, req: Request) -> Response:
    session_id = req.headers.get(SESSION_HEADER)
    session = backend.ready_session(req.params["codeInterpreterIdentifier"], session_id)
    body = req.json()
    tool = body.get("name")
    if not isinstance(tool, str):
        raise ValidationException("name is required", field="name")
    try:
        result = backend.invoke(session, tool, body.get("arguments") or {})
        frame = event_frame("result", result)
    except EmulatorError as e:
        frame = exception_frame(e)
    except Exception as e:
        if session.status != "READY":
            frame = exception_frame(ResourceNotFoundException("Session was terminated"))
        else:
            log.exception("tool %s failed in session %s", tool, session.session_id)
            frame = exception_frame(InternalServerException(f"{type(e).__name__}: {e}"))
    session.touch()
    headers = {"Content-Type": CONTENT_TYPE, SESSION_HEADER: session.session_id}
    return Response(200, headers, frame)


OPERATIONS: dict[str, Callable[[CodeInterpreterBackend, Request], Response]] = {
    "StartCodeInterpreterSession": start_session,
    "GetCodeInterpreterSession": get_session,
    "StopCodeInterpreterSession": stop_session,
    "ListCodeInterpreterSessions": list_sessions,
    "InvokeCodeInterpreter": invoke,
    "InvokeWebSearch": invoke_web_search,
}


def _account(headers: Mapping[str, str]) -> str:
    """The access key id a SigV4 request was signed with (the caller's account, here)."""
    auth = headers.get("authorization", "")
    _, _, credential = auth.partition("Credential=")
    return credential.split("/", 1)[0] or "anonymous"


def dispatch(backend: CodeInterpreterBackend, operation: str, req: Request) -> Response:
    """Run one operation; every :class:`EmulatorError` becomes a REST-JSON error."""
    try:
        session_id = req.headers.get(SESSION_HEADER) or req.query.get("sessionId")
        backend.admit(operation, session_id, _account(req.headers))
        fault = backend.take_fault(session_id, "http", operation)
        if fault is not None:
            raise fault
        return OPERATIONS[operation](backend, req)
    except EmulatorError as e:
        return Response.error(e)
    except Exception as e:
        log.exception("%s failed", operation)
        return Response.error(InternalServerException(f"{type(e).__name__}: {e}"))


# --- admin endpoints (/_emulator/...) -----------------------------------------------------


def _check_declared(fault: Fault) -> None:
    """An injected REST-JSON error must be one the service model lets the operation raise."""
    if fault.mode != "http":
        return
    if fault.operation not in OPERATIONS:
        raise ValidationException(
            f"operation must be one of {sorted(OPERATIONS)}", field="operation"
        )
    try:
        code = fault.build().code
    except KeyError:
        raise ValidationException(f"Unknown exception {fault.error!r}", field="error") from None
    declared = {s.name for s in service_model().operation_model(fault.operation).error_shapes}
    if code not in declared:
        raise ValidationException(
            f"{fault.operation} cannot fail with {code} (the model declares {sorted(declared)})",
            field="exception",
        )


def dispatch_admin(backend: CodeInterpreterBackend, path: str, req: Request) -> Response:
    """Test hooks: health, fault injection, session internals, data-plane call counts."""
    try:
        if path == "/_emulator/health" and req.method == "GET":
            return Response.json({"status": "ok", **backend.stats()})
        if path == "/_emulator/faults" and req.method == "POST":
            body = req.json()
            error = body.get("exception") or body.get("error")
            if not isinstance(error, str):
                raise ValidationException("exception is required", field="exception")
            fault = Fault(
                error=error,
                message=str(body.get("message") or "Injected fault"),
                session_id=body.get("sessionId"),
                mode=str(body.get("mode") or "stream"),
                count=int(body.get("count") or 1),
                operation=str(body.get("operation") or "InvokeCodeInterpreter"),
            )
            _check_declared(fault)
            backend.inject_fault(fault)
            return Response.json({"ok": True})
        if path == "/_emulator/faults" and req.method == "DELETE":
            backend.clear_faults()
            return Response.json({"ok": True})
        if path.startswith("/_emulator/sessions/") and path.endswith("/calls"):
            sid = path.removeprefix("/_emulator/sessions/").removesuffix("/calls")
            if req.method != "GET":
                raise ValidationException("use GET", field="method")
            return Response.json({"sessionId": sid, **backend.traffic.of(sid).to_dict()})
        if path.startswith("/_emulator/sessions/") and path.endswith("/processes"):
            sid = path.removeprefix("/_emulator/sessions/").removesuffix("/processes")
            if req.method != "GET":
                raise ValidationException("use GET", field="method")
            pids = backend.find_session(sid).sandbox.pids()
            return Response.json({"sessionId": sid, "processes": descendants(pids)})
        if path.startswith("/_emulator/sessions/") and req.method == "GET":
            sid = path.rsplit("/", 1)[-1]
            s = (
                backend.get_session(req.query.get("codeInterpreterIdentifier", ""), sid)
                if ("codeInterpreterIdentifier" in req.query)
                else backend.find_session(sid)
            )
            return Response.json(
                {
                    "sessionId": s.session_id,
                    "status": s.status,
                    "hostRoot": str(s.sandbox.root),
                    "hostWorkspace": str(s.sandbox.workspace),
                    "sandboxWorkdir": s.sandbox.inner_workdir,
                    "isolated": s.sandbox.isolated,
                    "quotaMounted": s.sandbox.quota_mounted,
                    "cgroups": [str(c) for c in s.sandbox.cgroups],
                    "tasks": sorted(s.tasks),
                }
            )
    except EmulatorError as e:
        return Response.error(e)
    return Response.error(ResourceNotFoundException(f"No admin endpoint {req.method} {path}"))
