"""The request's deadline through the real handler: a cell that would outlive it is cut off
inside the sandbox, so the route answers (200, the cell's timeout in ``stderr``) and the
session is free for the next request; a throttled sandbox near the deadline answers 429 with
``Retry-After`` instead of sleeping on.

The deadline is set by the Lambda context's remaining time (``LambdaContext(remaining_ms=)``),
as on AWS; faults are injected at the botocore layer.
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from devtools.lambda_adapter import LambdaContext

from .conftest import ApiClient, ApiResponse, load_event

pytestmark = pytest.mark.sandbox


def _execute(api: ApiClient, session_id: str, code: str, *, remaining_ms: int) -> ApiResponse:
    event = load_event("sessions_execute")
    event["body"] = json.dumps({"code": code})
    event["pathParameters"] = {"session_id": session_id}
    event["path"] = f"/sessions/{session_id}/execute"
    event["requestContext"]["path"] = "/prod" + event["path"]
    raw = api.handler.api_handler(copy.deepcopy(event), LambdaContext(remaining_ms=remaining_ms))
    headers = dict(raw.get("headers") or {})
    for k, values in (raw.get("multiValueHeaders") or {}).items():
        headers.setdefault(k, values[-1])
    return ApiResponse(raw["statusCode"], json.loads(raw["body"]), headers)


def test_a_cell_longer_than_the_deadline_is_cut_off_and_the_session_stays_usable(
    sandbox_api: ApiClient,
) -> None:
    assert _execute(sandbox_api, "bounded", "x = 7", remaining_ms=29_000).status == 200
    # 7.5 s left: the work must end 3 s from now; the cell would sleep 30 s
    long = _execute(
        sandbox_api, "bounded", "import time\ntime.sleep(30)\nprint('never')", remaining_ms=7_500
    )
    assert long.status == 200, long.body
    assert long.body["is_error"] is True
    assert "CellTimeoutError" in long.body["stderr"]
    assert "never" not in long.body["stdout"]
    after = _execute(sandbox_api, "bounded", "print(x)", remaining_ms=29_000)
    assert (after.status, after.body.get("stdout")) == (200, "7\n"), after.body


def test_a_throttled_sandbox_near_the_deadline_answers_429_with_retry_after(
    sandbox_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every data-plane call is refused; with 6.5 s left (2 s of work) the route answers 429
    after the retries that fit (counted), not after the ten a quiet request gets.

    Each backoff is drawn at the top of its jitter window (full jitter may draw near 0, and
    ten near-0 draws fit anywhere): the count then depends on the deadline, not on chance."""
    from code_exec.sandbox import errors

    monkeypatch.setattr(errors, "random", SimpleNamespace(uniform=lambda low, high: high))
    assert _execute(sandbox_api, "throttled", "y = 1", remaining_ms=29_000).status == 200
    agentcore = sandbox_api.handler.services.agentcore
    sent: list[str] = []

    def refuse(request: Any, **kwargs: Any) -> AWSResponse:
        sent.append(request.url)
        headers = {"x-amzn-ErrorType": "ThrottlingException"}
        return AWSResponse(request.url, 429, headers, _Raw(b'{"message": "Rate exceeded"}'))

    event = "before-send.bedrock-agentcore.InvokeCodeInterpreter"
    agentcore.meta.events.register(event, refuse)
    try:
        resp = _execute(sandbox_api, "throttled", "print(y)", remaining_ms=6_500)
    finally:
        agentcore.meta.events.unregister(event, refuse)
    assert resp.status == 429, resp.body
    assert resp.error["code"] == "SandboxThrottled"
    assert resp.headers["Retry-After"] == "5"
    # the backoffs that fit in 2 s minus 1 s for the attempt: 0..0.5 s then 0..(what is left)
    assert 1 <= len(sent) < 10


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Any:
        yield self._data
