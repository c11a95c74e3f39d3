"""The ERROR paths of every function, driven for ``test_least_privilege`` (see
:mod:`.least_privilege_drive` for the happy ones).

Moto enforces no IAM, so a call made only when something goes wrong (a read after a failed
conditional write, a stop after an expiry, a status read after a refused stop) is proven
granted only if a step takes that path here: unknown, foreign, busy and expired containers and
sessions, 404/409/410/413 answers, a refused authorization, a throttled model, a dependency that
times out or throttles (injected at the botocore layer on the function's own client, or by the
emulator for the sandbox). Each step asserts the answer it drove, so a path that stops being
taken fails here, not as a misleading least-privilege finding.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from code_exec.anthropic.ids import new_container_id
from code_exec.owners import container_owner
from code_exec.sandbox import SandboxClient
from code_exec.store import ContainerRecord, Store
from code_exec.streaming.runtime import serve
from code_exec.streaming.runtime_api import RuntimeApi

from devtools.lambda_adapter import LambdaContext
from devtools.runtime_api import FakeRuntimeApi

from .least_privilege_drive import JSON, TEST_ACTOR, Run, _inject_fault, _v1_event

__all__ = ["ERROR_STEPS", "v1_container_probes", "v1_requests"]

_MODEL = "claude-sonnet-4-5"
_CE = {"type": "code_execution_20250825", "name": "code_execution"}
_OVER_LIMIT = str(6 * 1024 * 1024)  # a declared Content-Length over every body limit


def _text_turn(text: str) -> dict[str, Any]:
    """A recorded model turn answering with text only (no code: no container needed)."""
    return {
        "name": "lp-text",
        "turns": [
            {
                "expect": {},
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "id": "msg_bdrk_01" + "t" * 22,
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-sonnet-4-5-20250929",
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 2},
                    },
                },
            }
        ],
    }


def _store(run: Run) -> Store:
    """The table and bucket through the test's own clients (never checked)."""
    env = run.function(".api_handler").environment
    return Store(
        run.client("dynamodb"),
        env["TABLE_NAME"],
        ttl_seconds=3600,
        s3=run.client("s3"),
        bucket=env["FILES_BUCKET"],
    )


def _sandbox(run: Run) -> SandboxClient:
    import boto3

    with run.recorder.acting_as(TEST_ACTOR):
        client = boto3.client(
            "bedrock-agentcore", region_name=run.deployment.region, endpoint_url=run.emulator_url
        )
    return SandboxClient(
        run.function(".api_handler").environment["CODE_INTERPRETER_ID"], client=client
    )


def _container(run: Run, owner: str, *, busy: bool = False, expired: bool = False) -> str:
    """A container of ``owner`` as earlier requests left it: idle, leased by a running
    request (``busy``), or past its idle expiry with its sandbox still READY (``expired``)."""
    container_id = new_container_id()
    session = None
    if expired:
        session = _sandbox(run).start_session(name=container_owner(container_id).name)
    now = time.time()
    record = ContainerRecord(
        container_id,
        owner,
        sandbox_session_id=session,
        created_at=now,
        session_ends_at=now + 900,
        idle_until=now - 1 if expired else now + 300,
    )
    store = _store(run)
    store.create_container(record, "lp-running-request", 600)
    if not busy:
        store.release_container(container_id, "lp-running-request")
    return container_id


def _message(container: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": _MODEL,
        "max_tokens": 64,
        "tools": [_CE],
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }
    if container:
        body["container"] = container
    return body


def _v1(body: dict[str, Any], *, owner: str = "alice", **headers: str) -> dict[str, Any]:
    event = _v1_event("/v1/messages", "POST", json.dumps(body).encode(), JSON)
    event["requestContext"]["authorizer"] = {
        **event["requestContext"]["authorizer"],
        "owner": owner,
    }
    event["headers"] = {**event["headers"], **headers}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


Request = tuple[dict[str, Any], Any]  # (event, what serves its model calls: a fixture or None)


