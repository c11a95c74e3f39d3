"""Check every response the emulator sends against botocore's ``bedrock-agentcore`` model.

The emulator is only useful if it answers exactly like the service, and botocore parses
leniently (it drops members it does not know and never checks enums), so a client test
alone would not notice a drift. With ``check_responses`` on, the server hands each
response to :func:`check_response` before sending it, and a :class:`ConformanceLog`
keeps what did not match; the test suite reads that log and fails on any entry.

What is checked, all from the service model (nothing here restates it):

- the HTTP status: the operation's ``responseCode`` on success, the error shape's
  ``httpStatusCode`` on an error, and that the error is one the operation declares;
- JSON bodies against the output (or error) shape: required members present, no member
  the shape does not define, each value of the right type (string, integer, long, float,
  double, boolean, timestamp in the member's format, base64 blob, list, map, structure,
  union with exactly one member), enum values, string lengths and patterns, number and
  list ranges;
- members bound to headers (``x-amzn-code-interpreter-session-id``) and the content type;
- an event stream frame by frame: each message's ``:message-type``, its ``:event-type``
  or ``:exception-type`` naming a member of the stream's union that is an event or an
  exception, ``:content-type``, and the JSON payload against that member's shape.

Two answers exist only in the emulator and are accepted where they belong:
``NotImplementedException`` (501) for an operation of the model the emulator does not
implement, and ``UnknownOperationException`` (404) for a request no operation matches.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.eventstream import EventStreamBuffer, ParserError
from botocore.model import Shape, StructureShape

from .routes import service_model

__all__ = [
    "EMULATOR_ERRORS",
    "ConformanceLog",
    "check_payload",
    "check_response",
]

JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"
# Errors the service model does not have: status, and when the emulator may send them.
EMULATOR_ERRORS = {"NotImplementedException": 501, "UnknownOperationException": 404}
_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_ISO8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def check_response(
    operation: str | None,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    implemented: bool = True,
) -> list[str]:
    """Every way one HTTP response differs from what the service model allows.

    Args:
        operation: The operation the request was routed to; None when no route matched.
        status: The HTTP status code sent.
        headers: The response headers sent (any case).
        body: The response body sent.
        implemented: False when the emulator does not implement ``operation``.

    Returns:
        Problems, each naming the member path; empty when the response conforms.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    problems: list[str] = []
    if "x-amzn-requestid" not in lower:
        problems.append("header x-amzn-RequestId is missing")
    error = lower.get("x-amzn-errortype")
    if error is not None or status >= 300:
        return problems + _check_error(operation, status, error, lower, body, implemented)
    if operation is None or not implemented:
        return [*problems, f"status {status} for a request the emulator does not serve"]
    op = service_model().operation_model(operation)
    want = int(op.http.get("responseCode", 200))
    if status != want:
        problems.append(f"status {status}, the model says {want}")
    output = op.output_shape
    if output is None:
        return problems + ([] if not body else ["a body where the model defines no output"])
    problems += _check_header_members(output, lower)
    payload = output.serialization.get("payload")
    if payload and output.members[payload].serialization.get("eventstream"):
        if lower.get("content-type") != EVENT_STREAM:
            problems.append(f"content type {lower.get('content-type')!r}, not {EVENT_STREAM}")
        return problems + check_stream(output.members[payload], body)
    if lower.get("content-type") != JSON:
        problems.append(f"content type {lower.get('content-type')!r}, not {JSON}")
    return problems + _check_json(output, body, operation, body_only=True)


def check_stream(stream: Shape, body: bytes) -> list[str]:
    """Decode an event stream and check each message against the stream's union shape."""
    assert isinstance(stream, StructureShape)
    problems: list[str] = []
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    seen = 0
    try:
        for index, message in enumerate(buffer):
            seen += message.prelude.total_length
            problems += _check_message(stream, index, message.headers, message.payload)
    except ParserError as e:
        return [*problems, f"stream does not decode: {type(e).__name__}: {e}"]
    if seen != len(body):
        problems.append(f"stream has {len(body) - seen} trailing bytes that are no message")
    return problems


