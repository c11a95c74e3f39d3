"""``Idempotency-Key`` on POST /sessions/{id}/execute and POST /invoke, through the real handler:
code runs in the code-interpreter emulator, whose per-session call counters prove a repeat ran
nothing; records live in moto's DynamoDB (the project's one table).

(POST /jobs is covered in ``test_jobs.py``, next to the state machine it starts.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.lambda_adapter import LambdaContext
from emulators.code_interpreter.admin import session_calls

from .conftest import ApiClient, ApiResponse, load_event, replay_bedrock_client

pytestmark = pytest.mark.sandbox

KEY = "Idempotency-Key"
COUNT = "n = globals().get('n', 0) + 1\nprint(n)"
# Another IAM principal than the recorded events' (arn:...:assumed-role/Developer/developer).
OTHER_CALLER = {
    "userArn": "arn:aws:sts::123456789012:assumed-role/Analyst/analyst",
    "caller": "AROAEXAMPLEOTHER:analyst",
    "user": "AROAEXAMPLEOTHER:analyst",
}


def _execute(
    api: ApiClient,
    session_id: str,
    key: str | None,
    identity: dict[str, str] | None = None,
    **body: Any,
) -> ApiResponse:
    """POST /sessions/{session_id}/execute with this key (None: no header), as the recorded
    caller or, with ``identity``, as another one."""
    event = load_event("sessions_execute")
    event["requestContext"]["identity"].update(identity or {})
    event["body"] = json.dumps(body)
    event["pathParameters"] = {"session_id": session_id}
    event["path"] = f"/sessions/{session_id}/execute"
    if key is not None:
        event["headers"][KEY] = key
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    raw = api.handler.api_handler(event, LambdaContext())
    headers = dict(raw.get("headers") or {})
    for name, values in (raw.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, values[-1])
    return ApiResponse(status=raw["statusCode"], body=json.loads(raw["body"]), headers=headers)


def _same_answer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for the files' presigned URLs (a replay signs them again)."""

    def strip(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "files": [{**f, "url": None} for f in body.get("files", [])]}

    return strip(a) == strip(b)


def _sandbox_session(api: ApiClient, session_id: str) -> str:
    record = api.handler.services.store.get_session(session_id)
    assert record is not None and record.sandbox_session_id
    return str(record.sandbox_session_id)


def _runs(emulator_url: str, sandbox_session_id: str) -> int:
    """Cells the emulator ran in that sandbox session (every cell is one executeCode)."""
    return int(session_calls(emulator_url, sandbox_session_id)["tools"].get("executeCode", 0))


