"""Security properties of the synthesized templates, asserted with Template/Match."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.stacks.cfn import as_list, policy_statements, resources

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

pytestmark = pytest.mark.cdk

# Actions allowed on Resource "*": the services have no resource-level permission for them.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "bedrock:ListInferenceProfiles",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}
HANDLERS = {
    "code_exec.api.handler.api_handler",
    "code_exec.api.streamed.stream_handler",
    "code_exec.functions.job_function.job_handler",
    "code_exec.functions.cleanup_function.cleanup_handler",
    "code_exec.anthropic.authorizer.handler",
    "code_exec.functions.sweeper_function.sweeper_handler",
}
STREAM_HANDLER = "code_exec.api.streamed.stream_handler"


@pytest.fixture(scope="module")
def interpreter(interpreter_template: dict[str, Any]) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(interpreter_template)


@pytest.fixture(scope="module")
def agent(agent_template: dict[str, Any]) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(agent_template)


# --- code interpreter -------------------------------------------------------------------


def test_exactly_one_public_code_interpreter_with_execution_role(interpreter: Template) -> None:
    from aws_cdk.assertions import Match

    interpreter.resource_count_is("AWS::BedrockAgentCore::CodeInterpreterCustom", 1)
    interpreter.has_resource_properties(
        "AWS::BedrockAgentCore::CodeInterpreterCustom",
        {
            "Name": Match.string_like_regexp(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$"),
            "NetworkConfiguration": {"NetworkMode": "PUBLIC"},
            "ExecutionRoleArn": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
        },
    )


def test_execution_role_trust_is_agentcores_documented_policy(
    interpreter: Template,
) -> None:
    from aws_cdk.assertions import Match

    interpreter.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": Match.any_value()},
                            "ArnLike": {"aws:SourceArn": Match.any_value()},
                        },
                    }
                ]
            }
        },
    )
    role = next(iter(resources(interpreter.to_json(), "AWS::IAM::Role").values()))
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    source_arn = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    # arn:<partition>:bedrock-agentcore:<region>:<account>:* (bedrock_code_execution.interpreter)
    assert source_arn[-1] == ":*", source_arn
    assert ":bedrock-agentcore:" in source_arn


def test_sandbox_may_invoke_profile_and_routed_foundation_models(
    interpreter_template: dict[str, Any],
) -> None:
    text = json.dumps(policy_statements(interpreter_template))
    assert "inference-profile/global.anthropic.claude-sonnet-5" in text
    # AWS's pattern for a global profile: the profile ARN, plus the foundation model in any
    # region and without a region, only through that profile (bedrock:InferenceProfileArn)
    routed = [
        s
        for _, s in policy_statements(interpreter_template)
        if "bedrock:InferenceProfileArn" in json.dumps(s.get("Condition", {}))
    ]
    assert routed and all("StringEquals" in s["Condition"] for s in routed)
    resources = json.dumps([s["Resource"] for s in routed])
    assert ":bedrock:*::foundation-model/anthropic.claude-sonnet-5" in resources
    assert ":bedrock:::foundation-model/anthropic.claude-sonnet-5" in resources
    assert "inference-profile/global.anthropic.claude-sonnet-5" in json.dumps(
        [s["Condition"] for s in routed]
    )
    actions = {a for _, s in policy_statements(interpreter_template) for a in as_list(s["Action"])}
    assert actions == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:GetInferenceProfile",
        "bedrock:ListInferenceProfiles",
    }


# --- IAM everywhere ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["interpreter_template", "agent_template"])
def test_no_wildcard_actions_and_star_resources_only_where_needed(
    request: pytest.FixtureRequest, which: str
) -> None:
    template = request.getfixturevalue(which)
    statements = policy_statements(template)
    assert statements  # a template without policies would pass the loop below
    for policy, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement, policy
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{policy}: wildcard action {action}"
        if "*" in as_list(statement.get("Resource")):
            extra = set(as_list(statement["Action"])) - STAR_RESOURCE_ACTIONS
            assert not extra, f"{policy}: Resource '*' for {sorted(extra)}"


def _role_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    roles = [k for k in resources(template, "AWS::IAM::Role") if k.startswith(role_prefix)]
    assert len(roles) == 1, roles
    out = []
    for resource in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": roles[0]} in resource["Properties"]["Roles"]:
            out.extend(as_list(resource["Properties"]["PolicyDocument"]["Statement"]))
    return out


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in as_list(s["Action"])}


def test_function_roles_get_exactly_their_actions(agent_template: dict[str, Any]) -> None:
    """What each function calls, no more (tests/runtime/test_least_privilege.py proves each
    action is used). Only the streaming function streams model responses, and it never calls
    the buffered InvokeModel, nor reads an item (it leases, saves and releases sessions and
    containers) and it creates only containers and file records (/v1/messages); only the API
    creates jobs (PutItem), deletes sessions and files (DeleteItem) and queries the table (a
    key owner's files); the authorizer only reads API key items."""
    interpreter_actions = {
        "bedrock-agentcore:StartCodeInterpreterSession",
        "bedrock-agentcore:InvokeCodeInterpreter",
        "bedrock-agentcore:StopCodeInterpreterSession",
        "bedrock-agentcore:GetCodeInterpreterSession",
    }
    base = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments"}
    base |= {"xray:PutTelemetryRecords"}
    job = (
        base
        | interpreter_actions
        | {
            "bedrock:InvokeModel",
            "bedrock-agentcore:InvokeWebSearch",  # web_search (issue 17)
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "s3:GetObject",
            "s3:PutObject",
        }
    )
    api = _role_statements(agent_template, "ApiFunctionRole")
    assert _actions(api) == job | {
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "states:StartExecution",
        "states:DescribeExecution",
        "bedrock:CountTokens",  # POST /v1/messages/count_tokens
        "s3:DeleteObject",  # a skill version's zip
    }
    [query] = [s for s in api if "dynamodb:Query" in as_list(s["Action"])]
    assert query["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FILES#*", "SKILLS#*"]}
    }
    [delete] = [s for s in api if "s3:DeleteObject" in as_list(s["Action"])]
    assert all("/skills/*" in json.dumps(r) for r in as_list(delete["Resource"]))
    authorizer = _role_statements(agent_template, "AuthorizerFunctionRole")
    assert _actions(authorizer) == base | {"dynamodb:GetItem"}
    [read] = [s for s in authorizer if s["Action"] == "dynamodb:GetItem"]
    assert read["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["APIKEY#*"]}}
    assert _actions(_role_statements(agent_template, "JobFunctionRole")) == job
    stream = _role_statements(agent_template, "StreamFunctionRole")
    assert _actions(stream) == (job - {"bedrock:InvokeModel"}) | {
        "bedrock:InvokeModelWithResponseStream",
        "dynamodb:PutItem",
    }
    [create] = [s for s in stream if s["Action"] == "dynamodb:PutItem"]  # /v1/messages
    assert create["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONTAINER#*", "FILES#*"]}
    }
    # it reads file and skill items only (container_upload, container.skills); never a
    # container, session or job
    [read] = [s for s in stream if "dynamodb:GetItem" in as_list(s["Action"])]
    assert read["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FILES#*", "SKILLS#*"]}
    }
    cleanup = _role_statements(agent_template, "CleanupFunctionRole")
    assert _actions(cleanup) == base | {
        "bedrock-agentcore:StopCodeInterpreterSession",
        "bedrock-agentcore:GetCodeInterpreterSession",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:GetObject",
    }
    # The sweeper lists and stops sessions and reads their owners: no S3, no writes.
    sweeper = _role_statements(agent_template, "SweeperFunctionRole")
    assert _actions(sweeper) == base | {
        "bedrock-agentcore:ListCodeInterpreterSessions",
        "bedrock-agentcore:StopCodeInterpreterSession",
        "bedrock-agentcore:GetCodeInterpreterSession",
        "dynamodb:GetItem",
    }
    # The interpreter actions apply to THIS interpreter only (imported from its stack).
    for statements in (api, stream, cleanup, sweeper):
        used = [s for s in statements if s.get("Sid") == "UseCodeInterpreter"]
        assert len(used) == 1
        assert "CodeInterpreterArn" in json.dumps(used[0]["Resource"])
        assert "Fn::ImportValue" in used[0]["Resource"]