def check_payload(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every way ``value`` (parsed JSON) differs from ``shape``; ``path`` prefixes messages."""
    problems: list[str] = []
    _check_value(shape, value, path or shape.name, problems)
    return problems


# --- errors -----------------------------------------------------------------------------


def _check_error(
    operation: str | None,
    status: int,
    error: str | None,
    headers: Mapping[str, str],
    body: bytes,
    implemented: bool,
) -> list[str]:
    if error is None:
        return [f"status {status} without an x-amzn-ErrorType header"]
    problems: list[str] = []
    if headers.get("content-type") != JSON:
        problems.append(f"error content type {headers.get('content-type')!r}, not {JSON}")
    if error in EMULATOR_ERRORS:
        allowed = (error == "UnknownOperationException" and operation is None) or (
            error == "NotImplementedException" and operation is not None and not implemented
        )
        if not allowed:
            problems.append(f"{error} for {operation or 'no operation'}, where it cannot occur")
        if status != EMULATOR_ERRORS[error]:
            problems.append(f"{error} with status {status}, not {EMULATOR_ERRORS[error]}")
        try:
            data = json.loads(body)
        except ValueError:
            return [*problems, f"{error} body is not JSON"]
        if not isinstance(data, dict) or set(data) != {"message"}:
            problems.append(f"{error} body must be exactly {{'message': ...}}: {data!r}")
        return problems
    if operation is None or not implemented:
        return [*problems, f"{error} for a request the emulator does not serve"]
    op = service_model().operation_model(operation)
    shapes = {s.name: s for s in op.error_shapes}
    shape = shapes.get(error)
    if shape is None:
        return [*problems, f"{operation} cannot fail with {error}; it declares {sorted(shapes)}"]
    want = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    if status != want:
        problems.append(f"{error} with status {status}, the model says {want}")
    return problems + _check_json(shape, body, error, body_only=True)


# --- JSON bodies and headers -----------------------------------------------------------


def _check_json(shape: Shape, body: bytes, what: str, *, body_only: bool) -> list[str]:
    try:
        data = json.loads(body) if body else {}
    except ValueError as e:
        return [f"{what}: body is not JSON ({e})"]
    assert isinstance(shape, StructureShape)
    problems: list[str] = []
    _check_structure(shape, data, what, problems, body_only=body_only)
    return problems


def _check_header_members(output: StructureShape, headers: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    for name, member in output.members.items():
        if member.serialization.get("location") != "header":
            continue
        wire = member.serialization.get("name", name).lower()
        if wire in headers:
            _check_value(member, headers[wire], f"header {wire}", problems)
        elif name in output.required_members:
            problems.append(f"required header {wire} is missing")
    return problems


def _check_message(
    stream: StructureShape, index: int, headers: Mapping[str, Any], payload: bytes
) -> list[str]:
    where = f"event {index}"
    kind = headers.get(":message-type")
    if kind == "event":
        name, flag = headers.get(":event-type"), "event"
    elif kind == "exception":
        name, flag = headers.get(":exception-type"), "exception"
    else:
        return [f"{where}: :message-type {kind!r} is neither 'event' nor 'exception'"]
    member = stream.members.get(name) if isinstance(name, str) else None
    if member is None:
        return [f"{where}: {kind} {name!r} is not a member of {stream.name}"]
    is_flagged = (
        member.serialization.get("event") if flag == "event" else member.metadata.get("exception")
    )
    if not is_flagged:
        return [f"{where}: {name!r} is not an {flag} of {stream.name}"]
    problems: list[str] = []
    if headers.get(":content-type") != JSON:
        problems.append(f"{where}: :content-type {headers.get(':content-type')!r}, not {JSON}")
    try:
        data = json.loads(payload)
    except ValueError as e:
        return [*problems, f"{where}: payload is not JSON ({e})"]
    _check_value(member, data, f"{where} {name}", problems)
    return problems


# --- values ----------------------------------------------------------------------------


def _check_value(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if value is None:
        problems.append(f"{path}: null where the model wants {_a(kind)}")
    elif kind == "structure":
        assert isinstance(shape, StructureShape)
        _check_structure(shape, value, path, problems, body_only=False)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {_kind(value)} where the model wants a list")
            return
        _check_range(shape, len(value), path, problems, what="items")
        for i, item in enumerate(value):
            _check_value(shape.member, item, f"{path}[{i}]", problems)  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: {_kind(value)} where the model wants a map")
            return
        _check_range(shape, len(value), path, problems, what="entries")
        for k, v in value.items():
            _check_value(shape.key, k, f"{path} key {k!r}", problems)  # type: ignore[attr-defined]
            _check_value(shape.value, v, f"{path}[{k!r}]", problems)  # type: ignore[attr-defined]
    elif kind == "string":
        _check_string(shape, value, path, problems)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {_kind(value)} where the model wants {_a(kind)}")
            return
        low, high = _INT_RANGE[kind]
        if not low <= value <= high:
            problems.append(f"{path}: {value} does not fit {_a(kind)}")
        _check_range(shape, value, path, problems, what="value")
    elif kind in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{path}: {_kind(value)} where the model wants {_a(kind)}")
            return
        _check_range(shape, value, path, problems, what="value")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {_kind(value)} where the model wants a boolean")
    elif kind == "timestamp":
        _check_timestamp(shape, value, path, problems)
    elif kind == "blob":
        if not isinstance(value, str):
            problems.append(f"{path}: {_kind(value)} where the model wants a base64 blob")
            return
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            problems.append(f"{path}: not valid base64 for a blob")
    elif kind != "document":  # a document is any JSON value
        problems.append(f"{path}: the checker does not know shape type {kind!r}")


def _check_structure(
    shape: StructureShape, value: Any, path: str, problems: list[str], *, body_only: bool
) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: {_kind(value)} where the model wants a structure")
        return
    members = {
        name: member
        for name, member in shape.members.items()
        if not (body_only and _outside_body(shape, name, member))
    }
    for name in value:
        if name not in members:
            problems.append(f"{path}: member {name!r} is not in the model's {shape.name}")
    for name in shape.required_members:
        if name in members and name not in value:
            problems.append(f"{path}: required member {name!r} is missing")
    if shape.metadata.get("union"):
        present = [name for name in value if name in members]
        if len(present) != 1:
            problems.append(f"{path}: a union needs exactly one member, got {present}")
    for name, item in value.items():
        if name in members:
            _check_value(members[name], item, f"{path}.{name}", problems)


def _outside_body(shape: StructureShape, name: str, member: Shape) -> bool:
    """True for members sent as headers, the status code, or the payload itself."""
    return bool(member.serialization.get("location")) or (
        shape.serialization.get("payload") == name
    )


def _check_string(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: {_kind(value)} where the model wants a string")
        return
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(f"{path}: {value!r} is not one of the model's {shape.name} {enum}")
    _check_range(shape, len(value), path, problems, what="length")
    pattern = shape.metadata.get("pattern")
    # Smithy patterns are not implicitly anchored: the value must contain a match.
    if pattern and re.search(pattern, value) is None:
        problems.append(f"{path}: {value!r} does not match the pattern {pattern!r}")


def _check_timestamp(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    fmt = shape.serialization.get("timestampFormat", "unixTimestamp")  # rest-json body default
    if fmt == "iso8601":
        ok = isinstance(value, str) and _ISO8601.fullmatch(value) is not None
        if ok:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                ok = False
        if not ok:
            problems.append(f"{path}: {value!r} is not an ISO 8601 timestamp")
    elif fmt == "unixTimestamp":
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not epoch seconds")
    else:
        problems.append(f"{path}: timestamp format {fmt!r} is not expected in a JSON body")


def _check_range(shape: Shape, n: float, path: str, problems: list[str], *, what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and n < low:
        problems.append(f"{path}: {what} {n} is below the model's minimum {low}")
    if high is not None and n > high:
        problems.append(f"{path}: {what} {n} is above the model's maximum {high}")


def _kind(value: Any) -> str:
    return type(value).__name__


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


# --- the log the server keeps ----------------------------------------------------------


class ConformanceLog:
    """Counts checked responses and keeps every mismatch, for ``/_emulator/conformance``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked = 0
        self.mismatches: list[dict[str, Any]] = []

    def record(self, request: str, operation: str | None, status: int, problems: list[str]) -> None:
        """Count one response; keep it if it had problems."""
        with self._lock:
            self.checked += 1
            if problems:
                self.mismatches.append(
                    {
                        "request": request,
                        "operation": operation,
                        "status": status,
                        "problems": problems,
                    }
                )

    def snapshot(self) -> dict[str, Any]:
        """What the admin endpoint returns."""
        with self._lock:
            return {"checked": self.checked, "mismatches": list(self.mismatches)}
