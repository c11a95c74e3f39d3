"""Runtime-only fixtures: the stack's environment, moto (DynamoDB, S3, Step Functions), and an
API client that sends recorded API Gateway REST proxy events through the REAL ``api_handler``.

Nothing here reaches AWS: ``tests/conftest.py`` sets dummy credentials for the session, moto
answers DynamoDB/S3/Step Functions in-process, and the sandbox is the code-interpreter emulator
(``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``), exactly as in local mode.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
TABLE = "code-exec-test-table"
BUCKET = "code-exec-test-files"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE_NAME = "code-exec-jobs"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
OTHER_MODEL_ID = "us.amazon.nova-pro-v1:0"
_MISSING = object()

STACK_ENV = {
    "CODE_INTERPRETER_ID": "aws.codeinterpreter.v1",
    "FILES_BUCKET": BUCKET,
    "TABLE_NAME": TABLE,
    "JOB_STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "DEFAULT_MODEL_ID": MODEL_ID,
    "ALLOWED_MODEL_IDS": f"{MODEL_ID},{OTHER_MODEL_ID}",
    "SESSION_TIMEOUT_SECONDS": "900",
    "SESSION_TTL_SECONDS": "3600",
    "FILES_URL_EXPIRY_SECONDS": "600",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_DEV": "0",
}


def pytest_configure(config: pytest.Config) -> None:
    # Powertools warns when a handler published no metrics (validation-only requests).
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish")


def load_event(name: str) -> dict[str, Any]:
    """A recorded API Gateway REST proxy event from tests/fixtures/events/."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def replay_bedrock_client() -> Any:
    """A real bedrock-runtime client for ``BedrockReplay``, on a host moto does not claim.

    Under ``mock_aws`` every ``before-send`` handler runs, so moto's stubber would answer
    Converse with NotImplementedError even after the replay served the call; an endpoint
    outside ``*.amazonaws.com`` makes moto pass, and the replay answers alone.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url="https://bedrock-runtime.replay.invalid",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "code-exec-api"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:code-exec-api"
    aws_request_id: str = "5b5c6f1e-0000-4000-8000-000000000000"
    remaining_ms: int = 29_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> dict[str, Any]:
        return self.body["error"]


class ApiClient:
    """Sends recorded events, with the body/path swapped in, through ``handler.api_handler``."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def call(
        self,
        fixture: str,
        *,
        body: Any = _MISSING,
        raw_body: str | None = None,
        path_params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        event = load_event(fixture)
        if raw_body is not None:
            event["body"] = raw_body
        elif body is not _MISSING:
            event["body"] = None if body is None else json.dumps(body)
        if path_params:
            event["pathParameters"] = {**(event["pathParameters"] or {}), **path_params}
            path = event["resource"]
            for k, v in event["pathParameters"].items():
                path = path.replace("{" + k + "}", v)
            event["path"] = path
            event["requestContext"]["path"] = "/prod" + path
        if headers:
            event["headers"] = {**event["headers"], **headers}
            event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        raw = self.handler.api_handler(copy.deepcopy(event), LambdaContext())
        text = raw.get("body") or ""
        try:
            parsed: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        return ApiResponse(status=raw["statusCode"], body=parsed, headers=raw.get("headers") or {})

    # conveniences for the common routes
    def execute(self, session_id: str, **body: Any) -> ApiResponse:
        return self.call("sessions_execute", body=body, path_params={"session_id": session_id})

    def delete(self, session_id: str) -> ApiResponse:
        return self.call("sessions_delete", path_params={"session_id": session_id})

    def invoke(self, **body: Any) -> ApiResponse:
        return self.call("invoke", body=body)

    def submit_job(self, **body: Any) -> ApiResponse:
        return self.call("jobs_post", body=body)

    def get_job(self, job_id: str) -> ApiResponse:
        return self.call("jobs_get", path_params={"job_id": job_id})


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """The Lambda environment the stack sets (names from code_exec.config.ENV)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in STACK_ENV.items():
            mp.setenv(k, v)
        yield dict(STACK_ENV)


def create_resources() -> None:
    """The table and bucket, as the stack defines them (pk/sk, TTL expires_at)."""
    import boto3

    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)


@pytest.fixture(scope="module")
def aws(stack_env: dict[str, str]) -> Iterator[None]:
    """moto for DynamoDB, S3 and Step Functions (which really runs state machines)."""
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        create_resources()
        yield


@pytest.fixture(scope="module")
def handler(aws: None) -> Iterator[Any]:
    """``code_exec.handler`` with its services rebuilt from the test environment."""
    from code_exec import handler as module

    module.services.reset()
    yield module
    module.services.reset()


@pytest.fixture(scope="module")
def sandbox_env(emulator_url: str) -> Iterator[str]:
    """Point the runtime's bedrock-agentcore client at the emulator (as local mode does)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", emulator_url)
        yield emulator_url


@pytest.fixture(scope="module")
def api(handler: Any) -> ApiClient:
    """API client for tests that never reach the sandbox (validation, errors)."""
    return ApiClient(handler)


@pytest.fixture(scope="module")
def sandbox_api(sandbox_env: str, handler: Any) -> ApiClient:
    """API client whose sandbox is the code-interpreter emulator."""
    handler.services.reset()
    return ApiClient(handler)
