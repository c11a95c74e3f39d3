"""Every route rejects bad input with a 4xx JSON error naming the problem — never a 5xx.

Each case goes through the REAL ``api_handler`` with a recorded API Gateway REST proxy event
(tests/fixtures/events/) whose body or path is replaced. None of these reach the sandbox.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from code_exec.api.resolver import MAX_BODY_BYTES, json_body
from code_exec.exceptions import PayloadTooLargeError, RequestValidationError

from .conftest import MODEL_ID, ApiClient, LambdaContext, load_event

# route fixture -> (a body missing a field, that field, a body with a wrong type, that field)
BODY_ROUTES = {
    "invoke": ({"loop": "converse"}, "prompt", {"prompt": 42}, "prompt"),
    "jobs_post": (
        {"loop": "converse"},
        "prompt",
        {"prompt": "hi", "limits": {"max_turns": "many"}},
        "limits.max_turns",
    ),
    "sessions_execute": ({"language": "python"}, "code", {"code": ["print(1)"]}, "code"),
}  # /v1/messages answers in Anthropic's envelope: tests/runtime/anthropic/test_wire_errors.py


def _assert_clean_error(resp, status: int, field: str | None = None, code: str | None = None):
    assert resp.status == status, resp.body
    error = resp.error
    assert set(error) <= {"code", "message", "field"}
    assert error["message"]
    if field is not None:
        assert error["field"] == field
    if code is not None:
        assert error["code"] == code
    text = json.dumps(resp.body)
    for leak in ("pydantic", "errors.pydantic.dev", "Traceback", "ClientError", "'type'", "loc"):
        assert leak not in text


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_malformed_json_is_400(api: ApiClient, route: str) -> None:
    resp = api.call(route, raw_body='{"prompt": "unterminated')
    _assert_clean_error(resp, 400, "body", "ValidationError")
    assert "not valid JSON" in resp.error["message"]


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_missing_field_is_400_naming_it(api: ApiClient, route: str) -> None:
    body, field, _, _ = BODY_ROUTES[route]
    resp = api.call(route, body=body)
    _assert_clean_error(resp, 400, field, "ValidationError")
    assert field.split(".")[-1] in resp.error["message"]


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_wrong_type_is_400_naming_it(api: ApiClient, route: str) -> None:
    _, _, body, field = BODY_ROUTES[route]
    resp = api.call(route, body=body)
    _assert_clean_error(resp, 400, field, "ValidationError")


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_oversized_payload_is_413(api: ApiClient, route: str) -> None:
    big = {"prompt": "x" * (MAX_BODY_BYTES + 10), "code": "y", "model": "m"}
    resp = api.call(route, body=big)
    _assert_clean_error(resp, 413, "body", "PayloadTooLarge")


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_declared_oversized_content_length_is_413(api: ApiClient, route: str) -> None:
    resp = api.call(route, headers={"Content-Length": str(MAX_BODY_BYTES + 1)})
    _assert_clean_error(resp, 413, "body", "PayloadTooLarge")


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_body_that_is_not_an_object_is_400(api: ApiClient, route: str) -> None:
    resp = api.call(route, raw_body="[1, 2, 3]")
    _assert_clean_error(resp, 400, "body", "ValidationError")


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_empty_body_is_400(api: ApiClient, route: str) -> None:
    resp = api.call(route, body=None)
    _assert_clean_error(resp, 400, "body", "ValidationError")


@pytest.mark.parametrize("route", ["invoke", "jobs_post", "sessions_execute"])
def test_unknown_field_is_400(api: ApiClient, route: str) -> None:
    body = {"prompt": "hi", "code": "1", "surprise": True}
    body.pop("code" if route != "sessions_execute" else "prompt")
    resp = api.call(route, body=body)
    _assert_clean_error(resp, 400, "surprise", "ValidationError")


@pytest.mark.parametrize(
    ("fixture", "param"),
    [("jobs_get", "job_id"), ("sessions_delete", "session_id"), ("sessions_execute", "session_id")],
)
def test_bad_path_parameter_is_400(api: ApiClient, fixture: str, param: str) -> None:
    resp = api.call(fixture, path_params={param: "no spaces allowed"})
    _assert_clean_error(resp, 400, param, "ValidationError")


@pytest.mark.parametrize("route", ["invoke", "jobs_post"])
def test_unknown_model_is_400_model_not_allowed(api: ApiClient, route: str) -> None:
    resp = api.call(route, body={"prompt": "hi", "model_id": "anthropic.claude-nope-v9"})
    _assert_clean_error(resp, 400, "model_id", "ModelNotAllowed")


@pytest.mark.parametrize("route", ["invoke", "jobs_post"])
def test_bad_enum_value_is_400(api: ApiClient, route: str) -> None:
    resp = api.call(route, body={"prompt": "hi", "loop": "nope"})
    _assert_clean_error(resp, 400, "loop", "ValidationError")


def test_nested_file_error_names_the_dotted_path(api: ApiClient) -> None:
    body = {"code": "1", "files": [{"name": "a.txt", "content_base64": "aGk="}, {"name": 7}]}
    resp = api.execute("s1", **body)
    _assert_clean_error(resp, 400, "files.1.name", "ValidationError")


@pytest.mark.parametrize(
    ("file", "field"),
    [
        ({"name": "../etc/passwd", "content_base64": "aGk="}, "files.0.name"),
        ({"name": "a.bin", "content_base64": "not base64!!"}, "files.0.content_base64"),
        ({"name": "a.bin"}, "files.0"),
        ({"name": "a.bin", "s3_key": "state/secret.json"}, "files.0.s3_key"),
        ({"name": "a.bin", "s3_key": "files/missing.bin"}, "files.0.s3_key"),
    ],
)
def test_bad_input_file_is_400_before_any_sandbox(api: ApiClient, file: dict, field: str) -> None:
    resp = api.execute("s1", code="1", files=[file])
    _assert_clean_error(resp, 400, field, "ValidationError")


def test_execute_needs_exactly_one_of_code_or_command(api: ApiClient) -> None:
    resp = api.execute("s1", code="print(1)", command="echo 1")
    _assert_clean_error(resp, 400, "code", "ValidationError")


def test_unknown_job_is_404(api: ApiClient) -> None:
    resp = api.get_job("0123456789abcdef")
    _assert_clean_error(resp, 404, "job_id", "NotFound")


def test_delete_unknown_session_is_idempotent(api: ApiClient) -> None:
    resp = api.delete("never-existed")
    assert resp.status == 200
    assert resp.body == {"session_id": "never-existed", "stopped": False}


def test_unknown_route_is_404_json(api: ApiClient) -> None:
    event = load_event("invoke")
    event["path"] = event["requestContext"]["resourcePath"] = "/nope"
    raw = api.handler.api_handler(event, LambdaContext())
    assert raw["statusCode"] == 404
    assert json.loads(raw["body"])["error"]["code"] == "NotFound"


def test_form_encoded_content_type_is_still_read_as_json(api: ApiClient) -> None:
    """``curl -d`` sends application/x-www-form-urlencoded; the body is JSON all the same."""
    resp = api.call(
        "invoke",
        body={"prompt": "hi", "model_id": "nope"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_clean_error(resp, 400, "model_id", "ModelNotAllowed")


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
@pytest.mark.parametrize(
    "raw",
    [
        "@@@ not base64",  # binascii.Error in Powertools' decoding
        "//79ew==",  # base64 of b"\xff\xfe{": not UTF-8
        "eyJjb2RlIjoiMSJ",  # base64 of '{"code":"1"}' cut short: bad padding
    ],
)
def test_body_flagged_base64_that_is_not_base64_json_is_400(
    api: ApiClient, route: str, raw: str
) -> None:
    event = load_event(route)
    event["body"], event["isBase64Encoded"] = raw, True
    out = api.handler.api_handler(event, LambdaContext())
    assert out["statusCode"] == 400, out["body"]
    error = json.loads(out["body"])["error"]
    assert (error["code"], error["field"]) == ("ValidationError", "body")
    assert "base64" in error["message"]


def test_body_flagged_base64_with_valid_json_is_read(api: ApiClient) -> None:
    event = load_event("invoke")
    body = json.dumps({"prompt": "hi", "model_id": "nope"}).encode()
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    out = api.handler.api_handler(event, LambdaContext())
    assert json.loads(out["body"])["error"]["code"] == "ModelNotAllowed"


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_body_nested_too_deeply_is_400_not_a_recursion_error(api: ApiClient, route: str) -> None:
    resp = api.call(route, raw_body='{"a":' * 5000 + "1" + "}" * 5000)
    _assert_clean_error(resp, 400, "body", "ValidationError")
    assert "nested too deeply" in resp.error["message"]


def test_json_body_reads_the_body_once_and_names_it_when_it_cannot() -> None:
    """The streamed routes parse their body with it, once (before: a check, then the route)."""
    text = json.dumps({"prompt": "hi"})
    assert json_body({"body": text}) == {"prompt": "hi"}
    encoded = base64.b64encode(text.encode()).decode()
    assert json_body({"body": encoded, "isBase64Encoded": True}) == {"prompt": "hi"}
    assert json_body({"body": None}) is None
    with pytest.raises(json.JSONDecodeError):
        json_body({"body": "{not json"})
    unreadable = [
        {"body": "%%%", "isBase64Encoded": True},
        {"body": '{"a":' * 5000 + "1" + "}" * 5000},
    ]
    for event in unreadable:
        with pytest.raises(RequestValidationError) as raised:
            json_body(event)
        assert raised.value.field == "body"
    with pytest.raises(PayloadTooLargeError):
        json_body({"body": "{}", "headers": {"Content-Length": str(MAX_BODY_BYTES + 1)}})


@pytest.mark.parametrize("route", ["invoke", "jobs_post"])
@pytest.mark.parametrize("mode", ["ptc", "direct"])
def test_unknown_tool_is_400_before_any_sandbox_or_job(
    api: ApiClient, route: str, mode: str
) -> None:
    body = {"prompt": "hi", "tools": ["get_expenses", "drop_tables"], "mode": mode}
    resp = api.call(route, body=body)
    _assert_clean_error(resp, 400, "tools", "ValidationError")
    assert "drop_tables" in resp.error["message"]


# --- model ids: one resolution for every loop ------------------------------------------------

SANDBOX_MODELS = ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us.amazon.nova-pro-v1:0")


@pytest.fixture
def sandbox_models_api(api: ApiClient) -> Iterator[ApiClient]:
    """The deployment lets Claude Code (in the sandbox) use other models than the Lambdas."""
    import os

    from code_exec.config import RuntimeConfig

    env = {**os.environ, "SANDBOX_MODEL_IDS": ",".join(SANDBOX_MODELS)}
    api.handler.services.override(config=RuntimeConfig.from_env(env))
    try:
        yield api
    finally:
        api.handler.services.reset()


def test_claude_code_defaults_to_the_first_sandbox_model(sandbox_models_api: ApiClient) -> None:
    from code_exec.models import AgentRequest

    ops = sandbox_models_api.handler.operations
    checked = ops.check_request(AgentRequest(prompt="hi", loop="claude_code"))
    assert checked.model_id == SANDBOX_MODELS[0]
    other = ops.check_request(
        AgentRequest(prompt="hi", loop="claude_code", model_id=SANDBOX_MODELS[1])
    )
    assert other.model_id == SANDBOX_MODELS[1]  # a sandbox model, not one the Lambdas call
    plain = ops.check_request(AgentRequest(prompt="hi", loop="converse"))
    assert plain.model_id == MODEL_ID


@pytest.mark.parametrize("route", ["invoke", "jobs_post"])
def test_claude_code_with_a_model_the_sandbox_may_not_invoke_is_400(
    sandbox_models_api: ApiClient, route: str
) -> None:
    """MODEL_ID is on the Lambdas' allow-list but not in sandboxModelIds."""
    resp = sandbox_models_api.call(
        route, body={"prompt": "hi", "loop": "claude_code", "model_id": MODEL_ID}
    )
    _assert_clean_error(resp, 400, "model_id", "ModelNotAllowed")
    assert SANDBOX_MODELS[0] in resp.error["message"]