@pytest.mark.parametrize(
    ("role", "prefixes"),
    [
        ("ApiFunctionRole", ["/files/*", "/state/*", "/skills/*"]),
        ("StreamFunctionRole", ["/files/*", "/state/*", "/skills/*"]),
        ("JobFunctionRole", ["/files/*", "/state/*", "/skills/*"]),
        ("CleanupFunctionRole", ["/state/*"]),
    ],
)
def test_function_roles_reach_only_their_object_prefixes(
    agent_template: dict[str, Any], role: str, prefixes: list[str]
) -> None:
    """Only the prefixes each function uses; nothing else in the bucket."""
    objects = [
        r
        for s in _role_statements(agent_template, role)
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
        for r in as_list(s["Resource"])
    ]
    assert [r["Fn::Join"][1][-1] for r in objects] == prefixes


def test_sandbox_role_has_no_bucket_access(
    agent_template: dict[str, Any], interpreter_template: dict[str, Any]
) -> None:
    """Nothing in the sandbox is told the bucket: code there works on its session's files,
    which the functions move in and out (tests/runtime/test_least_privilege.py)."""
    actions = {a for _, s in policy_statements(interpreter_template) for a in as_list(s["Action"])}
    assert not [a for a in actions if a.startswith("s3:")], actions
    # The agent stack, which owns the bucket, attaches policies to its own roles only.
    for policy in resources(agent_template, "AWS::IAM::Policy").values():
        assert all(set(ref) == {"Ref"} for ref in policy["Properties"]["Roles"]), policy


