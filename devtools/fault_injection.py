"""Faults injected at the botocore layer of REAL clients: what each AWS service really sends.

A :class:`FaultInjector` registers a ``before-send`` handler (first in line) on the clients it
is given. A request for a faulted operation never leaves the process: the handler answers it
with the service's own error response (status, headers and body in the service's protocol:
JSON 1.0 for DynamoDB and Step Functions, REST-JSON for Bedrock and AgentCore, REST-XML for S3),
raises botocore's own transport error (``ConnectionClosedError``, ``ReadTimeoutError``), or, for
an event-stream operation, answers 200 with real frames whose second is an exception event.
Everything above (botocore's parser, its retry handler, the runtime's translation) runs
unchanged. Each answered request is counted, so a test knows its fault was reached.

Under moto every ``before-send`` handler runs, even after one answered: the handler points the
faulted request at a host moto does not serve, so moto never carries out a request the service
refused.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from emulators.code_interpreter.eventstream import encode_message

__all__ = ["Fault", "FaultInjector", "SkippedSleeps", "Target", "error_reply", "sleeps_skipped"]

_NOWHERE = "https://fault-injected.invalid/"
EVENT_STREAM = "application/vnd.amazon.eventstream"


class Fault(StrEnum):
    """The matrix's columns: how a dependency fails."""

    THROTTLING = "throttling"
    SERVER_ERROR = "5xx"
    CONNECTION_RESET = "connection reset"
    READ_TIMEOUT = "read timeout"
    ACCESS_DENIED = "AccessDenied"
    MID_STREAM = "error after the first chunk"


@dataclass(frozen=True)
class Target:
    """One operation of one service; ``tool`` narrows InvokeCodeInterpreter to one tool."""

    service: str  # boto3's service name: dynamodb, s3, stepfunctions, bedrock-runtime, ...
    operation: str  # the API's operation name: PutItem, InvokeCodeInterpreter, ...
    tool: str | None = None  # InvokeCodeInterpreter's ``name``: executeCode, readFiles, ...

    def __str__(self) -> str:
        return f"{self.operation}:{self.tool}" if self.tool else self.operation


# Per service: (protocol, error codes for throttling / 5xx / AccessDenied with their statuses).
_ERRORS: dict[str, tuple[str, dict[Fault, tuple[int, str]]]] = {
    "dynamodb": (
        "json",
        {
            Fault.THROTTLING: (400, "ThrottlingException"),
            Fault.SERVER_ERROR: (500, "InternalServerError"),
            Fault.ACCESS_DENIED: (400, "AccessDeniedException"),
        },
    ),
    "stepfunctions": (
        "json",
        {
            Fault.THROTTLING: (400, "ThrottlingException"),
            Fault.SERVER_ERROR: (500, "InternalFailure"),
            Fault.ACCESS_DENIED: (400, "AccessDeniedException"),
        },
    ),
    "s3": (
        "rest-xml",
        {
            Fault.THROTTLING: (503, "SlowDown"),
            Fault.SERVER_ERROR: (500, "InternalError"),
            Fault.ACCESS_DENIED: (403, "AccessDenied"),
        },
    ),
    "bedrock-runtime": (
        "rest-json",
        {
            Fault.THROTTLING: (429, "ThrottlingException"),
            Fault.SERVER_ERROR: (500, "InternalServerException"),
            Fault.ACCESS_DENIED: (403, "AccessDeniedException"),
        },
    ),
    "bedrock-agentcore": (
        "rest-json",
        {
            Fault.THROTTLING: (429, "ThrottlingException"),
            Fault.SERVER_ERROR: (500, "InternalServerException"),
            Fault.ACCESS_DENIED: (403, "AccessDeniedException"),
        },
    ),
}
_MESSAGES = {
    Fault.THROTTLING: "Rate exceeded",
    Fault.SERVER_ERROR: "We encountered an internal error. Please try again.",
    Fault.ACCESS_DENIED: "User is not authorized to perform this action",
}
_JSON_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "stepfunctions": ""}


