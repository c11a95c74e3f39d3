"""SandboxClient against hand-encoded event-stream frames (no emulator, no network).

A real boto3 ``bedrock-agentcore`` client is used; a ``before-send`` hook answers each
request with bytes framed exactly as AWS frames them (prelude, headers, JSON payload,
CRC32s; encoded by ``emulators.code_interpreter.eventstream``, the emulator is not
started), so botocore's own parser and EventStream run unchanged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from code_exec.exceptions import (
    SandboxAccessDeniedError,
    SandboxConflictError,
    SandboxInternalError,
    SandboxQuotaExceededError,
    SandboxResourceNotFoundError,
    SandboxThrottledError,
    SandboxValidationError,
    SessionExpiredError,
    SessionNotFoundError,
)
from code_exec.sandbox.client import SandboxClient
from code_exec.sandbox.types import SandboxFile

from emulators.code_interpreter.eventstream import encode_message
from emulators.code_interpreter.eventstream import event_frame as event

# --- frames: the emulator's event-stream encoder (the AWS binary format) ------------------


def exception(kind: str, message: str, **extra: Any) -> bytes:
    return encode_message(
        {
            ":exception-type": kind,
            ":message-type": "exception",
            ":content-type": "application/json",
        },
        json.dumps({"message": message, **extra}).encode(),
    )


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, amt: int = 1024, **_: Any) -> Any:
        for i in range(0, len(self._data), amt):
            yield self._data[i : i + amt]

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._data

    def close(self) -> None:  # EventStream.close()
        pass

    def release_conn(self) -> None:
        pass


Reply = tuple[int, bytes] | bytes


class FakeService:
    """Answers requests from a queue of replies; records request bodies."""

    def __init__(self) -> None:
        self.replies: list[Reply | Callable[[dict[str, Any]], Reply]] = []
        self.requests: list[dict[str, Any]] = []
        self.client = boto3.client(
            "bedrock-agentcore",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            endpoint_url="http://sandbox.invalid",
            config=Config(retries={"total_max_attempts": 1}),
        )
        self.client.meta.events.register("before-send", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        body = json.loads(request.body or b"{}")
        body["_url"] = request.url
        self.requests.append(body)
        reply = self.replies.pop(0)
        if callable(reply):
            reply = reply(body)
        status, data = reply if isinstance(reply, tuple) else (200, reply)
        headers = {"content-type": "application/vnd.amazon.eventstream"}
        if status != 200:
            headers = {"content-type": "application/json", "x-amzn-ErrorType": data.decode()}
            data = json.dumps({"message": "refused"}).encode()
        return AWSResponse(request.url, status, headers, _Raw(data))


@pytest.fixture()
def svc() -> FakeService:
    return FakeService()


@pytest.fixture()
def sandbox(svc: FakeService) -> SandboxClient:
    return SandboxClient("ci-test", client=svc.client, backoff_base=0.001, backoff_max=0.002)


def _ok(stdout: str = "", **sc: Any) -> bytes:
    return event(
        "result",
        {
            "content": [{"type": "text", "text": stdout}],
            "structuredContent": {"stdout": stdout, "stderr": "", "exitCode": 0, **sc},
            "isError": False,
        },
    )


# --- tests -----------------------------------------------------------------------------------


def test_execute_code_parses_every_result_event(sandbox: SandboxClient, svc: FakeService) -> None:
    svc.replies.append(
        event(
            "result",
            {"content": [{"type": "text", "text": "a\n"}], "structuredContent": {"stdout": "a\n"}},
        )
        + event(
            "result",
            {
                "content": [{"type": "text", "text": "b\n"}],
                "structuredContent": {
                    "stdout": "b\n",
                    "stderr": "warn\n",
                    "exitCode": 0,
                    "executionTime": 250.0,  # milliseconds
                },
                "isError": False,
            },
        )
    )
    r = sandbox.execute_code("s1", "print('a'); print('b')")
    assert (r.stdout, r.stderr, r.exit_code, r.execution_time) == ("a\nb\n", "warn\n", 0, 0.25)
    assert r.ok and r.text == "a\nb\n" and len(r.content) == 2
    sent = svc.requests[0]
    assert sent["name"] == "executeCode"
    assert sent["arguments"] == {"code": "print('a'); print('b')", "language": "python"}


def test_failing_cell_is_reported_as_failure(sandbox: SandboxClient, svc: FakeService) -> None:
    tb = "Traceback (most recent call last):\nZeroDivisionError: division by zero"
    svc.replies.append(
        event("result", {"content": [{"type": "text", "text": tb}], "isError": True})
    )
    r = sandbox.execute_code("s1", "1/0")
    assert r.is_error and not r.ok and "ZeroDivisionError" in r.stderr
    svc.replies.append(
        event("result", {"content": [], "structuredContent": {"stdout": "", "exitCode": 2}})
    )
    assert not sandbox.execute_command("s1", "false").ok


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("accessDeniedException", SandboxAccessDeniedError),
        ("conflictException", SandboxConflictError),
        ("internalServerException", SandboxInternalError),
        ("resourceNotFoundException", SessionNotFoundError),
        ("serviceQuotaExceededException", SandboxQuotaExceededError),
        ("throttlingException", SandboxThrottledError),
        ("validationException", SandboxValidationError),
    ],
)
def test_every_exception_event_is_typed(
    svc: FakeService, kind: str, error: type[Exception]
) -> None:
    sandbox = SandboxClient("ci", client=svc.client, max_attempts=1)
    extra = {"reason": "FieldValidationFailed"} if kind == "validationException" else {}
    svc.replies.append(exception(kind, f"{kind} happened", **extra))
    if kind == "resourceNotFoundException":  # the client asks whether the session exists
        svc.replies.append((404, b"ResourceNotFoundException"))
    with pytest.raises(error) as info:
        sandbox.execute_code("s1", "x")
    assert f"{kind} happened" in str(info.value)
    assert info.value.__cause__ is not None  # raised from the botocore error


def test_exception_after_result_is_raised_not_ignored(
    sandbox: SandboxClient, svc: FakeService
) -> None:
    svc.replies.append(_ok("partial") + exception("internalServerException", "kernel died"))
    with pytest.raises(SandboxInternalError, match="kernel died"):
        sandbox.execute_code("s1", "x")
    assert len(svc.requests) == 1  # the cell may have run: never re-sent


def test_throttling_is_retried_then_succeeds(sandbox: SandboxClient, svc: FakeService) -> None:
    svc.replies += [exception("throttlingException", "slow down")] * 2 + [_ok("hi\n")]
    assert sandbox.execute_code("s1", "print('hi')").stdout == "hi\n"
    assert len(svc.requests) == 3


def test_throttling_http_error_is_retried(sandbox: SandboxClient, svc: FakeService) -> None:
    svc.replies += [(429, b"ThrottlingException"), _ok("ok")]
    assert sandbox.execute_code("s1", "x").stdout == "ok"


def test_retries_are_bounded(svc: FakeService) -> None:
    sandbox = SandboxClient("ci", client=svc.client, max_attempts=3, backoff_base=0.001)
    svc.replies += [exception("throttlingException", "slow down")] * 3
    with pytest.raises(SandboxThrottledError, match="slow down"):
        sandbox.execute_code("s1", "x")
    assert len(svc.requests) == 3


def test_throttling_has_a_retry_budget_of_its_own(svc: FakeService) -> None:
    """A throttled request is retried up to ``throttled_attempts``; other retry-safe
    failures (an idempotent read's internal error) stay bounded by ``max_attempts``."""
    sandbox = SandboxClient(
        "ci", client=svc.client, max_attempts=2, throttled_attempts=4, backoff_base=0.001
    )
    svc.replies += [exception("throttlingException", "slow down")] * 3 + [_ok("hi\n")]
    assert sandbox.execute_code("s1", "x").stdout == "hi\n"
    assert len(svc.requests) == 4
    svc.replies += [(429, b"ThrottlingException")] * 4
    with pytest.raises(SandboxThrottledError):
        sandbox.execute_code("s1", "x")
    assert len(svc.requests) == 8
    svc.replies += [exception("internalServerException", "boom")] * 2
    with pytest.raises(SandboxInternalError, match="boom"):
        sandbox.read_files("s1", ["a.txt"])
    assert len(svc.requests) == 10


def test_the_deployments_clients_retry_throttling_longer(
    svc: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The functions' sandbox clients (``Services``) keep retrying a throttled request to
    THROTTLED_ATTEMPTS attempts, with backoff capped at 8 s, before the request fails."""
    from code_exec.config import RuntimeConfig
    from code_exec.sandbox import errors
    from code_exec.sandbox.errors import THROTTLED_ATTEMPTS
    from code_exec.services import Services

    slept: list[float] = []
    monkeypatch.setattr(errors, "time", SimpleNamespace(sleep=slept.append))
    services = Services(config=RuntimeConfig(code_interpreter_id="ci"), agentcore=svc.client)
    assert THROTTLED_ATTEMPTS == 10
    svc.replies += [exception("throttlingException", "slow down")] * 9 + [_ok("ran\n")]
    assert services.sandbox.execute_code("s1", "x").stdout == "ran\n"
    assert len(svc.requests) == 10 and len(slept) == 9 and max(slept) <= 8.0
    svc.replies += [exception("throttlingException", "slow down")] * 10
    with pytest.raises(SandboxThrottledError):
        services.sessions.execute_code("s1", "x")  # the sweeper's client too
    assert len(svc.requests) == 20


def test_internal_error_is_not_retried_for_code_but_is_for_reads(
    sandbox: SandboxClient, svc: FakeService
) -> None:
    svc.replies.append(exception("internalServerException", "boom"))
    with pytest.raises(SandboxInternalError, match="boom"):
        sandbox.execute_code("s1", "x")
    assert len(svc.requests) == 1
    svc.replies += [
        exception("internalServerException", "boom"),
        event(
            "result",
            {
                "content": [
                    {
                        "type": "resource",
                        "resource": {"type": "text", "uri": "file:///w/a.txt", "text": "A"},
                    }
                ]
            },
        ),
    ]
    assert sandbox.read_files("s1", ["a.txt"])[0].data == b"A"
    assert len(svc.requests) == 3


def test_expired_session_is_reported_clearly(sandbox: SandboxClient, svc: FakeService) -> None:
    svc.replies.append(_ok("1"))
    sandbox.execute_code("known1", "1")
    gone = (404, b"ResourceNotFoundException")
    svc.replies += [exception("resourceNotFoundException", "session not found"), gone]
    with pytest.raises(SessionExpiredError, match="expired"):
        sandbox.execute_code("known1", "1")
    svc.replies += [exception("resourceNotFoundException", "session not found"), gone]
    with pytest.raises(SessionNotFoundError) as info:
        sandbox.execute_code("never1", "1")
    assert not isinstance(info.value, SessionExpiredError)


def _session(status: str) -> tuple[int, bytes]:
    return (
        200,
        json.dumps(
            {
                "codeInterpreterIdentifier": "ci-test",
                "sessionId": "s1",
                "createdAt": "2026-01-01T00:00:00Z",
                "status": status,
            }
        ).encode(),
    )


def test_not_found_is_told_apart_by_the_session_status(
    sandbox: SandboxClient, svc: FakeService
) -> None:
    """A missing task in a live session vs a session that terminated (another client's)."""
    _json_replies(svc)
    svc.replies += [exception("resourceNotFoundException", "Task t9 not found"), _session("READY")]
    with pytest.raises(SandboxResourceNotFoundError, match="t9"):
        sandbox.get_task("s1", "t9")
    svc.replies += [exception("resourceNotFoundException", "gone"), _session("TERMINATED")]
    with pytest.raises(SessionExpiredError, match="TERMINATED"):
        sandbox.execute_code("s1", "1")


def _json_replies(svc: FakeService) -> None:
    """Non-stream operations answer application/json."""
    orig = svc._send

    def send(request: Any, **kw: Any) -> AWSResponse:
        resp = orig(request, **kw)
        if "/sessions/" in request.url:
            resp.headers["content-type"] = "application/json"
        return resp

    svc.client.meta.events.unregister("before-send", orig)
    svc.client.meta.events.register("before-send", send)


def test_files_round_trip_text_and_blob(sandbox: SandboxClient, svc: FakeService) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x01\xff"
    svc.replies.append(event("result", {"content": [{"type": "text", "text": "ok"}]}))
    sandbox.write_files(
        "s1", [SandboxFile("a.txt", "héllo\r\n".encode()), SandboxFile("b.png", png)]
    )
    content = svc.requests[0]["arguments"]["content"]
    assert content[0] == {"path": "a.txt", "text": "héllo\r\n"}
    assert base64.b64decode(content[1]["blob"]) == png  # botocore sends blobs base64
    svc.replies.append(
        event(
            "result",
            {
                "content": [
                    {
                        "type": "resource",
                        "resource": {
                            "type": "blob",
                            "uri": "file:///ws/b.png",
                            "blob": base64.b64encode(png).decode(),
                        },
                    },
                    {
                        "type": "resource",
                        "resource": {
                            "type": "text",
                            "uri": "file:///ws/a.txt",
                            "text": "héllo\r\n",
                        },
                    },
                ]
            },
        )
    )
    files = sandbox.read_files("s1", ["a.txt", "b.png"])
    assert [f.data for f in files] == ["héllo\r\n".encode(), png]


def test_read_missing_file(sandbox: SandboxClient, svc: FakeService) -> None:
    svc.replies.append(
        event(
            "result", {"content": [{"type": "text", "text": "File not found: x"}], "isError": True}
        )
    )
    with pytest.raises(SandboxResourceNotFoundError, match="File not found: x"):
        sandbox.read_files("s1", ["x"])


def test_tasks(sandbox: SandboxClient, svc: FakeService) -> None:
    svc.replies.append(
        event(
            "result",
            {"content": [], "structuredContent": {"taskId": "t1", "taskStatus": "working"}},
        )
    )
    assert sandbox.start_command("s1", "sleep 5") == "t1"
    svc.replies.append(
        event(
            "result",
            {
                "content": [],
                "structuredContent": {"taskId": "t1", "taskStatus": "working", "stdout": "x"},
            },
        )
    )
    status = sandbox.get_task("s1", "t1")
    assert (status.status, status.stdout, status.done) == ("working", "x", False)
    svc.replies.append(
        event(
            "result",
            {
                "content": [],
                "structuredContent": {"taskId": "t1", "taskStatus": "completed", "exitCode": 0},
            },
        )
    )
    assert sandbox.get_task("s1", "t1").done


def test_start_stop_session_and_client_errors(sandbox: SandboxClient, svc: FakeService) -> None:
    start = json.dumps(
        {
            "codeInterpreterIdentifier": "ci-test",
            "sessionId": "abc",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    ).encode()

    def json_reply(body: bytes) -> Callable[[dict[str, Any]], AWSResponse]:
        return lambda req: (200, body)

    # the start call and the runner bootstrap
    svc.replies += [(200, start), _ok("")]
    _json_replies(svc)
    assert sandbox.start_session(name="t", timeout_seconds=60) == "abc"
    assert svc.requests[0]["sessionTimeoutSeconds"] == 60
    assert len(svc.requests[0]["clientToken"]) >= 33
    assert "__bcx_runner__" in svc.requests[1]["arguments"]["code"]
    svc.replies.append((404, b"ResourceNotFoundException"))
    sandbox.stop_session("abc")  # already gone: no error
    svc.replies.append((403, b"AccessDeniedException"))
    with pytest.raises(SandboxAccessDeniedError):
        sandbox.session_status("abc")


def test_transport_errors_retry_only_when_safe(sandbox: SandboxClient, svc: FakeService) -> None:
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
    from code_exec.exceptions import SandboxTimeoutError

    def refuse_connect(body: dict[str, Any]) -> Reply:
        raise EndpointConnectionError(endpoint_url="http://sandbox.invalid")

    def time_out(body: dict[str, Any]) -> Reply:
        raise ReadTimeoutError(endpoint_url="http://sandbox.invalid")

    svc.replies += [refuse_connect, _ok("ran once")]  # never reached the service: retried
    assert sandbox.execute_code("s1", "x").stdout == "ran once"
    svc.replies += [time_out]  # the cell may be running: not re-sent
    with pytest.raises(SandboxTimeoutError):
        sandbox.execute_code("s1", "x")
    assert len(svc.requests) == 3
    svc.replies += [time_out, _ok("listed")]  # an idempotent read is retried
    sandbox.list_files("s1")
    assert len(svc.requests) == 5


def test_make_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from code_exec.sandbox.client import make_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = make_client("us-east-1")
    config = client.meta.config
    assert (config.read_timeout, config.connect_timeout) == (900, 10)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert client.meta.endpoint_url == "http://127.0.0.1:9"  # the emulator, same code path


# --- the parser and builders on their own (code_exec.sandbox.invoke_events) ---------------------


def _never(code: str, message: str) -> Any:
    raise AssertionError(f"no exception event expected, got {code}")


def test_parse_stream_merges_every_result_event() -> None:
    from code_exec.sandbox.invoke_events import execution_result, parse_stream

    closed: list[bool] = []

    class Stream(list[dict[str, Any]]):
        def close(self) -> None:
            closed.append(True)

    events = Stream(
        [
            {"result": {"content": [{"type": "text", "text": "a"}],
                        "structuredContent": {"stdout": "a", "exitCode": 0}}},
            {"result": {"content": [{"type": "text", "text": "b"}],
                        "structuredContent": {"stdout": "b", "stderr": "w",
                                              "exitCode": 2, "executionTime": 1500}}},
        ]
    )  # fmt: skip
    parsed = parse_stream(events, "executeCode", idempotent=False, to_error=_never)
    result = execution_result(parsed)
    assert (result.stdout, result.stderr, result.exit_code, result.text) == ("ab", "w", 2, "ab")
    assert result.is_error and result.execution_time == 1.5 and closed == [True]


def test_parse_stream_exception_events_and_empty_streams() -> None:
    from code_exec.exceptions import SandboxInternalError, SandboxThrottledError
    from code_exec.sandbox.errors import Attempt
    from code_exec.sandbox.invoke_events import parse_stream

    def typed(code: str, message: str) -> Any:
        return SandboxThrottledError(message)

    with pytest.raises(Attempt) as first:
        parse_stream([{"throttlingException": {"message": "slow"}}], "executeCode",
                     idempotent=False, to_error=typed)  # fmt: skip
    assert first.value.retry_safe and isinstance(first.value.error, SandboxThrottledError)
    late = [{"result": {"content": []}}, {"throttlingException": {"message": "slow"}}]
    with pytest.raises(Attempt) as after_output:
        parse_stream(late, "executeCode", idempotent=False, to_error=typed)
    assert not after_output.value.retry_safe  # the cell may have run: never re-sent
    with pytest.raises(Attempt) as empty:
        parse_stream([], "listFiles", idempotent=True, to_error=_never)
    assert empty.value.retry_safe and isinstance(empty.value.error, SandboxInternalError)


def test_files_and_entries_from_content_items() -> None:
    from code_exec.exceptions import SandboxResourceNotFoundError
    from code_exec.sandbox.invoke_events import FileEntry, ParsedStream, entries_from, files_from

    read = ParsedStream(
        content=[
            {"type": "resource", "resource": {"uri": "file:///w/b.bin", "blob": "AAE="}},
            {"type": "resource", "resource": {"uri": "file:///w/a.txt", "text": "hi"}},
        ]
    )
    files = files_from(read, ["a.txt", "./b.bin"])
    assert [(f.path, f.data) for f in files] == [("a.txt", b"hi"), ("./b.bin", b"\x00\x01")]
    with pytest.raises(SandboxResourceNotFoundError):
        files_from(read, ["c.txt"])
    listing = ParsedStream(
        content=[
            {"type": "resource_link", "uri": "file:///w/d", "description": "directory"},
            {"type": "resource_link", "uri": "file:///w/f.txt", "size": 3},
            {"type": "text", "text": "ignored"},
        ]
    )
    assert entries_from(listing) == [FileEntry("/w/d", True, None), FileEntry("/w/f.txt", False, 3)]