@pytest.fixture
def session(sandbox_api: ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A named session, started (so its sandbox's counters exist), deleted afterwards."""
    name = "idem-" + request.node.name.removeprefix("test_")[:50].replace("_", "-")
    assert sandbox_api.execute(name, code="started = True").status == 200
    yield name
    sandbox_api.delete(name)


def test_the_same_key_twice_runs_the_code_once(
    sandbox_api: ApiClient, session: str, emulator_url: str
) -> None:
    sb = _sandbox_session(sandbox_api, session)
    before = _runs(emulator_url, sb)
    first = _execute(sandbox_api, session, "retry-1", code=COUNT)
    assert first.status == 200, first.body
    assert first.body["stdout"].strip() == "1"
    ran = _runs(emulator_url, sb)
    assert ran > before
    again = _execute(sandbox_api, session, "retry-1", code=COUNT)
    assert again.status == 200, again.body
    assert _same_answer(again.body, first.body)  # the first answer, as it was
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _runs(emulator_url, sb) == ran  # nothing reached the sandbox
    # A new key (or none) runs again: the counter moves, the state shows one run more.
    fresh = _execute(sandbox_api, session, "retry-2", code=COUNT)
    assert fresh.body["stdout"].strip() == "2"
    assert _runs(emulator_url, sb) > ran
    assert _execute(sandbox_api, session, None, code=COUNT).body["stdout"].strip() == "3"


def test_the_same_key_on_another_session_or_by_another_caller_is_another_request(
    sandbox_api: ApiClient, session: str, emulator_url: str
) -> None:
    """The record's scope is caller + route (with its path) + key: never shared."""
    assert _execute(sandbox_api, session, "shared", code=COUNT).body["stdout"].strip() == "1"
    other = _execute(sandbox_api, session, "shared", identity=OTHER_CALLER, code=COUNT)
    assert other.status == 200, other.body
    assert other.body["stdout"].strip() == "2"  # ran: another caller's key
    assert "Idempotent-Replayed" not in other.headers
    # The same role under another session name (an SDK renewing its credentials) is the
    # same caller: its retry is answered from the record.
    renewed = {"userArn": "arn:aws:sts::123456789012:assumed-role/Developer/renewed-1"}
    replay = _execute(sandbox_api, session, "shared", identity=renewed, code=COUNT)
    assert replay.body["stdout"].strip() == "1"
    assert replay.headers.get("Idempotent-Replayed") == "true"
    second = f"{session}-b"
    try:
        resp = _execute(sandbox_api, second, "shared", code=COUNT)
        assert (resp.status, resp.body["stdout"].strip()) == (200, "1")
        assert "Idempotent-Replayed" not in resp.headers
    finally:
        sandbox_api.delete(second)


def test_the_same_key_with_another_body_is_422_naming_the_header(
    sandbox_api: ApiClient, session: str, emulator_url: str
) -> None:
    sb = _sandbox_session(sandbox_api, session)
    assert _execute(sandbox_api, session, "k-body", code=COUNT).status == 200
    ran = _runs(emulator_url, sb)
    clash = _execute(sandbox_api, session, "k-body", code="print('something else')")
    assert clash.status == 422, clash.body
    assert clash.error["code"] == "IdempotencyKeyReused"
    assert clash.error["field"] == KEY
    assert _runs(emulator_url, sb) == ran
    # the same body in another JSON spelling is the same request
    spelled = _execute(sandbox_api, session, "k-body", code=COUNT, language="python")
    assert spelled.headers.get("Idempotent-Replayed") == "true", spelled.body


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "caf\u00e9"])
def test_a_malformed_key_is_400_naming_the_header(sandbox_api: ApiClient, key: str) -> None:
    resp = _execute(sandbox_api, "idem-never-started", key, code=COUNT)
    assert resp.status == 400, resp.body
    assert resp.error["field"] == KEY
    assert sandbox_api.handler.services.store.get_session("idem-never-started") is None


def test_a_repeat_while_the_first_runs_is_409_with_retry_after(
    sandbox_api: ApiClient, session: str
) -> None:
    """The first request's cell waits for a file the test writes once the repeat answered."""
    from code_exec.sandbox import SandboxFile

    services = sandbox_api.handler.services
    held = "import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.01)\nprint('done')"
    slow: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: slow.update(resp=_execute(sandbox_api, session, "k-busy", code=held))
    )
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _in_progress(services):
        time.sleep(0.05)  # until the first request's record is written
    assert len(_in_progress(services)) == 1
    repeat = _execute(sandbox_api, session, "k-busy", code=held)
    services.sandbox.write_files(_sandbox_session(sandbox_api, session), [SandboxFile("go", b"")])
    thread.join(30)
    assert repeat.status == 409, repeat.body
    assert repeat.error["code"] == "IdempotencyInProgress"
    assert repeat.error["field"] == KEY
    assert int(repeat.headers["Retry-After"]) >= 1
    assert slow["resp"].status == 200 and slow["resp"].body["stdout"].strip() == "done"
    after = _execute(sandbox_api, session, "k-busy", code=held)
    assert _same_answer(after.body, slow["resp"].body)
    assert after.headers.get("Idempotent-Replayed") == "true"


def _in_progress(services: Any) -> list[dict[str, Any]]:
    """The idempotency records of requests still running."""
    items = services.dynamodb.query(
        TableName=services.config.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY"}},
        ConsistentRead=True,
    )["Items"]
    return [i for i in items if i["idempotency_status"]["S"] == "INPROGRESS"]


