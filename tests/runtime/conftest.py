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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools import local_aws
from devtools.bedrock_replay import bedrock_client
from devtools.lambda_adapter import LambdaContext

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
TABLE = "code-exec-test-table"
BUCKET = "code-exec-test-files"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE_NAME = "TestAgent-jobs"  # what the synthesized AgentStack names its machine
INTERPRETER_ID = "bedrock_code_execution-AbCdEf1234"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # the model most recordings are of
OTHER_MODEL_ID = "us.amazon.nova-pro-v1:0"
CURRENT_MODEL_IDS = ("global.anthropic.claude-sonnet-5", "global.anthropic.claude-sonnet-5-5")
_MISSING = object()

STACK_ENV = {
    "CODE_INTERPRETER_ID": INTERPRETER_ID,
    "FILES_BUCKET": BUCKET,
    "TABLE_NAME": TABLE,
    "JOB_STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "DEFAULT_MODEL_ID": MODEL_ID,
    "ALLOWED_MODEL_IDS": ",".join((MODEL_ID, *CURRENT_MODEL_IDS, OTHER_MODEL_ID)),
    "SANDBOX_MODEL_IDS": CURRENT_MODEL_IDS[0],  # cdk.json's sandboxModelIds
    "SESSION_TIMEOUT_SECONDS": "900",
    "SESSION_TTL_SECONDS": "3600",
    "FILES_URL_EXPIRY_SECONDS": "600",
    # What the stack derives from allowedModelIds (stacks.Settings.anthropic_models).
    "MODEL_ALIASES": json.dumps(
        {
            "claude-sonnet-4-5-20250929": MODEL_ID,
            "claude-sonnet-4-5": MODEL_ID,
            "claude-sonnet-5": CURRENT_MODEL_IDS[0],
            "claude-sonnet-5-5": CURRENT_MODEL_IDS[1],
        }
    ),
    "CONTAINER_IDLE_SECONDS": "300",
    "FILES_EXPIRATION_DAYS": "7",
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
    return bedrock_client(endpoint_url="https://bedrock-runtime.replay.invalid")


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
        headers_out = dict(raw.get("headers") or {})
        for k, values in (raw.get("multiValueHeaders") or {}).items():
            headers_out.setdefault(k, values[-1])
        return ApiResponse(status=raw["statusCode"], body=parsed, headers=headers_out)

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
    local_aws.create_resources(TABLE, BUCKET, region=REGION)


@pytest.fixture(scope="module")
def aws(stack_env: dict[str, str]) -> Iterator[None]:
    """moto for DynamoDB, S3 and Step Functions (which really runs state machines)."""
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        create_resources()
        yield


@contextmanager
def sharing_services(services: Any) -> Iterator[None]:
    """The job, cleanup and sweeper functions' entry modules on ``services`` (the API's).

    In Lambda each function has its own ``services``; here moto's state machine invokes the
    job and cleanup handlers by name in this process, and the tests replay the model on, or
    inject faults into, the API's services, so the three run on those. The least-privilege
    test keeps them apart (:mod:`devtools.function_harness`).
    """
    from code_exec.functions import cleanup_function, job_function, sweeper_function
    from code_exec.job_cleanup import JobCleanup
    from code_exec.jobs import Jobs
    from code_exec.operations import Operations
    from code_exec.sweeper import Sweeper

    with pytest.MonkeyPatch.context() as mp:
        for entry in (job_function, cleanup_function, sweeper_function):
            mp.setattr(entry, "services", services)
        mp.setattr(job_function, "jobs", Jobs(Operations(services)))
        mp.setattr(cleanup_function, "cleanup", JobCleanup(services))
        mp.setattr(sweeper_function, "sweeper", Sweeper(services))
        yield


@pytest.fixture(scope="module")
def handler(aws: None) -> Iterator[Any]:
    """``code_exec.api.handler`` with its services rebuilt from the test environment; the job,
    cleanup and sweeper functions run on the same services (:func:`sharing_services`)."""
    from code_exec.api import handler as module

    module.services.reset()
    with sharing_services(module.services):
        yield module
    module.services.reset()


@pytest.fixture(scope="module")
def sandbox(agentcore_client: Any) -> Any:
    """A ``SandboxClient`` on the emulator (modules testing the client itself define their own)."""
    from code_exec.sandbox.client import SandboxClient

    return SandboxClient("aws.codeinterpreter.v1", client=agentcore_client)


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


# --- the synthesized AgentStack, and moto running its real state machine ------------------

INTERPRETER_ARN = (
    f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:code-interpreter-custom/{INTERPRETER_ID}"
)
_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}


