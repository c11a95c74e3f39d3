"""Least privilege, proven: every AWS call the runtime makes is allowed by the synthesized role
of the function that made it, on the resource it used — and no role grants what is never used.

How: a botocore ``provide-client-params`` hook (emitted for every API call AND for presigned
URLs) records each operation while this module's own scenario drives every route end to end
(execute with files in and out, S3 inputs, /invoke one-shot and in a session, DELETE, a job
that succeeds and two that fail through the real state machine — one-shot, and in a session
whose stop the sandbox refuses once — GET /jobs, and Anthropic's /v1: the API-key authorizer,
a /v1/messages turn that runs code in a container, a file upload and the owner's file list).
Calls are attributed to the function running them (main thread: the API function;
``LambdaAdapter`` threads and ``lambda-<id>`` threads: the job, cleanup and authorizer
functions). ``IAM_ACTIONS`` maps each operation to its IAM action; the check evaluates the
function's role statements from the AgentStack template (Allow, actions/resources with
wildcards, StringEquals/StringLike/Arn* conditions, and ``ForAllValues:StringLike`` on
``dynamodb:LeadingKeys``, the partition key a DynamoDB call touches). Every grant must be used:
there is no list of tolerated over-grants.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.lambda_adapter import LambdaAdapter, template_functions

from .conftest import (
    ACCOUNT,
    BUCKET,
    MODEL_ID,
    REGION,
    STATE_MACHINE_NAME,
    TABLE,
    ApiClient,
    LambdaContext,
    create_job_machine,
    load_event,
    replay_bedrock_client,
    resolve,
)

pytestmark = pytest.mark.sandbox

# (service id as botocore names it, operation) -> IAM action
_AC = "bedrock-agentcore"
IAM_ACTIONS: dict[tuple[str, str], str] = {
    ("dynamodb", "GetItem"): "dynamodb:GetItem",
    ("dynamodb", "PutItem"): "dynamodb:PutItem",
    ("dynamodb", "UpdateItem"): "dynamodb:UpdateItem",
    ("dynamodb", "DeleteItem"): "dynamodb:DeleteItem",
    ("dynamodb", "Query"): "dynamodb:Query",
    ("s3", "GetObject"): "s3:GetObject",  # also presigned GET URLs
    ("s3", "PutObject"): "s3:PutObject",
    ("sfn", "StartExecution"): "states:StartExecution",
    ("sfn", "DescribeExecution"): "states:DescribeExecution",
    ("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
    ("bedrock-runtime", "InvokeModel"): "bedrock:InvokeModel",
    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("bedrock-runtime", "InvokeModelWithResponseStream"): "bedrock:InvokeModelWithResponseStream",
    (_AC, "StartCodeInterpreterSession"): f"{_AC}:StartCodeInterpreterSession",
    (_AC, "InvokeCodeInterpreter"): f"{_AC}:InvokeCodeInterpreter",
    (_AC, "StopCodeInterpreterSession"): f"{_AC}:StopCodeInterpreterSession",
    (_AC, "GetCodeInterpreterSession"): f"{_AC}:GetCodeInterpreterSession",
}

# Lambda platform permissions (log delivery, active tracing): not calls the runtime makes.
PLATFORM_PREFIXES = ("logs:", "xray:")


def _allowed_model_ids() -> list[str]:
    """The models the deployment allows (cdk.json, as the stack reads it)."""
    from pathlib import Path

    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    return list(context["context"]["allowedModelIds"])


def _profile_regions(model_id: str) -> list[str]:
    """Regions a cross-region inference profile routes to (cdk.json, as the stack reads it)."""
    from pathlib import Path

    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    return list(context["context"]["inferenceProfileRegions"][model_id.split(".", 1)[0]])


_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "jp.", "au.")
_FAR_REGION = "sa-east-1"  # where a global profile may send a call made in us-east-1


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class Call:
    function: str  # "api" | "job" | "cleanup"
    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class Recorder:
    """``provide-client-params`` hook recording every operation, attributed by thread.

    ``paused`` skips the test's own calls (main thread) only: the job and cleanup functions
    may be running meanwhile, and their calls are always recorded.
    """

    functions: dict[str, str]  # logical id -> "api" | "job" | "cleanup"
    calls: list[Call] = field(default_factory=list)
    paused: bool = False

    def __call__(self, params: dict[str, Any], model: Any, event_name: str, **_: Any) -> None:
        thread = threading.current_thread().name
        if thread.startswith("lambda-"):
            function = self.functions.get(thread.removeprefix("lambda-"), "?")
        elif thread == "MainThread":
            if self.paused:
                return
            function = "api"
        else:
            return  # moto's own Step Functions machinery (its Lambda Invoke calls)
        service = event_name.split(".")[1]
        self.calls.append(Call(function, service, model.name, dict(params)))


def _partition_key(params: dict[str, Any]) -> str:
    """The partition key value a DynamoDB call reads or writes (what dynamodb:LeadingKeys is)."""
    for source in (params.get("Key"), params.get("Item")):
        if source and "pk" in source:
            return str(source["pk"]["S"])
    values = params.get("ExpressionAttributeValues") or {}
    return str(values[":pk"]["S"])  # Query: KeyConditionExpression "pk = :pk ..."


def needs(call: Call) -> list[Need]:
    """What IAM must allow for one call."""
    key = (call.service, call.operation)
    assert key in IAM_ACTIONS, f"no IAM mapping for {key}: add it to IAM_ACTIONS"
    action, p = IAM_ACTIONS[key], call.params
    if call.service == "dynamodb":
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}"
        return [Need(action, table, (("dynamodb:LeadingKeys", _partition_key(p)),))]
    if call.service == "s3":
        return [Need(action, f"arn:aws:s3:::{p['Bucket']}/{p['Key']}")]
    if call.service == "sfn":
        return [Need(action, p.get("stateMachineArn") or p["executionArn"])]
    if call.service == "bedrock-agentcore":
        interpreter = p["codeInterpreterIdentifier"]
        arn = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:code-interpreter-custom/{interpreter}"
        return [Need(action, arn)]
    model_id = p["modelId"]
    if model_id.startswith(_PROFILE_PREFIXES):  # cross-region inference profile
        # Bedrock authorizes the profile, then the foundation model in whichever region the
        # profile routes the call to: every one of them must be allowed, through the profile.
        profile = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{model_id}"
        model = model_id.split(".", 1)[1]
        via = (("bedrock:InferenceProfileArn", profile),)
        regions = _profile_regions(model_id)
        if regions == ["*"]:
            # A global profile may route to any commercial region, and Bedrock also checks
            # the region-less foundation-model ARN ("Global cross-Region inference" in the
            # Bedrock user guide): a region outside every geography stands for "any".
            return [
                Need(action, profile),
                Need(action, f"arn:aws:bedrock:{_FAR_REGION}::foundation-model/{model}", via),
                Need(action, f"arn:aws:bedrock:::foundation-model/{model}", via),
            ]
        return [Need(action, profile)] + [
            Need(action, f"arn:aws:bedrock:{region}::foundation-model/{model}", via)
            for region in regions
        ]
    return [Need(action, f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}")]


# --- policy evaluation over the template ----------------------------------------------------


def role_statements(template: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """Every identity-policy statement of the function's role, intrinsics resolved."""
    resources = template["Resources"]
    role_id = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    assert not role.get("ManagedPolicyArns"), "managed policies are not evaluated here"
    docs = [p["PolicyDocument"] for p in role.get("Policies", [])]
    for res in resources.values():
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in res["Properties"]["Roles"]:
            docs.append(res["Properties"]["PolicyDocument"])
    statements = []
    for doc in docs:
        listed = doc["Statement"]
        statements.extend(listed if isinstance(listed, list) else [listed])
    return [resolve(s, template) for s in statements]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _conditions_hold(conditions: dict[str, Any] | None, context: dict[str, str]) -> bool:
    for operator, tests in (conditions or {}).items():
        for key, wanted in tests.items():
            have = context.get(key)
            if have is None:
                return False
            if operator in ("StringEquals", "ArnEquals"):
                ok = have in _list(wanted)
            elif operator in ("StringLike", "ArnLike", "ForAllValues:StringLike"):
                # (a call names one partition key, so "for all values" is that one value)
                ok = any(fnmatch.fnmatchcase(have, w) for w in _list(wanted))
            else:
                return False  # unknown operator: never assume it allows
            if not ok:
                return False
    return True