# --- storage --------------------------------------------------------------------------------


def test_buckets_are_encrypted_private_tls_only_and_expire(agent: Template) -> None:
    from aws_cdk.assertions import Match

    agent.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"Status": "Enabled"})])
            },
        },
    )
    agent.has_resource_properties(
        "AWS::S3::Bucket", {"LoggingConfiguration": {"LogFilePrefix": "files-bucket/"}}
    )
    agent.resource_properties_count_is(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
        2,
    )


def test_table_has_keys_ttl_pitr_and_encryption(agent: Template) -> None:
    agent.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


# --- Lambda -----------------------------------------------------------------------------


def test_the_functions_share_one_asset_with_tracing_and_new_python(
    agent_template: dict[str, Any],
) -> None:
    functions = resources(agent_template, "AWS::Lambda::Function")
    assert {f["Properties"]["Handler"] for f in functions.values()} == HANDLERS
    keys = {json.dumps(f["Properties"]["Code"], sort_keys=True) for f in functions.values()}
    assert len(keys) == 1, "the functions must share one code asset"
    for fn in functions.values():
        props = fn["Properties"]
        version = tuple(int(p) for p in props["Runtime"].removeprefix("python").split("."))
        assert version >= (3, 13), props["Runtime"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogGroup"]
    timeouts = {f["Properties"]["Handler"]: f["Properties"]["Timeout"] for f in functions.values()}
    assert timeouts["code_exec.api.handler.api_handler"] == 29
    assert timeouts["code_exec.functions.job_function.job_handler"] <= 900
    assert timeouts[STREAM_HANDLER] == 900  # API Gateway streams for up to 15 minutes
    assert timeouts["code_exec.functions.sweeper_function.sweeper_handler"] <= 300


def test_only_the_streaming_function_starts_through_the_exec_wrapper(
    agent_template: dict[str, Any],
) -> None:
    functions = resources(agent_template, "AWS::Lambda::Function").values()
    wrappers = {
        f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"].get(
            "AWS_LAMBDA_EXEC_WRAPPER"
        )
        for f in functions
    }
    assert wrappers.pop(STREAM_HANDLER) == "/var/task/code_exec/streaming/bootstrap"
    assert set(wrappers.values()) == {None}


def test_the_sweeper_runs_on_a_schedule(agent: Template) -> None:
    from aws_cdk.assertions import Match

    sweeper = _function_id(agent, "sweeper_handler")
    agent.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [sweeper, "Arn"]}})],
        },
    )


