"""Wire protocol: REST-JSON errors, event-stream frames, fault injection."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from emulators.code_interpreter.eventstream import encode_message, event_frame, exception_frame
from emulators.code_interpreter.exceptions import ThrottlingException, ValidationException
from emulators.code_interpreter.routes import service_model

pytestmark = pytest.mark.sandbox
INTERPRETER = "aws.codeinterpreter.v1"

# The exception events of the model's CodeInterpreterStreamOutput (accessDeniedException, ...).
STREAM_EXCEPTIONS = sorted(
    name
    for name, member in service_model()
    .operation_model("InvokeCodeInterpreter")
    .output_shape.members["stream"]
    .members.items()
    if member.metadata.get("exception")
)


def _decode(raw: bytes) -> list[Any]:
    buf = EventStreamBuffer()
    buf.add_data(raw)
    return list(buf)


def test_encoded_frames_decode_with_botocore() -> None:
    frame = event_frame("result", {"content": [{"type": "text", "text": "hi"}], "isError": False})
    (msg,) = _decode(frame)
    assert msg.headers == {
        ":event-type": "result",
        ":message-type": "event",
        ":content-type": "application/json",
    }
    assert json.loads(msg.payload)["content"][0]["text"] == "hi"


def test_exception_frame_headers_and_body() -> None:
    (msg,) = _decode(exception_frame(ValidationException("bad", field="code")))
    assert msg.headers[":message-type"] == "exception"
    assert msg.headers[":exception-type"] == "validationException"
    body = json.loads(msg.payload)
    assert body == {
        "message": "bad",
        "reason": "FieldValidationFailed",
        "fieldList": [{"name": "code", "message": "bad"}],
    }
    (msg,) = _decode(exception_frame(ThrottlingException("slow down")))
    assert msg.headers[":exception-type"] == "throttlingException"


def test_several_frames_in_one_buffer() -> None:
    raw = encode_message({"a": "1"}, b"x") + encode_message({"b": "2"}, b"")
    assert [m.headers for m in _decode(raw)] == [{"a": "1"}, {"b": "2"}]


def test_raw_invoke_response_is_an_event_stream(emulator_url: str, new_session) -> None:
    sid = new_session()
    req = urllib.request.Request(
        f"{emulator_url}/code-interpreters/{INTERPRETER}/tools/invoke",
        data=json.dumps({"name": "executeCode", "arguments": {"code": "print(6*7)"}}).encode(),
        headers={"x-amzn-code-interpreter-session-id": sid, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.headers["Content-Type"] == "application/vnd.amazon.eventstream"
        assert r.headers["x-amzn-code-interpreter-session-id"] == sid
        (msg,) = _decode(r.read())
    assert msg.headers[":event-type"] == "result"
    assert json.loads(msg.payload)["structuredContent"]["stdout"] == "42\n"


def test_unknown_session_is_a_client_error(stream_events, agentcore_client) -> None:
    with pytest.raises(ClientError) as e:
        stream_events("NOSUCHSESSION", "executeCode", code="1")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        agentcore_client.get_code_interpreter_session(
            codeInterpreterIdentifier=INTERPRETER, sessionId="NOSUCHSESSION"
        )
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_unimplemented_operation_fails_loudly(agentcore_client) -> None:
    with pytest.raises(ClientError) as e:
        agentcore_client.start_browser_session(browserIdentifier="aws.browser.v1")
    assert e.value.response["Error"]["Code"] == "NotImplementedException"
    assert "StartBrowserSession" in e.value.response["Error"]["Message"]


def test_unknown_tool_is_a_validation_event(stream_events, agentcore_client, new_session) -> None:
    sid = new_session()
    with pytest.raises(EventStreamError) as e:
        stream_events(sid, "noSuchTool")
    assert e.value.response["Error"]["Code"] == "validationException"


@pytest.mark.parametrize("exception", STREAM_EXCEPTIONS)
def test_injected_stream_exception_is_parsed_by_botocore(
    stream_events, emulator_admin, agentcore_client, emulator_url: str, new_session, exception: str
) -> None:
    sid = new_session()
    emulator_admin(
        "/_emulator/faults",
        {"exception": exception, "sessionId": sid, "message": "boom"},
    )
    with pytest.raises(EventStreamError) as e:
        stream_events(sid, "executeCode", code="print(1)")
    assert e.value.response["Error"]["Code"] == exception
    assert e.value.response["Error"]["Message"] == "boom"
    # one-shot: the next call succeeds
    (ev,) = stream_events(sid, "executeCode", code="print(1)")
    assert ev["result"]["structuredContent"]["stdout"] == "1\n"


def test_injected_http_error(
    stream_events, emulator_admin, agentcore_client, emulator_url: str, new_session
) -> None:
    sid = new_session()
    emulator_admin(
        "/_emulator/faults",
        {"exception": "ThrottlingException", "sessionId": sid, "mode": "http", "count": 2},
    )
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            stream_events(sid, "executeCode", code="1")
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "result" in stream_events(sid, "executeCode", code="1")[0]


def test_health_endpoint(emulator_url: str) -> None:
    with urllib.request.urlopen(emulator_url + "/_emulator/health", timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "ok"
    assert body["isolated"] is True


def test_injected_http_error_on_start_session(agentcore_client, emulator_admin) -> None:
    emulator_admin(
        "/_emulator/faults",
        {
            "exception": "serviceQuotaExceededException",
            "mode": "http",
            "operation": "StartCodeInterpreterSession",
        },
    )
    with pytest.raises(ClientError) as e:
        agentcore_client.start_code_interpreter_session(codeInterpreterIdentifier="faultTest")
    assert e.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402


def test_bad_fault_is_rejected(emulator_admin) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as e:
        emulator_admin("/_emulator/faults", {"exception": "noSuchException"})
    assert e.value.code == 400