def synth_agent_template() -> dict[str, Any]:
    """The infra engineer's AgentStack, synthesized with the cdk.json settings.

    Built on its own (no interpreter stack, inline code instead of the bundled asset) so the
    synth takes seconds; roles, policies, functions and the state machine are the real ones.
    Without CDK's built-in CloudFormation validation: its engine costs a process ~13 CPU-s to
    start, its findings only warn, and the stack tests check that it finds nothing in this
    stack (the default app's).
    """
    import os

    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from stacks import Settings
    from stacks.app_stacks import AgentStack

    root = Path(__file__).resolve().parents[2]
    context = json.loads((root / "cdk.json").read_text())["context"]
    app = cdk.App(context=context, builtin_cloud_formation_validation=False)
    settings = Settings.from_context(app.node.try_get_context)
    AgentStack(
        app,
        "TestAgent",
        settings=settings,
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        interpreter_id=INTERPRETER_ID,
        interpreter_arn=INTERPRETER_ARN,
        env=cdk.Environment(account=ACCOUNT, region=REGION),
    )
    return app.synth().get_stack_by_name("TestAgent").template


@pytest.fixture(scope="session")
def agent_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Synthesized once per run (~20 s of CPU): the first xdist worker to ask writes it where
    the whole run reads (:mod:`tests.stacks.synth_cache`), under a lock the others wait on."""
    from tests.stacks.synth_cache import file_lock, shared_root

    root = shared_root(tmp_path_factory)
    shared = root / "agent_template.json"
    with file_lock(root / "agent_template.json.lock"):
        if not shared.is_file():
            written = shared.with_suffix(".partial")  # a worker dying mid-write leaves no file
            written.write_text(json.dumps(synth_agent_template()))
            written.replace(shared)
        template: dict[str, Any] = json.loads(shared.read_text())
    return template


def function_arn(logical_id: str) -> str:
    """The ARN a test gives a function of the template (its logical id as its name)."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def resolve(value: Any, template: dict[str, Any]) -> Any:
    """Resolve the intrinsics the templates use: Fn::Join, Fn::GetAtt, Ref (pseudo + resources)."""
    if isinstance(value, list):
        return [resolve(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Join"}:
        sep, parts = value["Fn::Join"]
        return sep.join(str(resolve(p, template)) for p in parts)
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attr = value["Fn::GetAtt"]
        rtype = template["Resources"][logical_id]["Type"]
        if rtype == "AWS::Lambda::Function" and attr == "Arn":
            return function_arn(logical_id)
        if rtype == "AWS::DynamoDB::Table" and attr == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
        if rtype == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:aws:s3:::{BUCKET}"
        if rtype == "AWS::IAM::Role" and attr == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        if rtype == "AWS::Logs::LogGroup" and attr == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*"
        return f"<{logical_id}.{attr}>"
    if set(value) == {"Ref"}:
        ref = value["Ref"]
        if ref in _PSEUDO:
            return _PSEUDO[ref]
        rtype = template["Resources"].get(ref, {}).get("Type")
        return {"AWS::DynamoDB::Table": TABLE, "AWS::S3::Bucket": BUCKET}.get(rtype, ref)
    return {k: resolve(v, template) for k, v in value.items()}


def create_job_machine(template: dict[str, Any]) -> str:
    """Create the template's state machine (definition resolved) in moto; return its ARN."""
    import boto3

    [machine] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    definition = resolve(machine["DefinitionString"], template)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    resp = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/JobsStateMachineRole",
        type=machine.get("StateMachineType", "STANDARD"),
    )
    assert resp["stateMachineArn"] == STATE_MACHINE_ARN
    return definition