@pytest.mark.parametrize("route", ["invoke", "jobs_post"])
@pytest.mark.parametrize(
    ("thinking", "extra", "field", "words"),
    [
        ({"type": "sometimes"}, {}, "thinking.type", "'between_tools'"),
        ({"type": "enabled"}, {}, "thinking.budget_tokens", "required"),
        ({"type": "enabled", "budget_tokens": 100}, {}, "thinking.budget_tokens", "1024"),
        ({"type": "adaptive", "effort": "high"}, {}, "thinking.effort", "not a known field"),
        (
            {"type": "disabled"},
            {"model_id": "global.anthropic.claude-sonnet-5-5"},
            "thinking.type",
            "adaptive, between_tools",
        ),
        ({"type": "adaptive"}, {"model_id": "us.amazon.nova-pro-v1:0"}, "thinking", "no thinking"),
    ],
)
def test_a_bad_thinking_setting_is_400_naming_the_field(
    api: ApiClient, route: str, thinking: dict, extra: dict, field: str, words: str
) -> None:
    """Refused when the request is checked: a job is not accepted only to fail later."""
    resp = api.call(route, body={"prompt": "hi", "loop": "converse", "thinking": thinking, **extra})
    _assert_clean_error(resp, 400, field, "ValidationError")
    assert words in resp.error["message"]
