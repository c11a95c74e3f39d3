"""API keys (``x-api-key`` or ``Authorization: Bearer``), ``/v1/models``, and every error path in
Anthropic's envelope, mapped to the SDK's exception classes."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from .conftest import MODEL, Server, fixture, model_turn, text

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

HELLO = [{"role": "user", "content": "Say hi."}]


def _hi() -> dict:
    return fixture(model_turn(text("Hi!"), expect={"messages": 1, "keys_absent": ["model"]}))


def _envelope(body: dict, kind: str) -> None:
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
    assert body["error"]["type"] == kind and body["error"]["message"]
    assert body["request_id"]


@pytest.mark.parametrize("how", ["api_key", "auth_token", "x-api-key"])
def test_x_api_key_and_bearer_both_work(server: Server, how: str) -> None:
    """SDK 2.x sends ``api_key`` and ``auth_token`` as ``Authorization: Bearer``; earlier SDKs
    (and curl users) send ``x-api-key``: the header given as the SDK's ``default_headers``."""
    key = server.keys["alice"]
    credentials = {"default_headers": {"X-Api-Key": key}} if how == "x-api-key" else {how: key}
    c = anthropic.Anthropic(
        base_url=server.url, max_retries=0, _strict_response_validation=True, **credentials
    )
    with server.replay(_hi()):
        r = c.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    headers = {k.lower(): v for k, v in server.events[-1]["headers"].items()}
    if how == "x-api-key":
        assert headers["x-api-key"] == key and "authorization" not in headers
    else:
        assert headers["authorization"] == f"Bearer {key}" and "x-api-key" not in headers
    assert r.content[0].text == "Hi!" and r.container is None  # no code ran: no container
    assert server.events[-1]["requestContext"]["authorizer"]["owner"] == "alice"


def test_a_wrong_or_missing_key_is_401_authentication_error(server: Server) -> None:
    c = anthropic.Anthropic(base_url=server.url, api_key="sk-bcx-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as err:
        c.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert err.value.type == "authentication_error"
    _envelope(err.value.body, "authentication_error")
    # API Gateway answers before any function runs: the id is in the body and in its own
    # x-amzn-RequestId header (a gateway response cannot set request-id to it)
    assert err.value.body["request_id"] == err.value.response.headers["x-amzn-RequestId"]
    resp = httpx.post(f"{server.url}/v1/messages", json={"model": MODEL})  # no key at all
    assert resp.status_code == 401
    _envelope(resp.json(), "authentication_error")


@pytest.mark.parametrize(
    ("fixture_name", "exception", "status", "kind"),
    [
        ("throttled", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("anthropic_error_unavailable", anthropic.OverloadedError, 529, "overloaded_error"),
        # Bedrock's own 500 is transient (the failure contract): overloaded, retried by the SDK
        ("anthropic_error_internal", anthropic.OverloadedError, 529, "overloaded_error"),
        ("anthropic_error_invalid", anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_bedrock_errors_map_to_the_sdk_exceptions(
    server: Server, fixture_name: str, exception: type, status: int, kind: str
) -> None:
    with server.replay(fixture_name), pytest.raises(exception) as err:
        server.client().messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert err.value.status_code == status
    _envelope(err.value.body, kind)
    assert err.value.response.headers["request-id"] == err.value.request_id
    if status in (429, 529):
        assert int(err.value.response.headers["retry-after"]) > 0


def test_a_body_over_the_limit_is_413_request_too_large(server: Server) -> None:
    big = [{"role": "user", "content": "x" * (6 * 1024 * 1024)}]
    with pytest.raises(anthropic.ContentTooLargeError) as err:
        server.client().messages.create(model=MODEL, max_tokens=64, messages=big)
    _envelope(err.value.body, "request_too_large")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": MODEL, "max_tokens": 64, "messages": HELLO, "temperatur": 1}, "temperatur"),
        ({"model": MODEL, "messages": HELLO}, "max_tokens"),
        ({"model": MODEL, "max_tokens": "many", "messages": HELLO}, "max_tokens"),
        (
            {
                "model": MODEL,
                "max_tokens": 64,
                "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}],
            },
            "messages.0.content",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 64,
                "messages": HELLO,
                "tools": [{"type": "advisor_20260301", "name": "advisor"}],
            },
            "tools.0.type",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 64,
                "messages": HELLO,
                "tools": [{"type": "code_execution_20990101", "name": "code_execution"}],
            },
            "code_execution_20990101",
        ),
    ],
)
def test_bad_requests_are_400_naming_the_field(server: Server, body: dict, needle: str) -> None:
    resp = httpx.post(
        f"{server.url}/v1/messages", json=body, headers={"x-api-key": server.keys["alice"]}
    )
    assert resp.status_code == 400, resp.text
    _envelope(resp.json(), "invalid_request_error")
    assert needle in resp.json()["error"]["message"]
    assert "pydantic" not in resp.text and "Traceback" not in resp.text


def test_malformed_json_is_400(server: Server) -> None:
    resp = httpx.post(
        f"{server.url}/v1/messages",
        content=b'{"model": "unterminated',
        headers={"x-api-key": server.keys["alice"], "content-type": "application/json"},
    )
    assert resp.status_code == 400
    _envelope(resp.json(), "invalid_request_error")


def test_an_unknown_model_is_404(server: Server) -> None:
    with pytest.raises(anthropic.NotFoundError) as err:
        server.client().messages.create(model="claude-nonexistent-9", max_tokens=64, messages=HELLO)
    _envelope(err.value.body, "not_found_error")
    assert "claude-nonexistent-9" in err.value.body["error"]["message"]


def test_models_lists_the_configured_names(server: Server) -> None:
    c = server.client()
    page = c.models.list()
    assert sorted(m.id for m in page.data) == [
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-5",
        "claude-sonnet-5-5",
    ]
    assert page.first_id == page.data[0].id and page.has_more is False
    one = c.models.retrieve("claude-sonnet-4-5-20250929")
    assert one.display_name == "Claude Sonnet 4.5" and one.created_at.year == 2025
    with pytest.raises(anthropic.NotFoundError):
        c.models.retrieve("gpt-4")
    assert len(c.beta.models.list().data) == 4


def test_unknown_v1_route_is_404_in_the_envelope(server: Server) -> None:
    resp = httpx.get(f"{server.url}/v1/nothing", headers={"x-api-key": server.keys["alice"]})
    assert resp.status_code == 404
    _envelope(resp.json(), "not_found_error")