def allows(statement: dict[str, Any], need: Need) -> bool:
    assert "NotAction" not in statement and "NotResource" not in statement
    return (
        statement.get("Effect") == "Allow"
        and any(fnmatch.fnmatch(need.action.lower(), a.lower()) for a in _list(statement["Action"]))
        and any(fnmatch.fnmatchcase(need.resource, r) for r in _list(statement["Resource"]))
        and _conditions_hold(statement.get("Condition"), dict(need.context))
    )


def missing_permissions(
    template: dict[str, Any], functions: dict[str, str], calls: list[Call]
) -> list[str]:
    """'<function>: <action> on <resource>' for every call its role does not allow."""
    by_kind = {kind: fid for fid, kind in functions.items()}
    problems = []
    for call in calls:
        statements = role_statements(template, by_kind[call.function])
        for need in needs(call):
            if not any(allows(s, need) for s in statements):
                problems.append(f"{call.function}: {need.action} on {need.resource}")
    return sorted(set(problems))


def unused_grants(
    template: dict[str, Any], functions: dict[str, str], calls: list[Call]
) -> set[tuple[str, str, str]]:
    """(function, action, resource) granted to a function's role that none of its calls used."""
    unused = set()
    for fid, kind in functions.items():
        used = [n for c in calls if c.function == kind for n in needs(c)]
        for s in role_statements(template, fid):
            for action in _list(s["Action"]):
                if action.lower().startswith(PLATFORM_PREFIXES):
                    continue
                for resource in _list(s["Resource"]):
                    narrowed = {**s, "Action": action, "Resource": resource}
                    if not any(allows(narrowed, n) for n in used):
                        unused.add((kind, action, resource))
    return unused


