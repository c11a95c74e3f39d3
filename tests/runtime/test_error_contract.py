"""The failure contract: throttled -> 429, unavailable or deadline -> 503, both with
``Retry-After``; AccessDenied -> 502 without; ``/v1`` in Anthropic's types (429
``rate_limit_error``, 529 ``overloaded_error``), through the real handler.

Faults are injected at the botocore layer: a ``before-call`` hook on the handler's real
DynamoDB client answers the call with the error response AWS would send.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from code_exec import deadline
from code_exec.anthropic.errors import anthropic_error
from code_exec.api.errors import error_parts
from code_exec.dependency_errors import dependency_error
from code_exec.exceptions import (
    CodeExecError,
    DeadlineExceededError,
    DependencyAccessDeniedError,
    DependencyThrottledError,
    DependencyUnavailableError,
    SandboxAccessDeniedError,
    SandboxInternalError,
    SandboxThrottledError,
)

from .conftest import ApiClient

V1_EVENT = {"path": "/v1/files", "requestContext": {"requestId": "r-1"}}


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetItem",
    )


@contextmanager
def failing(client: Any, operation: str, code: str, status: int) -> Iterator[list[str]]:
    """``operation`` on ``client`` answers AWS's error ``code`` with HTTP ``status``."""
    seen: list[str] = []

    def answer(**kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        seen.append(operation)
        parsed = {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("https://injected.invalid", status, {}, None), parsed

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, answer)
    try:
        yield seen
    finally:
        client.meta.events.unregister(event, answer)


def test_retry_after_is_a_class_default_an_instance_may_override() -> None:
    assert CodeExecError("x").retry_after is None
    assert SandboxThrottledError("x").retry_after == 5
    assert SandboxThrottledError("x", retry_after=12).retry_after == 12
    assert DependencyUnavailableError("x", retry_after=0).retry_after == 1  # never "now"


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (SandboxThrottledError("slow down"), 429, "SandboxThrottled", "5"),
        (DependencyThrottledError("slow down", retry_after=7), 429, "Throttled", "7"),
        (DependencyUnavailableError("down"), 503, "DependencyUnavailable", "5"),
        (DeadlineExceededError("late"), 503, "DeadlineExceeded", "5"),
        (SandboxInternalError("kernel died"), 503, "SandboxInternalError", "5"),
        (SandboxAccessDeniedError("no"), 502, "SandboxAccessDenied", None),
        (DependencyAccessDeniedError("no"), 502, "DependencyAccessDenied", None),
    ],
)
def test_our_routes_render_retry_after_when_the_error_has_one(
    error: CodeExecError, status: int, code: str, retry_after: str | None
) -> None:
    got_status, body, headers = error_parts(error, {"path": "/sessions/s/execute"})
    assert (got_status, json.loads(body)["error"]["code"]) == (status, code)
    assert headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (SandboxThrottledError("slow down"), 429, "rate_limit_error"),
        (DependencyThrottledError("slow down"), 429, "rate_limit_error"),
        (DependencyUnavailableError("down"), 529, "overloaded_error"),
        (DeadlineExceededError("late"), 529, "overloaded_error"),
        (SandboxInternalError("kernel died"), 529, "overloaded_error"),
    ],
)
def test_v1_renders_anthropic_types_with_retry_after(
    error: CodeExecError, status: int, kind: str
) -> None:
    mapped = anthropic_error(error)
    assert (mapped.status, mapped.type) == (status, kind)
    assert mapped.headers["retry-after"] == "5"
    got_status, _, headers = error_parts(error, V1_EVENT)
    assert (got_status, headers["retry-after"]) == (status, "5")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("ThrottlingException", 400), DependencyThrottledError),
        (_client_error("ProvisionedThroughputExceededException", 400), DependencyThrottledError),
        (_client_error("SlowDown", 503), DependencyThrottledError),
        (_client_error("InternalServerError", 500), DependencyUnavailableError),
        (_client_error("ServiceUnavailable", 503), DependencyUnavailableError),
        (_client_error("AccessDeniedException", 400), DependencyAccessDeniedError),
        (ReadTimeoutError(endpoint_url="https://dynamodb"), DependencyUnavailableError),
    ],
)
def test_botocore_errors_are_classified(exc: Exception, expected: type[CodeExecError]) -> None:
    error = dependency_error(exc)
    assert type(error) is expected
    assert "injected" not in error.message  # the service's text is not echoed


def test_a_client_error_that_is_not_a_dependency_failure_is_left_alone() -> None:
    assert dependency_error(_client_error("ValidationException", 400)) is None
    assert dependency_error(ValueError("x")) is None


def test_a_timeout_after_the_deadline_is_deadline_exceeded() -> None:
    now = [100.0]
    late = deadline.Deadline(at=50.0, clock=lambda: now[0])
    with deadline.bound(late):
        error = dependency_error(ReadTimeoutError(endpoint_url="https://s3"))
    assert type(error) is DeadlineExceededError
    assert error is not None and (error.status, error.retry_after) == (503, 5)


def test_dynamodb_throttling_answers_429_json_with_retry_after(api: ApiClient) -> None:
    dynamodb = api.handler.services.dynamodb
    with failing(dynamodb, "GetItem", "ProvisionedThroughputExceededException", 400) as seen:
        resp = api.get_job("0123456789abcdef0123456789abcdef")
    assert seen == ["GetItem"]
    assert resp.status == 429, resp.body
    assert resp.error["code"] == "Throttled"
    assert resp.headers["Retry-After"] == "5"


def test_dynamodb_5xx_answers_503_json_with_retry_after(api: ApiClient) -> None:
    dynamodb = api.handler.services.dynamodb
    with failing(dynamodb, "GetItem", "InternalServerError", 500):
        resp = api.get_job("0123456789abcdef0123456789abcdef")
    assert resp.status == 503, resp.body
    assert resp.error["code"] == "DependencyUnavailable"
    assert resp.headers["Retry-After"] == "5"


def test_dynamodb_access_denied_answers_502_without_retry_after(api: ApiClient) -> None:
    dynamodb = api.handler.services.dynamodb
    with failing(dynamodb, "GetItem", "AccessDeniedException", 400):
        resp = api.get_job("0123456789abcdef0123456789abcdef")
    assert resp.status == 502, resp.body
    assert resp.error["code"] == "DependencyAccessDenied"
    assert "Retry-After" not in resp.headers


@pytest.mark.parametrize(
    "exc",
    [
        ReadTimeoutError(endpoint_url="https://bedrock-runtime"),
        _client_error("InternalServerException", 500),
        _client_error("ServiceUnavailableException", 503),
    ],
)
def test_a_transient_model_failure_is_503_with_retry_after(
    exc: ClientError | BotoCoreError,
) -> None:
    from code_exec.loops.common import model_error

    error = model_error(exc, "m")
    assert (error.status, error.retry_after) == (503, 5)
    assert anthropic_error(error).type == "overloaded_error"


def test_every_route_of_ours_documents_429_and_503_with_retry_after() -> None:
    from code_exec.api import create_app, openapi_json
    from code_exec.services import Services

    paths = json.loads(openapi_json(create_app(Services())))["paths"]
    ours = {(p, m): op for p, ops in paths.items() for m, op in ops.items() if "/v1/" not in p}
    assert ("/sessions/{session_id}/execute", "post") in ours
    for (path, method), op in ours.items():
        if path == "/invoke/stream":
            continue  # the streamed route's own document (its errors come as events)
        for status in ("429", "503"):
            assert "Retry-After" in op["responses"][status]["headers"], (path, method, status)
        assert "headers" not in op["responses"]["502"]
