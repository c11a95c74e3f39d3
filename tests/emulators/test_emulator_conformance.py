"""The response checker against botocore's service model, and proof that it fails the run.

The checker (``emulators.code_interpreter.conformance``) runs inside the emulator the test
suite starts, on every response it sends. Here it is shown to accept what the service
model allows and to name each thing it does not: an unknown member, a bad enum value,
a missing required member, wrong types, a wrong status, an undeclared error, a bad event
header. The last test runs pytest on a real emulator test with the emulator's answers
corrupted, and the run fails, naming both defects.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulators.code_interpreter import exceptions as errors
from emulators.code_interpreter.conformance import check_payload, check_response
from emulators.code_interpreter.eventstream import encode_message, event_frame, exception_frame
from emulators.code_interpreter.routes import service_model
from emulators.code_interpreter.spawn import ROOT

from .conftest import UNUSED_PLUGINS

JSON_HEADERS = {"Content-Type": "application/json", "x-amzn-RequestId": "emulator-00000001"}
STREAM_HEADERS = {
    "Content-Type": "application/vnd.amazon.eventstream",
    "x-amzn-RequestId": "emulator-00000002",
    "x-amzn-code-interpreter-session-id": "ABCDEF0123456789ABCDEF0123",
}
NOW = "2025-01-02T03:04:05.678Z"
GET_SESSION = {
    "codeInterpreterIdentifier": "aws.codeinterpreter.v1",
    "sessionId": "ABCDEF0123456789ABCDEF0123",
    "name": "s1",
    "createdAt": NOW,
    "sessionTimeoutSeconds": 900,
    "status": "READY",
}
RESULT = {
    "content": [
        {"type": "text", "text": "42\n"},
        {"type": "image", "mimeType": "image/png", "data": base64.b64encode(b"png").decode()},
        {
            "type": "resource",
            "resource": {"type": "blob", "uri": "file:///w/a.bin", "blob": "AAE="},
        },
        {"type": "resource_link", "uri": "file:///w/a.bin", "name": "a.bin", "size": 2},
    ],
    "structuredContent": {
        "taskId": "t1",
        "taskStatus": "completed",
        "stdout": "42\n",
        "stderr": "",
        "exitCode": 0,
        "executionTime": 1.5,
    },
    "isError": False,
}


def _get(body: dict[str, Any], status: int = 200, **headers: str) -> list[str]:
    return check_response(
        "GetCodeInterpreterSession",
        status,
        {**JSON_HEADERS, **headers},
        json.dumps(body).encode(),
    )


def _invoke(stream: bytes, **headers: str) -> list[str]:
    return check_response("InvokeCodeInterpreter", 200, {**STREAM_HEADERS, **headers}, stream)


def _stream_errors() -> list[str]:
    """The exception events of the model's ``CodeInterpreterStreamOutput``."""
    op = service_model().operation_model("InvokeCodeInterpreter")
    stream = op.output_shape.members["stream"]
    return sorted(n for n, m in stream.members.items() if m.metadata.get("exception"))


# --- what conforms ---------------------------------------------------------------------


def test_well_formed_responses_pass() -> None:
    assert _get(GET_SESSION) == []
    assert _invoke(event_frame("result", RESULT)) == []
    summary = {k: v for k, v in GET_SESSION.items() if k != "sessionTimeoutSeconds"}
    listing = {"items": [{**summary, "lastUpdatedAt": NOW}], "nextToken": "abc"}
    assert check_response("ListCodeInterpreterSessions", 200, JSON_HEADERS, _j(listing)) == []


@pytest.mark.parametrize("event_name", _stream_errors())
def test_every_exception_the_model_streams_is_one_the_emulator_sends_right(
    event_name: str,
) -> None:
    """A class for each exception event of the model, with the model's status, that
    conforms both as a stream event and as a REST-JSON error of InvokeCodeInterpreter."""
    cls = errors.error_class(event_name)
    op = service_model().operation_model("InvokeCodeInterpreter")
    shape = op.output_shape.members["stream"].members[event_name]
    assert cls.status == shape.metadata["error"]["httpStatusCode"]
    assert _invoke(exception_frame(cls("went wrong"))) == []
    status, headers, body = cls("went wrong").http_response()
    headers = {**headers, "x-amzn-RequestId": "emulator-00000003"}
    assert check_response("InvokeCodeInterpreter", status, headers, body) == []


# --- what does not: the two the acceptance names first --------------------------------