def v1_requests(run: Run, requests: list[Request]) -> list[tuple[int | None, Any]]:
    """(status, JSON body) of each ``/v1/messages`` request, served one after another by the
    streaming function's own runtime loop."""
    fn = run.function(".stream_handler")
    answers: list[tuple[int | None, Any]] = []
    with FakeRuntimeApi() as runtime_api:
        loop = threading.Thread(
            target=serve,
            args=(RuntimeApi(runtime_api.address), fn.handler),
            kwargs={"invocations": len(requests)},
            name="streaming-runtime",
            daemon=True,
        )
        loop.start()
        for event, fixture in requests:
            serving = run.replay(fixture, ".stream_handler", stream=True) if fixture else None
            with serving or nullcontext():
                reply = runtime_api.invoke(event).reply(60)
                raw = reply.body(60)
            answers.append((reply.status_code, json.loads(raw) if raw else None))
        loop.join(30)
        assert not loop.is_alive(), "the streaming runtime did not end after its invocations"
    return answers


def _error_type(answer: tuple[int | None, Any]) -> tuple[int | None, str]:
    status, body = answer
    return status, str((body or {}).get("error", {}).get("type"))


def v1_container_probes(run: Run) -> None:
    """Unknown, foreign (busy and idle) and busy containers: told apart from the failed lease
    alone; the owner's expired container: its sandbox is stopped."""
    unknown = "container_" + uuid.uuid4().hex[:24]
    foreign_idle, foreign_busy = _container(run, "mallory"), _container(run, "mallory", busy=True)
    busy = _container(run, "alice", busy=True)
    expired = _container(run, "alice", expired=True)
    answers = v1_requests(
        run,
        [
            (_v1(_message(unknown)), None),
            (_v1(_message(foreign_idle)), None),
            (_v1(_message(foreign_busy)), None),
            (_v1(_message(busy)), None),
            (_v1(_message(expired)), None),
        ],
    )
    assert [_error_type(a) for a in answers] == [
        (404, "not_found_error"),
        (404, "not_found_error"),
        (404, "not_found_error"),
        (409, "invalid_request_error"),
        (404, "not_found_error"),
    ], answers
    assert "expired" in answers[-1][1]["error"]["message"], answers[-1]
    record = _store(run).get_container(expired)
    assert record is not None and record.status == "STOPPED", record
    assert _sandbox(run).session_status(str(record.sandbox_session_id)) == "TERMINATED"


def _upload(run: Run, name: str, data: bytes) -> str:
    form = (
        (
            f'--b\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + b"\r\n--b--\r\n"
    )
    event = _v1_event("/v1/files", "POST", form, "multipart/form-data; boundary=b")
    raw = run.function(".api_handler").handler(event, LambdaContext())
    assert raw["statusCode"] == 200, raw["body"]
    return str(json.loads(raw["body"])["id"])


@contextmanager
def _failing(client: Any, operation: str, error: Callable[[], Exception]) -> Iterator[list[str]]:
    """Every ``operation`` call of ``client`` fails in transport (before anything is sent)."""
    seen: list[str] = []

    def fail(**kwargs: Any) -> None:
        seen.append(operation)
        raise error()

    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register_first(event, fail, unique_id="lp-fault")
    try:
        yield seen
    finally:
        client.meta.events.unregister(event, unique_id="lp-fault")


def _timeout() -> Exception:
    return ReadTimeoutError(endpoint_url="https://injected.invalid")


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@contextmanager
def _throttled(client: Any, operation: str) -> Iterator[list[str]]:
    """Every attempt of ``operation`` on ``client`` answers HTTP 429 ThrottlingException (as
    Bedrock does), whatever the client's retries."""
    seen: list[str] = []

    def throttle(request: Any, **_: Any) -> AWSResponse:
        seen.append(operation)
        headers = {"x-amzn-ErrorType": "ThrottlingException", "Content-Type": "application/json"}
        body = json.dumps({"message": "Too many requests, please wait before trying again."})
        return AWSResponse(request.url, 429, headers, _Raw(body.encode()))

    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register_first(event, throttle, unique_id="lp-throttle")
    try:
        yield seen
    finally:
        client.meta.events.unregister(event, unique_id="lp-throttle")


def v1_uploads_and_failures(run: Run) -> None:
    """A ``container_upload`` into a new container (the file's record and bytes read, written
    to the sandbox); a body over the limit (413); a throttled model call; the lease write timing
    out; the model timing out in the owner's idle container (saved and released after)."""
    file_id = _upload(run, "lp-upload.csv", b"a,b\n1,2\n")
    upload = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look at the file."},
                    {"type": "container_upload", "file_id": file_id},
                ],
            }
        ]
    }
    idle = _container(run, "alice")
    services = run.function(".stream_handler").services
    answers = v1_requests(
        run,
        [
            (_v1(_message(**upload)), _text_turn("I see it.")),
            (_v1(_message(), **{"Content-Length": _OVER_LIMIT}), None),
        ],
    )
    (status, message), too_large = answers
    assert status == 200 and message["container"]["id"], message
    assert _error_type(too_large) == (413, "request_too_large"), too_large
    with _throttled(services.bedrock, "InvokeModelWithResponseStream") as seen:
        [throttled] = v1_requests(run, [(_v1(_message()), None)])
    assert seen and _error_type(throttled) == (429, "rate_limit_error"), throttled
    with _failing(services.dynamodb, "UpdateItem", _timeout) as seen:
        [lease] = v1_requests(run, [(_v1(_message(idle)), None)])
    assert seen and (lease[0] or 0) >= 500, lease
    with _failing(services.bedrock, "InvokeModelWithResponseStream", _timeout) as seen:
        [model] = v1_requests(run, [(_v1(_message(idle)), None)])
    assert seen and (model[0] or 0) >= 500, model
    record = _store(run).get_container(idle)
    assert record is not None and record.leased_until == 0.0, "the failed turn kept its lease"