def test_badly_ended_job_executions_run_the_cleanup(agent_template: dict[str, Any]) -> None:
    """FAILED, TIMED_OUT and ABORTED executions of THIS machine go to the cleanup function."""
    from aws_cdk.assertions import Template

    [machine_id] = resources(agent_template, "AWS::StepFunctions::StateMachine")
    rules = [
        r["Properties"]
        for r in resources(agent_template, "AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    ]
    [rule] = rules
    assert rule["EventPattern"] == {
        "detail": {
            "stateMachineArn": [{"Ref": machine_id}],
            "status": ["FAILED", "TIMED_OUT", "ABORTED"],
        },
        "detail-type": ["Step Functions Execution Status Change"],
        "source": ["aws.states"],
    }
    cleanup = _function_id(Template.from_json(agent_template), "cleanup_handler")
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [cleanup, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    permissions = resources(agent_template, "AWS::Lambda::Permission").values()
    assert any(
        p["Properties"]["FunctionName"] == {"Fn::GetAtt": [cleanup, "Arn"]}
        and p["Properties"]["Principal"] == "events.amazonaws.com"
        for p in permissions
    )


def _function_id(template: Template, handler_suffix: str) -> str:
    functions = template.find_resources("AWS::Lambda::Function")
    return next(
        k for k, v in functions.items() if v["Properties"]["Handler"].endswith(handler_suffix)
    )


def test_log_groups_have_retention(agent: Template) -> None:
    agent.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


# --- Step Functions -----------------------------------------------------------------------


def _definition(agent_template: dict[str, Any]) -> dict[str, Any]:
    machine = next(iter(resources(agent_template, "AWS::StepFunctions::StateMachine").values()))
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def test_state_machine_is_standard_traced_and_logged(agent: Template) -> None:
    from aws_cdk.assertions import Match

    agent.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
        },
    )


def test_state_machine_role_is_assumable_for_this_machine_only(
    agent_template: dict[str, Any],
) -> None:
    [machine] = resources(agent_template, "AWS::StepFunctions::StateMachine").values()
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    name = machine["Properties"]["StateMachineName"]
    [statement] = agent_template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "states.amazonaws.com"}
    source_arn = json.dumps(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert source_arn.endswith(f':stateMachine:{name}"]]}}'), source_arn
    assert "*" not in source_arn
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_cleanup_always_runs_after_the_job(agent_template: dict[str, Any]) -> None:
    definition = _definition(agent_template)
    states = definition["States"]
    run = states[definition["StartAt"]]
    assert run["Next"] == "Cleanup"
    assert run["ResultPath"] is None  # the job result lives in the table, not in the state
    assert run["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Cleanup"}
    ]
    assert "TimeoutSeconds" in run  # a hung job surfaces as States.Timeout, caught above
    # A job is retried only when its invocation was refused: a retry after it may have run
    # would run its cells and model calls again.
    retried = {e for r in run.get("Retry", []) for e in r["ErrorEquals"]}
    assert retried <= {"Lambda.TooManyRequestsException"}, retried
    cleanup = states["Cleanup"]
    worst = run["TimeoutSeconds"] * 3 + cleanup["TimeoutSeconds"] * 4
    assert definition["TimeoutSeconds"] > worst, "machine timeout must not cut Cleanup off"


# --- API Gateway ----------------------------------------------------------------------------


def _path(template: dict[str, Any], resource_id: str) -> str:
    props = template["Resources"][resource_id]["Properties"]
    parent = props["ParentId"]
    prefix = _path(template, parent["Ref"]) if "Ref" in parent else ""
    return f"{prefix}/{props['PathPart']}"


