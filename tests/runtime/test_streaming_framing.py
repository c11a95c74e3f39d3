"""The bytes of a streamed response, against the documented formats.

API Gateway ("Set up a Lambda proxy integration with payload response streaming"): a JSON
metadata prelude with ``statusCode``, ``headers``, ``multiValueHeaders`` and ``cookies``, then
exactly eight NUL bytes, then the payload; the metadata within the first 16 KiB. AWS's Go
library tests the same shape: the output splits on eight NULs into exactly two parts, and
``{"statusCode":418}`` alone is a valid prelude. The Runtime API ("Using the Lambda runtime
API for custom runtimes", response streaming): HTTP/1.1 chunks, the error reported in the
``Lambda-Runtime-Function-Error-Type`` / ``-Body`` trailers, the body base64 JSON.
"""

from __future__ import annotations

import base64
import json

import pytest
from code_exec.streaming.framing import (
    DELIMITER,
    HTTP_INTEGRATION_CONTENT_TYPE,
    MAX_PRELUDE_BYTES,
    PreludeError,
    chunk,
    error_trailers,
    last_chunk,
    prelude,
)

DOCUMENTED_KEYS = {"statusCode", "headers", "multiValueHeaders", "cookies"}


def test_the_delimiter_is_eight_nul_bytes_and_the_content_type_is_the_integration_one() -> None:
    assert DELIMITER == b"\x00\x00\x00\x00\x00\x00\x00\x00"
    assert HTTP_INTEGRATION_CONTENT_TYPE == "application/vnd.awslambda.http-integration-response"
    assert MAX_PRELUDE_BYTES == 16 * 1024


def test_a_status_alone_is_a_whole_prelude() -> None:
    assert prelude(418) == b'{"statusCode":418}' + b"\x00" * 8


def test_prelude_then_payload_splits_into_metadata_and_body_on_the_first_delimiter() -> None:
    body = b'event: text\ndata: {"type": "text", "text": "hi"}\n\n'
    wire = (
        prelude(
            200,
            {"content-type": "text/event-stream", "request-id": "req_1"},
            multi_value_headers={"x-multi": ["a", "b"]},
            cookies=["session=1; Secure"],
        )
        + body
    )
    parts = wire.split(DELIMITER)
    assert len(parts) == 2  # the metadata cannot contain the delimiter, the payload follows it
    meta = json.loads(parts[0])
    assert set(meta) == DOCUMENTED_KEYS
    assert meta["statusCode"] == 200 and isinstance(meta["statusCode"], int)
    assert meta["headers"] == {"content-type": "text/event-stream", "request-id": "req_1"}
    assert meta["multiValueHeaders"] == {"x-multi": ["a", "b"]}
    assert meta["cookies"] == ["session=1; Secure"]
    assert parts[1] == body
    assert len(parts[0]) + len(DELIMITER) <= MAX_PRELUDE_BYTES


def test_a_nul_in_a_header_value_is_escaped_so_the_delimiter_stays_unique() -> None:
    head = prelude(200, {"x-odd": "a\x00b" * 8})
    assert head.count(b"\x00") == 8 and head.endswith(DELIMITER)
    assert json.loads(head[:-8])["headers"]["x-odd"] == "a\x00b" * 8


@pytest.mark.parametrize("status", [99, 600, "200", True])
def test_a_prelude_needs_an_http_status(status: object) -> None:
    with pytest.raises(PreludeError, match="statusCode"):
        prelude(status)  # type: ignore[arg-type]


def test_metadata_over_16_kib_is_refused_not_sent() -> None:
    with pytest.raises(PreludeError, match="16384"):
        prelude(200, {"x-big": "v" * MAX_PRELUDE_BYTES})


def test_chunks_and_the_last_chunk_with_error_trailers() -> None:
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    with pytest.raises(ValueError):
        chunk(b"")  # would end the body
    assert last_chunk() == b"0\r\n\r\n"
    trailers = error_trailers("ModelError", "the model stream failed")
    end = last_chunk(trailers)
    lines = end.split(b"\r\n")
    assert lines[0] == b"0" and end.endswith(b"\r\n\r\n")
    fields = dict(line.decode().split(": ", 1) for line in lines[1:] if line)
    assert fields["Lambda-Runtime-Function-Error-Type"] == "ModelError"
    body = json.loads(base64.b64decode(fields["Lambda-Runtime-Function-Error-Body"]))
    assert body == {
        "errorType": "ModelError",
        "errorMessage": "the model stream failed",
        "stackTrace": [],
    }