def api_error_paths(run: Run) -> None:
    """The API function's refusals: a busy session (409), a stopped one (410), an unknown job
    (404), a body over the limit (413), an unknown and an undownloadable file (404, 400), a
    sandbox call throttled once (retried), a table read that times out; and the authorizer
    refusing an unknown key."""
    api, store = run.api, _store(run)
    assert api.execute("lp-err", code="x = 1").status == 200
    record = store.get_session("lp-err")
    assert record is not None and record.sandbox_session_id
    _inject_fault(
        run,
        {
            "exception": "throttlingException",
            "sessionId": record.sandbox_session_id,
            "mode": "http",
            "operation": "InvokeCodeInterpreter",
        },
    )
    assert api.execute("lp-err", code="print(x)").body["stdout"] == "1\n"
    store.acquire_session("lp-err", "lp-running-request", 600)
    assert api.execute("lp-err", code="x").status == 409
    store.release_session("lp-err", "lp-running-request")
    _sandbox(run).stop_session(record.sandbox_session_id)  # AgentCore ended it (its timeout)
    gone = api.execute("lp-err", code="x")
    assert gone.status == 410, gone.body
    assert api.delete("lp-err").status == 200
    assert api.get_job("job-" + uuid.uuid4().hex).status == 404
    big = api.call(
        "sessions_execute",
        body={"code": "x"},
        path_params={"session_id": "lp-big"},
        headers={"Content-Length": _OVER_LIMIT},
    )
    assert big.status == 413, big.body
    handler = run.function(".api_handler").handler
    for file_id, status in (("file_" + "0" * 24, 404), (_upload(run, "lp.csv", b"x"), 400)):
        event = _v1_event(f"/v1/files/{file_id}/content", "GET", b"", JSON)
        event["resource"] = "/v1/files/{id}/content"
        event["pathParameters"] = {"file_id": file_id}
        raw = handler(event, LambdaContext())
        assert raw["statusCode"] == status, raw["body"]
    services = run.function(".api_handler").services
    with _failing(services.dynamodb, "GetItem", _timeout) as seen:
        slow = api.get_job("job-" + uuid.uuid4().hex)
    assert seen and slow.status >= 500, slow.body
    event = _v1_event("/v1/messages", "POST", b"", JSON)
    event["headers"]["x-api-key"] = "sk-ant-api03-" + uuid.uuid4().hex
    event["methodArn"] = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/v1/x"
    authorizer = run.function("authorizer.handler").handler
    try:
        denied = authorizer(event, LambdaContext())
    except Exception as e:  # API Gateway's 401: the authorizer raises "Unauthorized"
        assert str(e) == "Unauthorized", e
    else:
        assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny", denied


def job_throttled(run: Run) -> None:
    """A job whose model call is throttled: the job fails as throttled, cleanup stops its
    sandbox."""
    bedrock = run.function(".job_handler").services.bedrock
    with _throttled(bedrock, "Converse") as seen:
        accepted = run.api.submit_job(prompt="What is 6 x 7?", loop="converse")
        done = run.wait_job(accepted.body["job_id"])
    assert seen and done["status"] == "FAILED", done
    assert done["error"]["code"] == "ModelThrottled", done


ERROR_STEPS: list[Callable[[Run], None]] = [
    v1_container_probes,
    v1_uploads_and_failures,
    api_error_paths,
    job_throttled,
]