def test_an_unknown_member_is_named() -> None:
    assert _get({**GET_SESSION, "sessionState": "warm"}) == [
        "GetCodeInterpreterSession: member 'sessionState' is not in the model's "
        "GetCodeInterpreterSessionResponse"
    ]
    result = copy.deepcopy(RESULT)
    result["structuredContent"]["memoryMb"] = 12
    [problem] = _invoke(event_frame("result", result))
    assert "'memoryMb' is not in the model's ToolResultStructuredContent" in problem


def test_a_bad_enum_value_is_named() -> None:
    [problem] = _get({**GET_SESSION, "status": "PAUSED"})
    assert "'PAUSED' is not one of the model's CodeInterpreterSessionStatus" in problem
    result = copy.deepcopy(RESULT)
    result["structuredContent"]["taskStatus"] = "running"
    result["content"][0]["type"] = "markdown"
    problems = _invoke(event_frame("result", result))
    assert len(problems) == 2
    assert "'running' is not one of the model's TaskStatus" in problems[0] + problems[1]
    assert "'markdown' is not one of the model's ContentBlockType" in problems[0] + problems[1]
    body = {"message": "no", "reason": "Because"}
    [problem] = _invoke(encode_message(_exception_headers("validationException"), _j(body)))
    assert "'Because' is not one of the model's ValidationExceptionReason" in problem


# --- and the rest of the model ---------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "value", "says"),
    [
        ("sessionTimeoutSeconds", "900", "str where the model wants an integer"),
        ("sessionTimeoutSeconds", True, "bool where the model wants an integer"),
        ("sessionTimeoutSeconds", 0, "below the model's minimum 1"),
        ("sessionTimeoutSeconds", 2**40, "does not fit an integer"),
        ("createdAt", 1735787045, "is not an ISO 8601 timestamp"),
        ("createdAt", "2025-01-02 03:04:05", "is not an ISO 8601 timestamp"),
        ("createdAt", "2025-13-02T03:04:05Z", "is not an ISO 8601 timestamp"),
        ("name", "", "length 0 is below the model's minimum 1"),
        ("name", 7, "int where the model wants a string"),
        ("sessionId", "!!!", "does not match the pattern"),
        ("status", None, "null where the model wants a string"),
        ("certificates", {"location": {}}, "dict where the model wants a list"),
        ("certificates", [{"location": {}}], "a union needs exactly one member"),
    ],
)
def test_wrong_types_and_ranges_are_named(member: str, value: Any, says: str) -> None:
    problems = _get({**GET_SESSION, member: value})
    assert any(says in p and member in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("isError",), "false", "str where the model wants a boolean"),
        (("structuredContent", "exitCode"), 1.5, "float where the model wants an integer"),
        (("structuredContent", "executionTime"), "1", "str where the model wants a double"),
        (("content", 1, "data"), "not base64!", "not valid base64 for a blob"),
        (("content", 3, "size"), 2**64, "does not fit a long"),
        (("content",), {"type": "text"}, "dict where the model wants a list"),
        (("structuredContent",), [], "list where the model wants a structure"),
    ],
)
def test_wrong_types_in_a_stream_event_are_named(
    path: tuple[str | int, ...], value: Any, says: str
) -> None:
    result: Any = copy.deepcopy(RESULT)
    target = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problems = _invoke(event_frame("result", result))
    assert any(says in p for p in problems), problems


def test_missing_required_members_are_named() -> None:
    body = dict(GET_SESSION)
    del body["createdAt"]
    assert _get(body) == ["GetCodeInterpreterSession: required member 'createdAt' is missing"]
    [problem] = _invoke(event_frame("result", {"isError": False}))
    assert "required member 'content' is missing" in problem
    problems = _invoke(encode_message(_exception_headers("validationException"), b"{}"))
    assert sorted(problems) == [
        "event 0 validationException: required member 'message' is missing",
        "event 0 validationException: required member 'reason' is missing",
    ]


def test_status_headers_and_declared_errors() -> None:
    assert _get(GET_SESSION, status=201) == ["status 201, the model says 200"]
    assert _get(GET_SESSION, **{"Content-Type": "text/plain"}) == [
        "content type 'text/plain', not application/json"
    ]
    no_request_id = {"Content-Type": "application/json"}
    assert check_response("GetCodeInterpreterSession", 200, no_request_id, _j(GET_SESSION)) == [
        "header x-amzn-RequestId is missing"
    ]
    # an error the operation does not declare, and a declared one with the wrong status
    quota = {**JSON_HEADERS, "x-amzn-ErrorType": "ServiceQuotaExceededException"}
    [problem] = check_response("GetCodeInterpreterSession", 402, quota, b'{"message": "x"}')
    assert "cannot fail with ServiceQuotaExceededException" in problem
    throttled = {**JSON_HEADERS, "x-amzn-ErrorType": "ThrottlingException"}
    assert check_response("GetCodeInterpreterSession", 400, throttled, b'{"message": "x"}') == [
        "ThrottlingException with status 400, the model says 429"
    ]
    assert check_response("GetCodeInterpreterSession", 500, JSON_HEADERS, b"{}") == [
        "status 500 without an x-amzn-ErrorType header"
    ]
    # the session id header is a modelled member too
    assert _invoke(event_frame("result", RESULT), **{"x-amzn-code-interpreter-session-id": "-"})


