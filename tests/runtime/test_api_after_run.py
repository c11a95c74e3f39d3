"""A failure AFTER the code ran (output collection, saving the session) loses nothing and a
retry with the same ``Idempotency-Key`` does not run the code again.

Faults are injected at the botocore layer on the real clients (``before-call`` hooks that
answer as the service would: a throttle, a 503); the code runs in the code-interpreter
emulator, whose per-session ``executeCode`` counter proves what ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.fault_injection import sleeps_skipped

from .conftest import ApiClient, replay_bedrock_client
from .test_api_idempotency import KEY, _execute, _runs, _sandbox_session, session

pytestmark = pytest.mark.sandbox

__all__ = ["session"]  # the named-session fixture, shared with test_api_idempotency


@pytest.fixture(autouse=True)
def _no_backoff_waits() -> Iterator[None]:
    """Throttled calls are retried here as in the Lambda; their backoff waits are skipped."""
    with sleeps_skipped():
        yield


COUNT_AND_WRITE = (
    "n = globals().get('n', 0) + 1\nopen('outputs/r%d.txt' % n, 'w').write('kept %d' % n)\nprint(n)"
)


def _answer(status: int, code: str) -> tuple[Any, dict[str, Any]]:
    """What botocore would have parsed from the service's error answer."""
    http = type("R", (), {"status_code": status, "headers": {}, "content": b""})()
    error = {"Code": code, "Message": f"injected {code}"}
    return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}


@contextmanager
def failing(
    client: Any, operation: str, status: int, code: str, when: Callable[[dict[str, Any]], bool]
) -> Iterator[list[str]]:
    """Every ``operation`` call on ``client`` matching ``when`` fails (no retry: the answer
    replaces the request). Yields the list of calls it failed."""
    failed: list[str] = []

    def hook(params: dict[str, Any], **_: Any) -> Any:
        if not when(params):
            return None
        failed.append(operation)
        return _answer(status, code)

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, hook)
    try:
        yield failed
    finally:
        client.meta.events.unregister(event, hook)


def _tool(name: str) -> Callable[[dict[str, Any]], bool]:
    """Matches an InvokeCodeInterpreter call of one tool (``listFiles``, ``readFiles``...)."""

    def match(params: dict[str, Any]) -> bool:
        body = params.get("body") or b""
        raw = body if isinstance(body, bytes) else body.encode()
        return f'"name": "{name}"'.encode() in raw or f'"name":"{name}"'.encode() in raw

    return match


def _output_files(params: dict[str, Any]) -> bool:
    return "/files/sessions/" in str(params.get("url_path") or params.get("url") or "")


SANDBOX_FAULTS = {
    "listFiles throttled": ("ThrottlingException", 429, _tool("listFiles")),
    "readFiles failing": ("InternalServerException", 500, _tool("readFiles")),
}


@pytest.mark.parametrize("fault", sorted(SANDBOX_FAULTS))
def test_outputs_not_collected_still_answer_the_run_and_a_retry_does_not_run_again(
    sandbox_api: ApiClient, session: str, emulator_url: str, fault: str
) -> None:
    code, status, when = SANDBOX_FAULTS[fault]
    key = f"k-after-{code}"  # the parametrized tests share a session name (and a record)
    agentcore = sandbox_api.handler.services.agentcore
    sb = _sandbox_session(sandbox_api, session)
    before = _runs(emulator_url, sb)
    with failing(agentcore, "InvokeCodeInterpreter", status, code, when) as failed:
        first = _execute(sandbox_api, session, key, code=COUNT_AND_WRITE)
    assert failed, "the fault was never injected"
    assert first.status == 200, first.body
    assert first.body["stdout"].strip() == "1"  # the code's result reached the client
    assert first.body["files"] == []
    [problem] = first.body["after_run_errors"]
    assert problem["step"] == "outputs"
    assert problem["code"].startswith("Sandbox")
    assert problem["files_kept"] is True
    ran = _runs(emulator_url, sb)
    assert ran == before + 1
    retry = _execute(sandbox_api, session, key, code=COUNT_AND_WRITE)
    assert retry.status == 200, retry.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.body["stdout"].strip() == "1"
    assert _runs(emulator_url, sb) == ran  # the code did not run again
    # The files stayed in outputs/: the next request on the session delivers them.
    later = _execute(sandbox_api, session, "k-later", command="true")
    assert later.status == 200, later.body
    assert later.body["after_run_errors"] == []
    [kept] = later.body["files"]
    assert kept["name"] == "r1.txt"
    assert requests.get(kept["url"], timeout=10).content == b"kept 1"


def test_s3_put_throttled_still_answers_the_run_and_keeps_the_files_in_the_sandbox(
    sandbox_api: ApiClient, session: str, emulator_url: str
) -> None:
    s3 = sandbox_api.handler.services.s3
    sb = _sandbox_session(sandbox_api, session)
    with failing(s3, "PutObject", 503, "SlowDown", _output_files) as failed:
        first = _execute(sandbox_api, session, "k-s3", code=COUNT_AND_WRITE)
    assert failed
    assert first.status == 200, first.body
    assert first.body["stdout"].strip() == "1"
    [problem] = first.body["after_run_errors"]
    assert (problem["step"], problem["files_kept"]) == ("outputs", True)
    assert "SlowDown" in problem["message"]
    ran = _runs(emulator_url, sb)
    retry = _execute(sandbox_api, session, "k-s3", code=COUNT_AND_WRITE)
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.body["stdout"].strip() == "1"
    assert _runs(emulator_url, sb) == ran
    later = _execute(sandbox_api, session, None, command="true")
    assert [f["name"] for f in later.body["files"]] == ["r1.txt"]


