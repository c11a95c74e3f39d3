"""Least privilege, proven both ways, on the app as ``cdk synth`` builds it.

**What runs.** Both stacks are synthesized by the real ``build_app`` (inline Lambda code in
place of the bundled asset). Every Lambda function of the template runs as its own container
would (``devtools.function_harness``): a private copy of its handler module, configured from
the function's environment in the template, intrinsics resolved to this test's resource names
(``devtools.deployment``). ``least_privilege_drive.STEPS`` then drives every path that calls
AWS: every loop, preloaded and bridged PTC tools, direct mode, code execution, files in and
out, sessions, DELETE, jobs through the real state machine definition in moto,
``POST /invoke/stream`` through the streaming function's own runtime loop, and the sweeper;
``least_privilege_errors.ERROR_STEPS`` then drives their error paths (unknown, foreign, busy
and expired containers and sessions, 404/409/410/413, throttles and timeouts injected at the
botocore layer), so a call made only when something fails is a need like any other.

**What is recorded.** Every botocore client created during the run carries a hook that
records each call (and presigned URL) with the client's owner (``devtools.call_recorder``):
the function whose setup built it, or moto's Step Functions for the state machine's Lambda
invocations. Threads play no part: a Strands pool thread, a PTC bridge thread or a streamed
turn's pump thread calls through its function's clients. Inside the sandbox, a stand-in
``claude`` reports the environment the runtime started Claude Code with; what Claude Code
calls on Bedrock with that configuration (per its documentation) is what the interpreter's
execution role must allow.

**What is checked** (``devtools.iam_check``): every call becomes needs, an IAM action on one
concrete ARN. For every role of both templates, each need must be granted, each grant (and
each condition value) must be needed, and no granted resource may be broader than the
*narrowest pattern* of a need of its action: the need's ARN with only the parts named at run
time replaced by ``*``. Those are an S3 key below its first segment (``<bucket>/files/*``: the
code fixes the prefix, callers and ids name the rest) and a Step Functions execution name
(``execution:<machine>:*``, one per job). Everything else is named exactly: the table (not
``table/*``), the state machine, each Lambda function (not ``function:*`` or ``<fn>:*``), the
code interpreter, each inference profile and each foundation model per region (not ``*``).
A call no function owns fails, and so does a role nothing exercised, unless
:data:`PLATFORM_ROLES` says why no code of this repository acts with it. Each way the check can
fail is kept below as a mutation of the template (or of the runtime's setup) that must fail it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.call_recorder import Call, CallRecorder
from devtools.deployment import Deployment, synth_app
from devtools.fault_injection import sleeps_skipped
from devtools.function_harness import load_functions
from devtools.iam_check import (
    Need,
    RoleFindings,
    check_role,
    claude_code_needs,
    needs,
    role_statements,
)
from devtools.lambda_adapter import LambdaAdapter

from .least_privilege_drive import STEPS, TEST_ACTOR, Run, provision
from .least_privilege_errors import ERROR_STEPS, v1_container_probes

pytestmark = [pytest.mark.sandbox, pytest.mark.cdk]

REGION, ACCOUNT = "us-east-1", "123456789012"
REPLAY_ENDPOINT = "https://bedrock-runtime.replay.invalid"  # a host only the replay answers
# Roles no code of this repository acts with (key: logical id without CDK's hash suffix).
PLATFORM_ROLES = {
    "ApiCloudWatchRole": "API Gateway's account-level role for writing execution logs "
    "(the AWS managed policy AmazonAPIGatewayPushToCloudWatchLogs)",
}
_HASH = re.compile(r"[0-9A-F]{8}$")
_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
PROFILE_REGIONS: dict[str, list[str]] = _CONTEXT["inferenceProfileRegions"]


@dataclass
class Report:
    """The check's outcome for one deployment and one set of recorded calls."""

    roles: dict[str, RoleFindings] = field(default_factory=dict)
    unattributed: list[str] = field(default_factory=list)
    unexercised: list[str] = field(default_factory=list)

    def all(self, kind: str) -> list[str]:
        return sorted(m for f in self.roles.values() for m in getattr(f, kind))