class _Body:
    """The raw HTTP body botocore reads (``stream``, ``read``, ``close``)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self._chunks

    def read(self, *_: Any, **__: Any) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def error_reply(service: str, fault: Fault, url: str, method: str = "POST") -> AWSResponse:
    """The HTTP response ``service`` sends when it refuses a request with ``fault``."""
    protocol, errors = _ERRORS[service]
    status, code = errors[fault]
    message = _MESSAGES[fault]
    headers = {"x-amzn-RequestId": "fa017000-0000-4000-8000-000000000000"}
    if protocol == "json":
        body = json.dumps({"__type": _JSON_PREFIX[service] + code, "message": message}).encode()
        headers["Content-Type"] = "application/x-amz-json-1.0"
    elif protocol == "rest-json":
        body = json.dumps({"message": message}).encode()
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = f"{code}:http://internal.amazon.com/coral/"
    else:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>FA017000</RequestId><HostId>fault</HostId></Error>"
        ).encode()
        headers["Content-Type"] = "application/xml"
    if method == "HEAD":  # a HEAD answer has a status and no body
        body = b""
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, status, headers, _Body([body]))


def _frame(kind: str, name: str, payload: dict[str, Any]) -> bytes:
    key = ":exception-type" if kind == "exception" else ":event-type"
    headers = {key: name, ":message-type": kind, ":content-type": "application/json"}
    return encode_message(headers, json.dumps(payload).encode())


def _first_chunk(target: Target) -> bytes:
    """A real first event of ``target``'s stream (what a client has read when it breaks)."""
    if target.operation == "InvokeModelWithResponseStream":
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_fault",
                "type": "message",
                "role": "assistant",
                "model": "fault",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        }
        data = base64.b64encode(json.dumps(start).encode()).decode()
        return _frame("event", "chunk", {"bytes": data})
    if target.operation == "ConverseStream":
        return _frame("event", "messageStart", {"role": "assistant"})
    # InvokeCodeInterpreter: a result event, as the sandbox sends when a call has run.
    result = {"content": [{"type": "text", "text": "partial"}], "isError": False}
    return _frame("event", "result", result)


def _mid_stream_reply(target: Target, url: str) -> AWSResponse:
    """200, the first event, then the exception event the service sends when it breaks."""
    exception = (
        "modelStreamErrorException"
        if target.service == "bedrock-runtime"
        else "internalServerException"
    )
    chunks = [_first_chunk(target), _frame("exception", exception, {"message": "stream broke"})]
    headers = {"Content-Type": EVENT_STREAM, "x-amzn-RequestId": "fa017000"}
    return AWSResponse(url, 200, headers, _Body(chunks))


class FaultInjector:
    """Answers the requests of one :class:`Target` with one :class:`Fault` while :attr:`on`.

    Args:
        target: the operation to fault.
        fault: how it fails, on every attempt (botocore's and the runtime's retries included).
        on: whether the fault is injected from the start (a test may switch :attr:`on`).
    """

    def __init__(self, target: Target, fault: Fault, *, on: bool = True) -> None:
        self.target, self.fault = target, fault
        self.injected = 0  # requests answered with the fault
        self.on = on
        self._lock = threading.Lock()
        self._clients: list[Any] = []

    def attach(self, *clients: Any) -> FaultInjector:
        """Hook ``clients`` (those of ``target.service``; others are ignored)."""
        for client in clients:
            if client.meta.service_model.service_name != self.target.service:
                continue
            sid = client.meta.service_model.service_id.hyphenize()
            event = f"before-send.{sid}.{self.target.operation}"
            client.meta.events.register_first(event, self._before_send)
            self._clients.append((client, event))
        if not self._clients:
            raise ValueError(f"no client of {self.target.service} to fault")
        return self

    def detach(self) -> None:
        for client, event in self._clients:
            client.meta.events.unregister(event, self._before_send)
        self._clients.clear()

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(self, *_: Any) -> None:
        self.detach()

    def _matches(self, request: Any) -> bool:
        if self.target.tool is None:
            return True
        body = request.body
        if hasattr(body, "read"):
            return False
        try:
            return bool(json.loads(body or b"{}").get("name") == self.target.tool)
        except ValueError:
            return False

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.on or not self._matches(request):
            return None
        with self._lock:
            self.injected += 1
        url = request.url
        request.url = _NOWHERE  # moto's handler runs next: it must not serve this request
        if self.fault is Fault.CONNECTION_RESET:
            raise ConnectionClosedError(endpoint_url=url)
        if self.fault is Fault.READ_TIMEOUT:
            raise ReadTimeoutError(endpoint_url=url)
        if self.fault is Fault.MID_STREAM:
            return _mid_stream_reply(self.target, url)
        return error_reply(self.target.service, self.fault, url, request.method)


class SkippedSleeps:
    """``time`` for the retry loops below: sleeps are recorded, never slept (an injected
    clock for the backoff; the attempts still all happen)."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def sleeps_skipped() -> Iterator[SkippedSleeps]:
    """Retry backoffs recorded instead of slept, so a test of a throttled call costs its
    attempts, not their waits: botocore's, the sandbox client's, and the waits of a state
    machine's ``Retry`` run by moto (the job's Cleanup retries 2 + 4 + 8 s)."""
    import botocore.endpoint
    from code_exec.sandbox import errors
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    clock = SkippedSleeps()
    modules: list[Any] = [botocore.endpoint, errors, retrier_decl]
    saved = [m.time for m in modules]
    for module in modules:
        module.time = clock
    try:
        yield clock
    finally:
        for module, was in zip(modules, saved, strict=True):
            module.time = was