def test_event_headers_are_checked() -> None:
    result = _j(RESULT)
    json_type = {":content-type": "application/json"}
    cases = {
        "neither 'event' nor 'exception'": {":message-type": "error", **json_type},
        "'output' is not a member": {":message-type": "event", ":event-type": "output"},
        "'throttlingException' is not an event": {
            ":message-type": "event",
            ":event-type": "throttlingException",
            **json_type,
        },
        "'result' is not an exception": {
            ":message-type": "exception",
            ":exception-type": "result",
            **json_type,
        },
        ":content-type 'text/plain'": {
            ":message-type": "event",
            ":event-type": "result",
            ":content-type": "text/plain",
        },
    }
    for says, headers in cases.items():
        problems = _invoke(encode_message(headers, result))
        assert any(says in p for p in problems), (says, problems)
    assert _invoke(event_frame("result", RESULT), **{"Content-Type": "application/json"}) == [
        "content type 'application/json', not application/vnd.amazon.eventstream"
    ]
    frame = event_frame("result", RESULT)
    assert "does not decode" in _invoke(frame[:-1] + bytes([frame[-1] ^ 1]))[0]
    assert "1 trailing bytes" in _invoke(frame + b"\x00")[0]


def test_emulator_only_errors_are_accepted_only_where_they_belong() -> None:
    missing = {**JSON_HEADERS, "x-amzn-ErrorType": "NotImplementedException"}
    body = b'{"message": "StartBrowserSession is not implemented"}'
    assert check_response("StartBrowserSession", 501, missing, body, implemented=False) == []
    [problem] = check_response("StartCodeInterpreterSession", 501, missing, body)
    assert "where it cannot occur" in problem
    unknown = {**JSON_HEADERS, "x-amzn-ErrorType": "UnknownOperationException"}
    assert check_response(None, 404, unknown, b'{"message": "no"}') == []
    [problem] = check_response("StartBrowserSession", 200, JSON_HEADERS, b"{}", implemented=False)
    assert "does not serve" in problem


def test_check_payload_names_the_path() -> None:
    shape = service_model().shape_for("CodeInterpreterSessionSummary")
    problems = check_payload(shape, {"status": "GONE"}, "items[3]")
    assert "items[3].status: 'GONE' is not one of" in " ".join(problems)


# --- the whole loop: a test run against a drifting emulator fails ------------------------

_CORRUPT = '''
"""Make the emulator's answers drift from the service model (sitecustomize, test only)."""
from emulators.code_interpreter import responses, tools

_start, _execute = responses.start_session, tools.execute_code


def start_session(backend, req):
    resp = _start(backend, req)
    body = __import__("json").loads(resp.body)
    body["warmPool"] = True  # a member the model does not define
    resp.body = __import__("json").dumps(body).encode()
    return resp


def execute_code(session, args, timeout):
    result = _execute(session, args, timeout)
    result["structuredContent"]["taskStatus"] = "sleeping"  # not a TaskStatus value
    return result


responses.OPERATIONS["StartCodeInterpreterSession"] = start_session
tools.TOOLS["executeCode"] = execute_code
'''


def test_a_run_against_an_emulator_that_drifts_from_the_model_fails(tmp_path: Path) -> None:
    """A real emulator test passes its own assertions (boto3 ignores unknown members and
    never checks enums), but the run fails, naming both defects."""
    (tmp_path / "sitecustomize.py").write_text(_CORRUPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SKIP_SANDBOX"))}
    env["PYTHONPATH"] = str(tmp_path)  # the emulator the inner run starts imports it
    target = "tests/emulators/test_emulator_sessions.py::test_clear_context_resets_state"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *UNUSED_PLUGINS, "-q", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 passed, 1 error" in out, out  # the test's own assertions held
    assert "member 'warmPool' is not in the model's StartCodeInterpreterSessionResponse" in out
    assert "'sleeping' is not one of the model's TaskStatus" in out


def _exception_headers(name: str) -> dict[str, str]:
    return {
        ":message-type": "exception",
        ":exception-type": name,
        ":content-type": "application/json",
    }


def _j(data: Any) -> bytes:
    return json.dumps(data).encode()
