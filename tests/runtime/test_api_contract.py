"""``docs/openapi.json`` is the contract: schemathesis, with all its checks, sends what the
document allows (and what it forbids) to the API served on 127.0.0.1 as ``make local``
serves it (the API function, the streaming function's runtime, the authorizer; the sandbox
is the emulator, the model the recordings ``make local`` replays without AWS credentials, so
an unrecorded prompt is the model's 400, answered 502 ``ModelError`` as documented).

A bounded number of examples per operation keeps it short; every response must conform.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from devtools.bedrock_replay import ConversationReplay, bedrock_client
from devtools.bedrock_server import BedrockServer
from devtools.local_server import LocalApi
from scripts.local_api import OFFLINE_FIXTURES
from scripts.openapi import DOC

pytestmark = pytest.mark.sandbox

EXAMPLES = 3  # per operation (and each negative variant): ~1 min
# Not checked: a method a path does not declare answers 405 in schemathesis' view; API
# Gateway (REST) answers 403 "Missing Authentication Token" there, before any function runs,
# and the local adapter (no API Gateway) 501. Neither reaches our code.
# A 5xx is checked by :func:`only_missing_dependencies` instead of "never": locally the
# model answers only its recorded prompts (others are Bedrock's 400, answered 502
# ``ModelError``) and ``/jobs`` has no Step Functions (502 ``JobsUnavailable``), both
# documented; anything else (a 500, an unhandled error) still fails.
# Not checked yet (issue 16 item 6, open): "a schema-valid request is accepted". The document
# cannot state what the deployment decides at run time (``model_id`` from the allow-list in
# cdk.json, ``tools`` from the tool registry), Anthropic's content rules on /v1/messages
# (non-empty text, a known model), nor that a repeated ``Idempotency-Key`` with another body is
# 422 by design; each answers a documented 4xx, which the other checks do verify.
EXCLUDED = [unsupported_method, not_a_server_error, positive_data_acceptance]
# (and the emulator's sandbox has no network: ``loop: claude_code`` cannot install Claude Code)
LOCAL_DEPENDENCY_ERRORS = {"ModelError", "JobsUnavailable", "ClaudeCodeNoNetwork"}


@schemathesis.check
def only_missing_dependencies(ctx: Any, response: Any, case: Any) -> bool | None:
    """A server error is one of the dependencies ``make local`` lacks, answered as documented."""
    if response.status_code < 500:
        return None
    code = (response.json() or {}).get("error", {}).get("code")
    if response.status_code != 502 or code not in LOCAL_DEPENDENCY_ERRORS:
        raise AssertionError(f"server error {response.status_code} {code}: {response.text}")
    return None


@pytest.fixture(scope="module")
def served(sandbox_env: str, handler: Any) -> Iterator[tuple[str, str]]:
    """The local API's URL and an API key for ``/v1/*``."""
    from code_exec.anthropic import authorizer
    from code_exec.api import streamed
    from code_exec.store import new_key

    with BedrockServer(ConversationReplay(list(OFFLINE_FIXTURES))) as model:
        bedrock = bedrock_client(endpoint_url=model.url)
        authorizer.reset()
        for services in (handler.services, streamed.services):
            services.reset()
            services.override(bedrock=bedrock)
        key = new_key()
        handler.services.store.put_api_key(key, owner="contract", name="schemathesis")
        try:
            with LocalApi(handler.api_handler, authorizer.handler, workers=1) as api:
                yield api.url, key
        finally:
            authorizer.reset()
            handler.services.reset()
            streamed.services.reset()


schema = schemathesis.openapi.from_path(DOC)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_keeps_the_documented_contract(
    case: schemathesis.Case, served: tuple[str, str]
) -> None:
    url, key = served
    with requests.Session() as session:
        session.trust_env = False  # loopback only, no proxy
        case.call_and_validate(
            base_url=url,
            session=session,
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            timeout=60,
            excluded_checks=EXCLUDED,
            additional_checks=[only_missing_dependencies],
        )