def test_an_error_is_not_stored_and_the_retry_runs(sandbox_api: ApiClient, session: str) -> None:
    """The sandbox refuses the first run (injected at the botocore layer): the client's retry
    with the same key runs the code, and that answer is the one kept."""
    agentcore = sandbox_api.handler.services.agentcore
    refused: list[str] = []

    def refuse_once(params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body") or b""
        if refused or b'"executeCode"' not in (body if isinstance(body, bytes) else body.encode()):
            return None
        refused.append("executeCode")
        error = {"Code": "AccessDeniedException", "Message": "not this time"}
        return (
            type("R", (), {"status_code": 403, "headers": {}, "content": b""})(),
            {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}},
        )

    event = "before-call.bedrock-agentcore.InvokeCodeInterpreter"
    agentcore.meta.events.register(event, refuse_once)
    try:
        first = _execute(sandbox_api, session, "k-error", code=COUNT)
        retry = _execute(sandbox_api, session, "k-error", code=COUNT)
    finally:
        agentcore.meta.events.unregister(event, refuse_once)
    assert refused == ["executeCode"]
    assert first.status == 502, first.body
    assert "Idempotent-Replayed" not in retry.headers
    assert (retry.status, retry.body["stdout"].strip()) == (200, "1")
    again = _execute(sandbox_api, session, "k-error", code=COUNT)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.body["stdout"].strip() == "1"


def test_invoke_with_the_same_key_twice_calls_the_model_and_runs_the_code_once(
    sandbox_api: ApiClient, emulator_url: str
) -> None:
    """The recorded turn is served once: a second model call would find no turn left."""
    fixture = load_fixture("converse_session_chart")
    first_call = fixture["calls"][0]
    fixture = {**fixture, "turns": fixture["turns"][: first_call["turns"]]}
    services = sandbox_api.handler.services
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    body = {"prompt": first_call["prompt"], "loop": "converse", "session_id": "idem-invoke"}
    try:
        with BedrockReplay(fixture).attach(bedrock):
            first = sandbox_api.call("invoke", body=body, headers={KEY: "turn-1"})
            assert first.status == 200, first.body
            sb = _sandbox_session(sandbox_api, "idem-invoke")
            ran = _runs(emulator_url, sb)
            assert ran >= 1
            again = sandbox_api.call("invoke", body=body, headers={KEY: "turn-1"})
        assert again.status == 200, again.body
        assert _same_answer(again.body, first.body)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert _runs(emulator_url, sb) == ran
        [chart] = again.body["files"]  # its URL signed again, and it works
        assert requests.get(chart["url"], timeout=10).content.startswith(b"<svg")
    finally:
        services.reset()
        sandbox_api.delete("idem-invoke")


def test_an_answer_over_the_inline_limit_is_kept_in_s3_and_replayed(
    sandbox_api: ApiClient, session: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from code_exec.store import base

    monkeypatch.setattr(base, "INLINE_LIMIT_BYTES", 16)  # every answer is "large"
    services = sandbox_api.handler.services
    bucket = services.config.files_bucket

    def stored() -> set[str]:
        listed = services.s3.list_objects_v2(Bucket=bucket, Prefix="state/idempotency/")
        return {o["Key"] for o in listed.get("Contents", [])}

    before = stored()
    first = _execute(sandbox_api, session, "k-large", code=COUNT)
    assert first.status == 200, first.body
    assert len(stored() - before) == 1
    ran = _runs(emulator_url, _sandbox_session(sandbox_api, session))
    again = _execute(sandbox_api, session, "k-large", code=COUNT)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _same_answer(again.body, first.body)
    assert _runs(emulator_url, _sandbox_session(sandbox_api, session)) == ran


def test_the_record_is_an_item_of_the_table_expiring_after_24_hours(
    sandbox_api: ApiClient, session: str
) -> None:
    """Keys and TTL as the table has them (pk/sk, ``expires_at`` in epoch seconds)."""
    services = sandbox_api.handler.services
    items = services.dynamodb.query(
        TableName=services.config.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY"}},
        ConsistentRead=True,
    )["Items"]
    known = {i["sk"]["S"] for i in items}
    sent = time.time()
    assert _execute(sandbox_api, session, "k-ttl", code=COUNT).status == 200
    answered = time.time()
    items = services.dynamodb.query(
        TableName=services.config.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY"}},
        ConsistentRead=True,
    )["Items"]
    [item] = [i for i in items if i["sk"]["S"] not in known]
    prefix, _, digest = item["sk"]["S"].partition("#")
    assert prefix == "REQUEST" and len(digest) == 64  # SHA-256 of caller, route and key
    assert item["idempotency_status"]["S"] == "COMPLETED"
    expires_at = int(item["expires_at"]["N"])
    assert int(sent) + 86400 <= expires_at <= int(answered) + 86400 + 1
    assert "k-ttl" not in json.dumps(item)  # the key itself is only hashed