def check(deployment: Deployment, calls: list[Call], claude_code_env: dict[str, str]) -> Report:
    """Every role of ``deployment`` against what its actors did (see the module docstring)."""
    report = Report()
    by_actor: dict[str, list[Need]] = {}
    for call in calls:
        if call.actor is None:
            report.unattributed.append(f"{call} ({call.thread}): {dict(call.params)}"[:300])
        elif call.actor != TEST_ACTOR:
            found = needs(call, account=ACCOUNT, profile_regions=PROFILE_REGIONS)
            by_actor.setdefault(call.actor, []).extend(found)
    for interpreter in deployment.resources("AWS::BedrockAgentCore::CodeInterpreterCustom"):
        if claude_code_env:
            found = claude_code_needs(
                claude_code_env,
                account=ACCOUNT,
                profile_regions=PROFILE_REGIONS,
                why=f"Claude Code in {interpreter.logical_id}",
            )
            by_actor.setdefault(interpreter.logical_id, []).extend(found)
    acting: dict[str, list[str]] = {}  # role logical id -> actors
    for res in deployment.resources():
        role = deployment.role_of(res) if res.type != "AWS::IAM::Role" else None
        if role is not None:
            acting.setdefault(role.logical_id, []).append(res.logical_id)
    for role in deployment.resources("AWS::IAM::Role"):
        if _HASH.sub("", role.logical_id) in PLATFORM_ROLES:
            continue
        actors = acting.get(role.logical_id, [])
        role_needs = [n for a in actors for n in by_actor.get(a, [])]
        if not role_needs:
            report.unexercised.append(
                f"{role.logical_id} (acted with by {actors or 'nothing known'}): no step "
                "exercises it; add one to least_privilege_drive.STEPS"
            )
            continue
        statements = role_statements(deployment, role)
        report.roles[role.logical_id] = check_role(role.logical_id, statements, role_needs)
    return report


@dataclass
class Recorded:
    run: Run
    templates: dict[str, dict[str, Any]]

    @property
    def calls(self) -> list[Call]:
        return list(self.run.recorder.calls)

    def check(self, templates: dict[str, dict[str, Any]] | None = None) -> Report:
        deployment = Deployment(templates or self.templates, region=REGION, account=ACCOUNT)
        return check(deployment, self.calls, self.run.claude_code_env)


@pytest.fixture(scope="module")
def recorded(emulator_url: str) -> Iterator[Recorded]:
    from code_exec.store import base as store
    from moto import mock_aws

    templates = synth_app()
    deployment = Deployment(templates, region=REGION, account=ACCOUNT)
    [machine] = deployment.resources("AWS::StepFunctions::StateMachine")
    endpoints = {
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": emulator_url,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": REPLAY_ENDPOINT,
    }
    saved_limit = store.INLINE_LIMIT_BYTES
    store.INLINE_LIMIT_BYTES = 16  # every stored JSON value goes to S3 (state/): exercise it
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        CallRecorder(created_by={"moto.stepfunctions": machine.logical_id}) as recorder,
        sleeps_skipped(),  # the throttled and timed-out steps cost their attempts, not waits
    ):
        provision(deployment, recorder)
        functions = load_functions(deployment, recorder, endpoints=endpoints)
        lambdas: dict[str, Any] = {"Resources": {}}  # every function, wherever its stack
        for fn in functions.values():
            lambdas["Resources"][fn.logical_id] = {
                "Type": "AWS::Lambda::Function",
                "Properties": fn.resource.props,
            }
        handlers = {fid: fn.handler for fid, fn in functions.items()}
        try:
            with LambdaAdapter(lambdas, region=REGION, account=ACCOUNT, handlers=handlers):
                run = Run(deployment, recorder, functions, emulator_url)
                for step in [*STEPS, *ERROR_STEPS]:
                    step(run)
                yield Recorded(run, templates)
        finally:
            store.INLINE_LIMIT_BYTES = saved_limit


# --- the run ---------------------------------------------------------------------------------