def test_every_method_is_authorized_and_json_posts_validate_bodies(
    agent_template: dict[str, Any],
) -> None:
    """IAM on the API's own routes; the API-key authorizer (uncached) on /v1/*."""
    methods = resources(agent_template, "AWS::ApiGateway::Method")
    [authorizer] = resources(agent_template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "REQUEST"
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 0
    routes = set()
    for method in methods.values():
        props = method["Properties"]
        path = _path(agent_template, props["ResourceId"]["Ref"])
        routes.add((props["HttpMethod"], path))
        assert props["Integration"]["Type"] == "AWS_PROXY"
        if path.startswith("/v1/"):
            assert props["AuthorizationType"] == "CUSTOM", props
            assert props["AuthorizerId"] == {
                "Ref": next(
                    iter(
                        k
                        for k, v in agent_template["Resources"].items()
                        if v["Type"] == "AWS::ApiGateway::Authorizer"
                    )
                )
            }
            assert props.get("ApiKeyRequired") is False
        else:
            assert props["AuthorizationType"] == "AWS_IAM", props
        if props["HttpMethod"] == "POST" and path != "/v1/files":
            assert props["RequestValidatorId"] and props["RequestModels"]
    assert routes == {
        ("POST", "/invoke"),
        ("POST", "/invoke/stream"),
        ("POST", "/jobs"),
        ("GET", "/jobs/{id}"),
        ("POST", "/sessions/{id}/execute"),
        ("DELETE", "/sessions/{id}"),
        ("POST", "/v1/messages"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{id}"),
        ("POST", "/v1/files"),
        ("GET", "/v1/files"),
        ("GET", "/v1/files/{id}"),
        ("DELETE", "/v1/files/{id}"),
        ("GET", "/v1/files/{id}/content"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/skills"),
        ("GET", "/v1/skills"),
        ("GET", "/v1/skills/{id}"),
        ("DELETE", "/v1/skills/{id}"),
        ("POST", "/v1/skills/{id}/versions"),
        ("GET", "/v1/skills/{id}/versions"),
        ("GET", "/v1/skills/{id}/versions/{version}"),
        ("DELETE", "/v1/skills/{id}/versions/{version}"),
        ("GET", "/v1/skills/{id}/versions/{version}/content"),
    }


def _method_paths(template: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Logical id of each method -> (HTTP method, full path)."""
    return {
        k: (m["Properties"]["HttpMethod"], _path(template, m["Properties"]["ResourceId"]["Ref"]))
        for k, m in resources(template, "AWS::ApiGateway::Method").items()
    }


def test_streaming_integration_on_exactly_the_streamed_methods(
    agent_template: dict[str, Any],
) -> None:
    """STREAM transfer mode, the response-streaming invocation URI of the streaming function
    and a 15-minute timeout on the streamed methods; the buffered integration elsewhere."""
    from bedrock_code_execution.api import KEY_ROUTES, ROUTES, STREAM_ROUTES

    methods = resources(agent_template, "AWS::ApiGateway::Method")
    functions = {
        f["Properties"]["Handler"]: k
        for k, f in resources(agent_template, "AWS::Lambda::Function").items()
    }
    streamed, buffered = set(), set()
    for logical_id, route in _method_paths(agent_template).items():
        integration = methods[logical_id]["Properties"]["Integration"]
        uri = json.dumps(integration["Uri"])
        if integration.get("ResponseTransferMode") == "STREAM":
            streamed.add(route)
            assert integration["TimeoutInMillis"] == 900_000
            assert ":lambda:path/2021-11-15/functions/" in uri
            assert uri.endswith('/response-streaming-invocations"]]}')
            assert functions[STREAM_HANDLER] in uri
            # streamed or not, Anthropic's methods stay behind the API-key authorizer
            auth = methods[logical_id]["Properties"]["AuthorizationType"]
            assert auth == ("CUSTOM" if route[1].startswith("/v1/") else "AWS_IAM"), route
        else:
            buffered.add(route)
            assert "ResponseTransferMode" not in integration
            assert "TimeoutInMillis" not in integration  # API Gateway's 29 s default
            assert ":lambda:path/2015-03-31/functions/" in uri and uri.endswith('/invocations"]]}')
            assert functions["code_exec.api.handler.api_handler"] in uri
    assert streamed == set(STREAM_ROUTES) == {("POST", "/invoke/stream"), ("POST", "/v1/messages")}
    assert buffered == set(ROUTES) | set(KEY_ROUTES)


def test_streamed_routes_agree_with_the_runtime() -> None:
    """The stack and the streaming handler name the same streamed routes."""
    from code_exec.api.streamed import ROUTES as RUNTIME_ROUTES

    from bedrock_code_execution.api import STREAM_ROUTES

    assert set(RUNTIME_ROUTES) == set(STREAM_ROUTES)


def test_refused_keys_answer_in_anthropics_envelope(agent_template: dict[str, Any]) -> None:
    """API Gateway's own 401/403 bodies are Anthropic's envelope (and our error shape), and
    the local HTTP adapter answers with the same ones."""
    from bedrock_code_execution.api import GATEWAY_ERRORS
    from devtools.http_adapter import GATEWAY_ERRORS as LOCAL

    assert LOCAL == GATEWAY_ERRORS
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(agent_template, "AWS::ApiGateway::GatewayResponse").values()
    }
    for kind, (status, error_type, message, code) in GATEWAY_ERRORS.items():
        props = responses[kind]
        assert props["StatusCode"] == str(status)
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert body == {
            "type": "error",
            "error": {"type": error_type, "message": message, "code": code},
            "request_id": "$context.requestId",
        }


def test_binary_bodies_pass_through(agent_template: dict[str, Any]) -> None:
    [api] = resources(agent_template, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == ["multipart/form-data", "application/binary"]


def test_stage_is_throttled_traced_and_access_logged_as_json(agent: Template) -> None:
    from aws_cdk.assertions import Match

    agent.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp(r"^\{.*\"requestId\".*\}$"),
            },
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ThrottlingRateLimit": 10,
                            "ThrottlingBurstLimit": 20,
                            "LoggingLevel": "ERROR",
                        }
                    )
                ]
            ),
        },
    )