# --- the scenario -----------------------------------------------------------------------------


@dataclass
class Scenario:
    template: dict[str, Any]
    functions: dict[str, str]
    calls: list[Call]


def _wait_job(api: ApiClient, recorder: Recorder, job_id: str) -> dict[str, Any]:
    """GET /jobs/{id} until the job is final, then wait for its execution (cleanup) to end."""
    deadline = time.time() + 60
    while time.time() < deadline:
        body = api.get_job(job_id).body
        if body["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"job {job_id} did not finish")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE_NAME}:{job_id}"
    recorder.paused = True
    try:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.time() < deadline, f"the execution of job {job_id} did not end"
            time.sleep(0.1)
    finally:
        recorder.paused = False
    return body


def _inject_fault(emulator_url: str, fault: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{emulator_url}/_emulator/faults", data=json.dumps(fault).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture(scope="module")
def scenario(
    sandbox_api: ApiClient, agent_template: dict[str, Any], emulator_url: str
) -> Iterator[Scenario]:
    from code_exec.store import base as store

    kinds = {
        "api_handler": "api",
        "job_handler": "job",
        "cleanup_handler": "cleanup",
        "handler": "authorizer",
    }
    functions = {
        fid: kinds[props["Handler"].rsplit(".", 1)[1]]
        for fid, props in template_functions(agent_template).items()
    }
    create_job_machine(agent_template)
    recorder = Recorder(functions)
    boto3.setup_default_session()  # every client made from here on carries the hook
    boto3.DEFAULT_SESSION._session.register("provide-client-params", recorder)  # type: ignore[union-attr]
    services = sandbox_api.handler.services
    services.reset()
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    saved_limit = store.INLINE_LIMIT_BYTES
    store.INLINE_LIMIT_BYTES = 16  # every stored JSON value goes to S3 (state/): exercise it
    api = sandbox_api
    try:
        with LambdaAdapter(agent_template):
            # execute: new session, inline input file, an output file (presigned URL)
            blob = base64.b64encode(b"\x00\x01binary").decode()
            resp = api.execute(
                "lp-session",
                code="import shutil; _ = shutil.copy('inputs/in.bin', 'outputs/out.bin')",
                files=[{"name": "in.bin", "content_base64": blob}],
            )
            assert resp.status == 200 and resp.body["files"], resp.body
            # execute with an input from the files bucket
            recorder.paused = True
            boto3.client("s3", region_name=REGION).put_object(
                Bucket=BUCKET, Key="files/uploads/lp.txt", Body=b"hello"
            )
            recorder.paused = False
            resp = api.execute(
                "lp-session",
                command="cat inputs/lp.txt",
                files=[{"name": "lp.txt", "s3_key": "files/uploads/lp.txt"}],
            )
            assert resp.body["stdout"] == "hello", resp.body
            # /invoke in a session (history stored), then one-shot
            with BedrockReplay("converse_plain_answer").attach(bedrock):
                resp = api.invoke(prompt="What is 6 x 7?", loop="converse", session_id="lp-chat")
            assert resp.status == 200, resp.body
            with BedrockReplay("converse_plain_answer").attach(bedrock):
                assert api.invoke(prompt="What is 6 x 7?", loop="converse").status == 200
            # every model the deployment allows (cdk.json), each through its own profile
            for model_id in _allowed_model_ids():
                with BedrockReplay("converse_plain_answer").attach(bedrock):
                    resp = api.invoke(prompt="What is 6 x 7?", loop="converse", model_id=model_id)
                assert resp.status == 200, resp.body
            # DELETE
            assert api.delete("lp-session").body["stopped"] is True
            # a job in the existing session (history and result in S3), with an input file
            # from the bucket and an output file (the chart turn of a recorded session)
            chart = load_fixture("converse_session_chart")
            chart = {**chart, "turns": chart["turns"][:2]}
            replay = BedrockReplay(chart, strict=False).attach(bedrock)
            try:
                accepted = api.submit_job(
                    prompt=chart["calls"][0]["prompt"],
                    loop="converse",
                    session_id="lp-chat",
                    files=[{"name": "lp.txt", "s3_key": "files/uploads/lp.txt"}],
                )
                assert accepted.status == 202, accepted.body
                done = _wait_job(api, recorder, accepted.body["job_id"])
            finally:
                replay.detach()
            assert done["status"] == "SUCCEEDED", done
            assert done["result"]["files"], done["result"]
            # the jobs that fail call the deployment's other models: every allowed model is
            # called by the job function too
            model_a, model_b = (m for m in _allowed_model_ids() if m != MODEL_ID)
            # a job that fails (one-shot session, stopped by the job and by cleanup)
            with BedrockReplay("throttled", strict=False).attach(bedrock):
                accepted = api.submit_job(
                    prompt="What is 6 x 7?", loop="converse", model_id=model_a
                )
                assert _wait_job(api, recorder, accepted.body["job_id"])["status"] == "FAILED"
            # a job that fails in the session: cleanup stops its sandbox session, which answers
            # conflict once (as while a cell still runs), so cleanup reads the session's status
            recorder.paused = True
            sandbox_session = services.store.get_session("lp-chat").sandbox_session_id
            recorder.paused = False
            _inject_fault(
                emulator_url,
                {
                    "exception": "conflictException",
                    "sessionId": sandbox_session,
                    "mode": "http",
                    "operation": "StopCodeInterpreterSession",
                },
            )
            with BedrockReplay("throttled", strict=False).attach(bedrock):
                accepted = api.submit_job(
                    prompt="What is 6 x 7?", loop="converse", session_id="lp-chat", model_id=model_b
                )
                assert _wait_job(api, recorder, accepted.body["job_id"])["status"] == "FAILED"
            refused = [
                c
                for c in recorder.calls
                if c.function == "cleanup"
                and c.operation == "GetCodeInterpreterSession"
                and c.params["sessionId"] == sandbox_session
            ]
            assert refused, "cleanup did not read the status of the session it could not stop"
            assert api.delete("lp-chat").body["stopped"] is True  # the kill switch stops it
            _anthropic_api(api, recorder, functions, bedrock)
        yield Scenario(agent_template, functions, list(recorder.calls))
    finally:
        store.INLINE_LIMIT_BYTES = saved_limit
        boto3.DEFAULT_SESSION._session.unregister("provide-client-params", recorder)  # type: ignore[union-attr]
        services.reset()


def _v1_event(path: str, method: str, body: bytes, content_type: str) -> dict[str, Any]:
    """The messages event (API key, authorizer context) turned into another /v1 request."""
    event = load_event("messages")
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["headers"] = {**event["headers"], "Content-Type": content_type}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["body"] = base64.b64encode(body).decode() if body else None
    event["isBase64Encoded"] = bool(body)
    return event


def _anthropic_api(
    api: ApiClient, recorder: Recorder, functions: dict[str, str], bedrock: Any
) -> None:
    """The authorizer (in its own function's thread), a code-running /v1/messages turn, an
    upload and the owner's file list."""
    from code_exec.anthropic import authorizer
    from code_exec.store import new_key

    store = api.handler.services.store
    recorder.paused = True
    key = new_key()
    store.put_api_key(key, owner="alice", name="lp")
    recorder.paused = False
    authorizer.reset()
    event = load_event("messages")
    event["headers"] = {**event["headers"], "x-api-key": key}
    event["methodArn"] = (
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/v1/messages"
    )
    fid = next(f for f, kind in functions.items() if kind == "authorizer")
    allowed: list[Any] = []
    thread = threading.Thread(
        target=lambda: allowed.append(authorizer.handler(event, LambdaContext())),
        name=f"lambda-{fid}",
    )
    thread.start()
    thread.join()
    assert allowed and allowed[0]["context"]["owner"] == "alice"
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": "mean and stdev of 1..10"}],
    }
    with BedrockReplay("anthropic_bash_stats").attach(bedrock):
        resp = api.call("messages", body=body)
    assert resp.status == 200 and resp.body["container"], resp.body
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="lp.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--b--\r\n"
    )
    raw = api.handler.api_handler(
        _v1_event("/v1/files", "POST", form, "multipart/form-data; boundary=b"), LambdaContext()
    )
    assert raw["statusCode"] == 200, raw["body"]
    raw = api.handler.api_handler(
        _v1_event("/v1/files", "GET", b"", "application/json"), LambdaContext()
    )
    assert json.loads(raw["body"])["data"], raw["body"]