def test_the_run_drives_every_function_the_machine_and_claude_code(recorded: Recorded) -> None:
    run = recorded.run
    for fid in run.functions:
        assert run.recorder.by(fid), f"no AWS call recorded for {fid}"
    [machine] = run.deployment.resources("AWS::StepFunctions::StateMachine")
    invoked = {c.params["FunctionName"] for c in run.recorder.by(machine.logical_id)}
    assert {f.split(":")[-1] for f in invoked} == {
        run.function(".job_handler").logical_id,
        run.function(".cleanup_handler").logical_id,
    }
    assert run.claude_code_env["ANTHROPIC_MODEL"], run.claude_code_env
    # Calls made off the request's own thread are attributed too: Strands runs its model calls
    # and its tools (here the bridged-PTC relay to the sandbox) on threads of its own.
    api = run.function(".api_handler").logical_id
    off_main = {c.operation for c in run.recorder.by(api) if c.thread != "MainThread"}
    assert {"Converse", "InvokeCodeInterpreter"} <= off_main, off_main
    # A streamed turn runs on the pump's thread, started by the streaming runtime's loop (a
    # thread named for neither; a whole /v1 message runs on the loop's own): its calls still
    # belong to the streaming function, and it calls the models only through the streaming
    # operations.
    stream = run.recorder.by(run.function(".stream_handler").logical_id)
    # (InvokeWebSearch is driven through the function's services on the test's thread by
    # ``web_search_from_every_worker`` until a /v1 route calls it.)
    threads = {c.thread for c in stream if c.operation != "InvokeWebSearch"}
    assert any(t.startswith("streaming-runtime/") for t in threads), threads
    assert all(t.startswith("streaming-runtime") for t in threads), threads
    model_calls = {c.operation for c in stream if c.service == "bedrock-runtime"}
    assert model_calls == {"ConverseStream", "InvokeModelWithResponseStream"}, model_calls


def test_every_call_is_attributed_to_the_resource_that_made_it(recorded: Recorded) -> None:
    assert recorded.check().unattributed == []


def test_every_role_is_exercised(recorded: Recorded) -> None:
    assert recorded.check().unexercised == []
    roles = {_HASH.sub("", r) for t in recorded.templates.values() for r in _roles(t)}
    assert set(PLATFORM_ROLES) <= roles, "an exemption names a role the app no longer has"


def test_every_call_is_granted(recorded: Recorded) -> None:
    missing = recorded.check().all("missing")
    assert missing == [], "\n".join(missing)


def test_every_grant_is_needed(recorded: Recorded) -> None:
    unused = recorded.check().all("unused")
    assert unused == [], "\n".join(unused)


def test_no_grant_is_broader_than_the_calls_need(recorded: Recorded) -> None:
    broad = recorded.check().all("too_broad")
    assert broad == [], "\n".join(broad)


# --- each way the check fails, proven on a mutated template or runtime setup -----------------