def test_the_session_not_saved_still_answers_the_run_and_a_retry_does_not_run_again(
    sandbox_api: ApiClient, session: str, emulator_url: str
) -> None:
    """The session's save (TTL renewal) after the run is throttled by DynamoDB."""
    dynamodb = sandbox_api.handler.services.dynamodb
    sb = _sandbox_session(sandbox_api, session)
    with failing(
        dynamodb, "UpdateItem", 400, "ProvisionedThroughputExceededException", _session_save
    ) as failed:
        first = _execute(sandbox_api, session, "k-save", code=COUNT_AND_WRITE)
    assert failed
    assert first.status == 200, first.body
    assert first.body["stdout"].strip() == "1"
    assert [f["name"] for f in first.body["files"]] == ["r1.txt"]
    [problem] = first.body["after_run_errors"]
    assert problem["step"] == "session"
    assert "ProvisionedThroughputExceededException" in problem["message"]
    ran = _runs(emulator_url, sb)
    retry = _execute(sandbox_api, session, "k-save", code=COUNT_AND_WRITE)
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.body["stdout"].strip() == "1"
    assert _runs(emulator_url, sb) == ran
    # the session was not lost: its lease was released and its state goes on
    assert _execute(sandbox_api, session, None, code="print(n)").body["stdout"].strip() == "1"


def _session_save(params: dict[str, Any]) -> bool:
    """The UpdateItem that saves a session after a run (it sets ``history``)."""
    body = params.get("body") or b""
    raw = body.decode() if isinstance(body, bytes) else str(body)
    return "history = :h" in raw


def test_the_answer_not_stored_is_still_answered(
    sandbox_api: ApiClient, session: str, emulator_url: str
) -> None:
    """Powertools cannot mark the record COMPLETED (DynamoDB throttled): the client still gets
    the code's result (the record stays in progress until the Lambda's time is up)."""
    dynamodb = sandbox_api.handler.services.dynamodb

    def completing(params: dict[str, Any]) -> bool:
        body = params.get("body") or b""
        raw = body.decode() if isinstance(body, bytes) else str(body)
        return "IDEMPOTENCY" in raw and "COMPLETED" in raw

    with failing(
        dynamodb, "UpdateItem", 400, "ProvisionedThroughputExceededException", completing
    ) as failed:
        first = _execute(sandbox_api, session, "k-store", code=COUNT_AND_WRITE)
    assert failed
    assert first.status == 200, first.body
    assert first.body["stdout"].strip() == "1"
    assert [f["name"] for f in first.body["files"]] == ["r1.txt"]


def test_invoke_outputs_not_collected_still_answer_the_turn_and_a_retry_does_not_run_again(
    sandbox_api: ApiClient, emulator_url: str
) -> None:
    """POST /invoke: the turn's chart is not collected (listFiles throttled); the answer keeps
    the turn's text and code runs, and the retry with the same key replays it."""
    fixture = load_fixture("converse_session_chart")
    first_call = fixture["calls"][0]
    fixture = {**fixture, "turns": fixture["turns"][: first_call["turns"]]}
    services = sandbox_api.handler.services
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    name = "idem-after-invoke"
    body = {"prompt": first_call["prompt"], "loop": "converse", "session_id": name}
    try:
        with BedrockReplay(fixture).attach(bedrock):
            with failing(
                services.agentcore,
                "InvokeCodeInterpreter",
                429,
                "ThrottlingException",
                _tool("listFiles"),
            ) as failed:
                first = sandbox_api.call("invoke", body=body, headers={KEY: "turn-after"})
            assert failed
            assert first.status == 200, first.body
            assert first.body["text"] and first.body["code_runs"]
            assert first.body["files"] == []
            [problem] = first.body["after_run_errors"]
            assert (problem["step"], problem["files_kept"]) == ("outputs", True)
            sb = _sandbox_session(sandbox_api, name)
            ran = _runs(emulator_url, sb)
            again = sandbox_api.call("invoke", body=body, headers={KEY: "turn-after"})
        assert again.status == 200, again.body
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.body["text"] == first.body["text"]
        assert _runs(emulator_url, sb) == ran
        later = _execute(sandbox_api, name, None, command="true")
        [chart] = later.body["files"]
        assert requests.get(chart["url"], timeout=10).content.startswith(b"<svg")
    finally:
        services.reset()
        sandbox_api.delete(name)


def test_a_one_shot_turn_whose_outputs_are_not_collected_says_they_are_lost(
    sandbox_api: ApiClient,
) -> None:
    """/invoke without session_id: the sandbox session is stopped at the end of the request,
    so files it still held are gone (``files_kept`` false); the turn's answer is not."""
    fixture = load_fixture("converse_session_chart")
    first_call = fixture["calls"][0]
    fixture = {**fixture, "turns": fixture["turns"][: first_call["turns"]]}
    services = sandbox_api.handler.services
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    body = {"prompt": first_call["prompt"], "loop": "converse"}
    try:
        with BedrockReplay(fixture).attach(bedrock):
            with failing(
                services.agentcore,
                "InvokeCodeInterpreter",
                429,
                "ThrottlingException",
                _tool("listFiles"),
            ) as failed:
                first = sandbox_api.call("invoke", body=body, headers={KEY: "one-shot-after"})
            assert failed
            # a second model call would find no recorded turn left: the replay ran nothing
            again = sandbox_api.call("invoke", body=body, headers={KEY: "one-shot-after"})
    finally:
        services.reset()
    assert first.status == 200, first.body
    assert first.body["text"] and first.body["code_runs"] and first.body["files"] == []
    [problem] = first.body["after_run_errors"]
    assert (problem["step"], problem["code"], problem["files_kept"]) == (
        "outputs",
        "SandboxThrottled",
        False,
    )
    assert "lost" in problem["message"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.body["after_run_errors"] == first.body["after_run_errors"]