def test_the_scenario_reaches_every_function_and_service(scenario: Scenario) -> None:
    seen = {(c.function, c.service) for c in scenario.calls}
    for kind in ("api", "job", "cleanup", "authorizer"):
        assert any(f == kind for f, _ in seen), f"no calls recorded for the {kind} function"
    for service in ("dynamodb", "s3", "sfn", "bedrock-runtime", "bedrock-agentcore"):
        assert any(s == service for _, s in seen), f"no {service} calls recorded"
    presigned = [c for c in scenario.calls if (c.service, c.operation) == ("s3", "GetObject")]
    assert presigned, "presigned URL generation must be recorded as s3:GetObject"


def test_every_call_is_allowed_by_its_functions_role(scenario: Scenario) -> None:
    assert missing_permissions(scenario.template, scenario.functions, scenario.calls) == []


def test_no_role_grants_what_the_runtime_never_uses(scenario: Scenario) -> None:
    unused = sorted(unused_grants(scenario.template, scenario.functions, scenario.calls))
    assert unused == [], "granted but never used:\n" + "\n".join(map(str, unused))


def test_the_check_fails_when_a_permission_is_removed(scenario: Scenario) -> None:
    template = copy.deepcopy(scenario.template)
    api_fn = next(fid for fid, kind in scenario.functions.items() if kind == "api")
    role_id = template["Resources"][api_fn]["Properties"]["Role"]["Fn::GetAtt"][0]
    [policy] = [
        r["Properties"]["PolicyDocument"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    before = len(policy["Statement"])
    policy["Statement"] = [
        s for s in policy["Statement"] if "dynamodb:UpdateItem" not in _list(s["Action"])
    ]
    assert len(policy["Statement"]) == before - 1
    missing = missing_permissions(template, scenario.functions, scenario.calls)
    assert any(m.startswith("api: dynamodb:UpdateItem on arn:aws:dynamodb:") for m in missing)
    # and the intact template passes the same check
    assert missing_permissions(scenario.template, scenario.functions, scenario.calls) == []


def test_the_check_fails_when_an_unused_permission_is_added(scenario: Scenario) -> None:
    template = copy.deepcopy(scenario.template)
    job_fn = next(fid for fid, kind in scenario.functions.items() if kind == "job")
    role_id = template["Resources"][job_fn]["Properties"]["Role"]["Fn::GetAtt"][0]
    [policy] = [
        r["Properties"]["PolicyDocument"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    sandbox_prefix = f"arn:aws:s3:::{BUCKET}/sandbox/*"
    policy["Statement"].append(
        {"Effect": "Allow", "Action": ["dynamodb:Query", "s3:GetObject"], "Resource": table}
    )
    policy["Statement"].append(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": sandbox_prefix}
    )
    assert unused_grants(template, scenario.functions, scenario.calls) == {
        ("job", "dynamodb:Query", table),
        ("job", "s3:GetObject", table),
        ("job", "s3:PutObject", sandbox_prefix),
    }