def _roles(template: dict[str, Any]) -> list[str]:
    return [k for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"]


def _statements(templates: dict[str, dict[str, Any]], role: str) -> tuple[str, list[Any]]:
    """(role logical id, the statements of its default policy) in ``templates`` (mutable)."""
    for template in templates.values():
        for role_id in [r for r in _roles(template) if r.startswith(role)]:
            for res in template["Resources"].values():
                if res["Type"] == "AWS::IAM::Policy" and res["Properties"]["Roles"] == [
                    {"Ref": role_id}
                ]:
                    return role_id, res["Properties"]["PolicyDocument"]["Statement"]
    raise KeyError(role)


def _names(recorded: Recorded) -> dict[str, str]:
    env = recorded.run.function(".api_handler").environment
    return {"table": env["TABLE_NAME"], "bucket": env["FILES_BUCKET"]}


def test_a_missing_action_fails_the_check(recorded: Recorded) -> None:
    templates = copy.deepcopy(recorded.templates)
    role, statements = _statements(templates, "ApiFunctionRole")
    [table] = [s for s in statements if s.get("Sid") == "SessionsAndJobs"]
    table["Action"].remove("dynamodb:UpdateItem")
    missing = recorded.check(templates).all("missing")
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{_names(recorded)['table']}"
    api = recorded.run.function(".api_handler").logical_id
    # one finding per partition written (DynamoDB needs carry dynamodb:LeadingKeys)
    assert missing and all(
        m.startswith(f"{role}: dynamodb:UpdateItem on {arn} when dynamodb:LeadingKeys=")
        and m.endswith(f" is not granted (needed by {api} dynamodb.UpdateItem)")
        for m in missing
    ), missing
    assert any("LeadingKeys=SESSION#" in m for m in missing)


def test_an_unused_action_fails_the_check(recorded: Recorded) -> None:
    templates = copy.deepcopy(recorded.templates)
    role, statements = _statements(templates, "JobFunctionRole")
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{_names(recorded)['table']}"
    statements.append({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": arn})
    report = recorded.check(templates)
    assert report.all("unused") == [
        f"{role}: dynamodb:Query on {arn} is granted but no call needs it"
    ]
    assert report.all("missing") == report.all("too_broad") == []


_TABLE = "arn:aws:dynamodb:{region}:{account}:table/"
# (a widened Files statement also covers the skills/ prefix, which its own statement grants)
_OBJECTS = [
    "arn:aws:s3:::{bucket}/files/*",
    "arn:aws:s3:::{bucket}/skills/*",
    "arn:aws:s3:::{bucket}/state/*",
]


@pytest.mark.parametrize(
    ("sid", "action", "widened", "narrowest"),
    [
        ("SessionsAndJobs", "dynamodb:GetItem", _TABLE + "*", [_TABLE + "{table}"]),
        ("Files", "s3:GetObject", "arn:aws:s3:::{bucket}/*", _OBJECTS),
        ("Files", "s3:PutObject", "arn:aws:s3:::*", _OBJECTS),
        (
            "InvokeConfiguredModels",
            "bedrock:InvokeModel",
            "arn:aws:bedrock:{region}:{account}:inference-profile/*",
            None,  # (the profile and the foundation models it routes to)
        ),
        ("InvokeModelsBehindProfile0", "bedrock:InvokeModel", "arn:aws:bedrock:*::*", None),
    ],
)
def test_a_widened_resource_fails_the_check(
    recorded: Recorded, sid: str, action: str, widened: str, narrowest: list[str] | None
) -> None:
    names = {**_names(recorded), "region": REGION, "account": ACCOUNT}
    resource = widened.format(**names)
    templates = copy.deepcopy(recorded.templates)
    role, statements = _statements(templates, "ApiFunctionRole")
    [statement] = [s for s in statements if s.get("Sid") == sid]
    statement["Resource"] = resource
    report = recorded.check(templates)
    assert report.all("missing") == [] and report.all("unused") == []
    [message] = [m for m in report.all("too_broad") if f": {action} on {resource} " in m]
    assert message.startswith(f"{role}: {action} on {resource} is broader than the calls need (")
    if narrowest:
        wanted = ", ".join(n.format(**names) for n in narrowest)
        assert message.endswith(f"({wanted})"), message


def test_the_streaming_role_proven_on_its_own_calls(recorded: Recorded) -> None:
    """The streaming function's role is checked against what ``POST /invoke/stream`` called:
    the buffered model action the other functions hold is unused there, and its streaming
    action is needed (for every profile it is granted through)."""
    templates = copy.deepcopy(recorded.templates)
    role, statements = _statements(templates, "StreamFunctionRole")
    models = [s for s in statements if str(s.get("Sid", "")).startswith("InvokeModels")]
    models += [s for s in statements if s.get("Sid") == "InvokeConfiguredModels"]
    assert models and all(s["Action"] == "bedrock:InvokeModelWithResponseStream" for s in models)
    for statement in models:
        statement["Action"] = ["bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel"]
    report = recorded.check(templates)
    unused = report.all("unused")
    assert unused and all(m.startswith(f"{role}: bedrock:InvokeModel on ") for m in unused)
    assert report.all("missing") == report.all("too_broad") == []
    for statement in models:
        statement["Action"] = "bedrock:InvokeModel"
    missing = recorded.check(templates).all("missing")
    stream = recorded.run.function(".stream_handler").logical_id
    assert missing and all(
        m.startswith(f"{role}: bedrock:InvokeModelWithResponseStream on ")
        and m.endswith(f"(needed by {stream} bedrock-runtime.ConverseStream)")
        for m in missing
    ), missing


def test_an_unused_condition_value_fails_the_check(recorded: Recorded) -> None:
    """A second inference profile the models may be reached through, which nothing uses."""
    templates = copy.deepcopy(recorded.templates)
    role, statements = _statements(templates, "ApiFunctionRole")
    [routed] = [s for s in statements if s.get("Sid") == "InvokeModelsBehindProfile0"]
    other = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/eu.unused-model"
    tests = routed["Condition"]["StringEquals"]
    key = "bedrock:InferenceProfileArn"
    tests[key] = [*(tests[key] if isinstance(tests[key], list) else [tests[key]]), other]
    unused = recorded.check(templates).all("unused")
    assert unused and all(
        m.startswith(f"{role}: bedrock:InvokeModel on arn:aws:bedrock:")
        and m.endswith(
            f"when bedrock:InferenceProfileArn StringEquals {other} is granted but no call needs it"
        )
        for m in unused
    ), unused


def _unattributed_writing_a_file(recorded: Recorded) -> list[str]:
    run = recorded.run
    before = len(run.recorder.calls)
    resp = run.api.execute("lp-lazy", code="_ = open('outputs/x.txt', 'w').write('x')")
    assert resp.status == 200 and resp.body["files"], resp.body
    return check(run.deployment, run.recorder.calls[before:], {}).unattributed


def test_a_call_no_function_owns_fails_the_check(recorded: Recorded) -> None:
    """A client the runtime builds lazily, outside its function's setup, is nobody's."""
    services = recorded.run.function(".api_handler").services
    saved = {name: vars(services).pop(name) for name in ("s3", "files", "store")}
    try:  # the S3 client, and what holds it, are built again on first use
        unattributed = _unattributed_writing_a_file(recorded)
    finally:
        services.override(**saved)
    assert {u.split(" ", 1)[0] for u in unattributed} == {"s3.PutObject", "s3.GetObject"}
    assert _unattributed_writing_a_file(recorded) == []  # with the function's own client
    assert recorded.run.api.delete("lp-lazy").status == 200


def test_a_role_nothing_exercises_fails_the_check(recorded: Recorded) -> None:
    templates = copy.deepcopy(recorded.templates)
    [agent] = [t for t in templates.values() if "AWS::Lambda::Function" in json.dumps(t)]
    agent["Resources"]["SweeperRole0A1B2C3D"] = {"Type": "AWS::IAM::Role", "Properties": {}}
    agent["Resources"]["SweeperFunction4E5F6A7B"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Role": {"Fn::GetAtt": ["SweeperRole0A1B2C3D", "Arn"]}},
    }
    assert recorded.check(templates).unexercised == [
        "SweeperRole0A1B2C3D (acted with by ['SweeperFunction4E5F6A7B']): no step exercises "
        "it; add one to least_privilege_drive.STEPS"
    ]


@pytest.mark.parametrize(
    ("role_prefix", "sid", "kind"),
    [
        ("AuthorizerFunctionRole", "ReadApiKeys", "APIKEY#*"),
        ("ApiFunctionRole", "ListOwnersFiles", "FILES#*, SKILLS#*"),
    ],
)
def test_a_widened_partition_condition_fails_the_check(
    recorded: Recorded, role_prefix: str, sid: str, kind: str
) -> None:
    """The authorizer reads API key items only, the API queries file and skill partitions
    only."""
    templates = copy.deepcopy(recorded.templates)
    role, statements = _statements(templates, role_prefix)
    [statement] = [s for s in statements if s.get("Sid") == sid]
    statement["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*"]}}
    [message] = recorded.check(templates).all("too_broad")
    assert message.startswith(f"{role}: ") and message.endswith(
        f"is broader than the calls need ({kind})"
    )


def test_a_call_made_only_on_an_error_path_fails_the_check(recorded: Recorded) -> None:
    """Issue 14 §1.10, re-introduced: the streaming function reads the container after a
    failed lease (unknown, foreign or busy), which its role does not allow. The error-path
    steps take that path, so the check names the read; without it, nothing is missing."""
    from code_exec.exceptions import ConflictError
    from code_exec.store.container_records import _key

    run = recorded.run
    stream = run.function(".stream_handler")
    store = stream.services.store
    original = store.acquire_container

    def read(container_id: str) -> None:
        store._db.get_item(TableName=store._table, Key=_key(container_id), ConsistentRead=True)

    def acquire_then_read(container_id: str, *args: Any) -> Any:
        try:
            found = original(container_id, *args)
        except ConflictError:
            read(container_id)
            raise
        if found is None:
            read(container_id)
        return found

    def missing_after_probes() -> list[str]:
        before = len(run.recorder.calls)
        v1_container_probes(run)
        return check(run.deployment, run.recorder.calls[before:], {}).all("missing")

    assert missing_after_probes() == []
    store.acquire_container = acquire_then_read
    try:
        missing = missing_after_probes()
    finally:
        del store.acquire_container
    [role] = [
        r for t in recorded.templates.values() for r in _roles(t) if "StreamFunctionRole" in r
    ]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{_names(recorded)['table']}"
    assert len(missing) == 4, missing  # unknown, foreign idle, foreign busy, busy
    assert all(
        m.startswith(f"{role}: dynamodb:GetItem on {table} when dynamodb:LeadingKeys=CONTAINER#")
        and m.endswith(f" is not granted (needed by {stream.logical_id} dynamodb.GetItem)")
        for m in missing
    ), missing
