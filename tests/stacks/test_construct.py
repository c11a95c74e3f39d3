"""The CodeExecution construct as a library user meets it: props validated at construction
(naming the prop), the attributes and grant methods, tool modules, and nothing created outside
its scope. Inline Lambda code stands in for the bundled asset (test_example_app bundles)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.stacks.cfn import policy_statements, resources

if TYPE_CHECKING:
    import aws_cdk as cdk

    from bedrock_code_execution import CodeExecution, ToolModule

pytestmark = pytest.mark.cdk

REPO = Path(__file__).resolve().parents[2]
ORDERS = REPO / "examples" / "tools" / "orders.py"
_CODE = "def handler(event, context):\n    return None\n"


@dataclass(frozen=True)
class _Tool:
    """A :class:`ToolModule` the test builds: parameters are made at collection, which must
    not import the construct library (and with it the CDK)."""

    path: Path | str
    placement: str | None = None
    environment: dict[str, str] | None = None

    def build(self) -> ToolModule:
        from bedrock_code_execution import ToolModule

        given = {"placement": self.placement, "environment": self.environment}
        return ToolModule(self.path, **{k: v for k, v in given.items() if v is not None})


def _app() -> cdk.App:
    """An app whose synth skips CDK's built-in CloudFormation validation: its findings are
    warnings no test here reads (the examples app and the stack tests check the report), and
    it costs each synth seconds of CPU."""
    import aws_cdk as cdk

    return cdk.App(builtin_cloud_formation_validation=False)


def _stack(**props: Any) -> tuple[cdk.Stack, CodeExecution]:
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from bedrock_code_execution import CodeExecution, CodeExecutionProps

    stack = cdk.Stack(_app(), "Mine")
    ce = CodeExecution(
        stack,
        "CodeExecution",
        props=CodeExecutionProps(**props),
        code=lambda_.Code.from_inline(_CODE),
    )
    return stack, ce


def _template(stack: cdk.Stack) -> dict[str, Any]:
    import aws_cdk as cdk

    return cdk.assertions.Template.from_stack(stack).to_json()


@pytest.mark.parametrize(
    ("props", "prop", "allowed"),
    [
        ({"session_timeout_seconds": 30}, "session_timeout_seconds", "60..28800"),
        ({"session_timeout_seconds": "900"}, "session_timeout_seconds", "must be an integer"),
        ({"network_mode": "PRIVATE"}, "network_mode", "PUBLIC, SANDBOX, VPC"),
        ({"lambda_architecture": "x86"}, "lambda_architecture", "x86_64, arm64"),
        ({"log_retention_days": 10}, "log_retention_days", "1, 3, 5, 7, 14, 30"),
        ({"require_api_key": "yes"}, "require_api_key", "true, false"),
        ({"reserved_concurrency": 0}, "reserved_concurrency", "1..1000"),
        ({"model_id": "claude sonnet"}, "model_id", "is not a Bedrock model id"),
        ({"allowed_model_ids": "global.anthropic.claude-sonnet-5"}, "allowed_model_ids", "list"),
        ({"network_mode": "VPC"}, "vpc_id", "required when network_mode is VPC"),
        ({"subnet_ids": ["subnet-0123456789abcdef0"]}, "subnet_ids", "only allowed with"),
        ({"api_throttle_burst_limit": 5}, "api_throttle_burst_limit", ">= 'api_throttle_rate"),
        ({"model_aliases": {"claude-x": "us.amazon.nova-pro-v1:0"}}, "model_aliases", "allowed"),
        ({"alarm_email": "ops"}, "alarm_email", "ops@example.com"),
        ({"alarm_topic_kms_key_arn": "alias/x"}, "alarm_topic_kms_key_arn", "arn:aws:kms:"),
        ({"sweep_interval_minutes": 90}, "sweep_interval_minutes", "1..60"),
        ({"sweep_grace_seconds": 10}, "sweep_grace_seconds", "60..28800"),
        ({"interpreter_name": "my-interpreter"}, "interpreter_name", "{0,47}"),
        ({"tools": ["orders.py"]}, "tools", "list of ToolModule"),
        ({"tools": [_Tool("no/such/module.py")]}, "tools[0].path", "neither a .py file"),
        ({"tools": [_Tool(ORDERS, placement="inside")]}, "tools[0].placement", "bridged"),
        (
            {"tools": [_Tool(ORDERS), _Tool(ORDERS)]},
            "tools[1]",
            "already CodeExecutionProps.tools[0]",
        ),
        (
            {"tools": [_Tool(ORDERS, environment={"ORDERS TABLE": "t"})]},
            "tools[0].environment",
            "not an environment variable",
        ),
        (
            {"tools": [_Tool(REPO / "sandbox_assets" / "text_editor.py")]},
            "tools[0].path",
            "cannot be a tool module's name",
        ),
        (
            {"tools": [_Tool(REPO / "examples" / "app.py")]},
            "tools[0].path",
            "declares no module-level TOOLS",
        ),
    ],
)
def test_invalid_props_fail_at_construction_naming_the_prop(
    props: dict[str, Any], prop: str, allowed: str
) -> None:
    from bedrock_code_execution import CodeExecutionProps, PropsError

    if isinstance(props.get("tools"), list):
        tools = [t.build() if isinstance(t, _Tool) else t for t in props["tools"]]
        props = {**props, "tools": tools}
    with pytest.raises(PropsError) as info:
        CodeExecutionProps(**props)
    message = str(info.value)
    assert f"CodeExecutionProps.{prop}" in message, message
    assert allowed in message, message


def test_props_of_another_type_fail_at_construction() -> None:
    import aws_cdk as cdk

    from bedrock_code_execution import CodeExecution, PropsError

    stack = cdk.Stack(cdk.App(), "Mine")
    with pytest.raises(PropsError, match="must be a CodeExecutionProps, got dict"):
        CodeExecution(stack, "CodeExecution", props={"model_id": "x"})  # type: ignore[arg-type]


def test_a_preloaded_tool_module_is_one_file(tmp_path: Path) -> None:
    from bedrock_code_execution import CodeExecutionProps, PropsError, ToolModule

    package = tmp_path / "orders"
    package.mkdir()
    (package / "__init__.py").write_text(ORDERS.read_text())
    assert CodeExecutionProps(tools=[ToolModule(package)]).tools[0].module_name == "orders"
    with pytest.raises(PropsError, match=r"tools\[0\]\.path: a preloaded tool module is one"):
        CodeExecutionProps(tools=[ToolModule(package, placement="preloaded")])


def test_model_defaults_follow_the_model_id() -> None:
    from bedrock_code_execution import CodeExecutionProps

    p = CodeExecutionProps(model_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert p.allowed_model_ids[0] == p.model_id
    assert p.sandbox_model_ids == (p.model_id,)
    assert CodeExecutionProps(subnet_ids=[]).subnet_ids == ()  # lists are kept as tuples


def test_attributes_users_wire_to() -> None:
    stack, ce = _stack()

    def ref(construct: Any) -> dict[str, str]:
        return {"Ref": stack.get_logical_id(construct.node.default_child)}

    assert stack.resolve(ce.api.rest_api_id) == ref(ce.api)
    assert stack.resolve(ce.table.table_name) == ref(ce.table)
    assert stack.resolve(ce.files_bucket.bucket_name) == ref(ce.files_bucket)
    assert stack.resolve(ce.alarm_topic.topic_arn) == ref(ce.alarm_topic)
    assert ce.sandbox is not None and ce.interpreter is ce.sandbox.interpreter
    url = json.dumps(stack.resolve(ce.api_url))
    assert ref(ce.api)["Ref"] in url and ".execute-api." in url
    assert ref(ce.api.deployment_stage)["Ref"] in url


def test_grant_invoke_allows_execute_api_on_the_iam_routes_only() -> None:
    from aws_cdk import aws_iam as iam

    stack, ce = _stack()
    caller = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    ce.grant_invoke(caller)
    template = _template(stack)
    [(_, statement)] = [
        (pid, s) for pid, s in policy_statements(template) if pid.startswith("CallerDefaultPolicy")
    ]
    assert statement["Action"] == "execute-api:Invoke"
    # each ARN is Fn::Join [..., "<api id>", "/prod/<METHOD><path>"]
    routes = [a["Fn::Join"][1][-1].split("/prod/", 1)[1] for a in statement["Resource"]]
    assert sorted(routes) == sorted(
        [
            "POST/invoke",
            "POST/jobs",
            "GET/jobs/*",
            "POST/sessions/*/execute",
            "DELETE/sessions/*",
            "POST/invoke/stream",
        ]
    )


def test_tools_grantable_grants_go_to_the_three_tool_running_roles() -> None:
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_iam as iam

    stack, ce = _stack()
    assert ce.tools_grantable.policy is None  # nothing granted: no extra resource
    before = [c for c in stack.node.find_all() if isinstance(c, iam.CfnPolicy)]
    table = dynamodb.TableV2(
        stack,
        "Orders",
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
    )
    table.grant_read_data(ce.tools_grantable)
    ce.add_to_tools_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["arn:aws:sqs:us-east-1:1:q"])
    )
    template = _template(stack)
    after = [c for c in stack.node.find_all() if isinstance(c, iam.CfnPolicy)]
    assert len(after) == len(before) + 1
    policy = template["Resources"][
        stack.get_logical_id(ce.tools_grantable.policy.node.default_child)
    ]
    roles = {r["Ref"] for r in policy["Properties"]["Roles"]}
    assert roles == {
        stack.get_logical_id(fn.role.node.default_child)
        for fn in (ce.api_function, ce.stream_function, ce.job_function)
    }
    actions = [s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert "sqs:SendMessage" in actions and any("dynamodb:GetItem" in a for a in actions)
    # no resource policy on the table: a same-account grant stays on the principal side
    assert "ResourcePolicy" not in json.dumps(resources(template, "AWS::DynamoDB::GlobalTable"))


def test_everything_it_creates_is_inside_its_scope() -> None:
    import aws_cdk as cdk

    stack, ce = _stack()
    prefix = ce.node.path + "/"
    outside = [
        c.node.path
        for c in stack.node.find_all()
        if isinstance(c, cdk.CfnElement) and not c.node.path.startswith(prefix)
    ]
    assert outside == []
    assert _template(stack).get("Outputs", {}) == {}  # outputs are the app's to add


def test_two_in_one_stack_with_their_own_name_prefixes() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from bedrock_code_execution import CodeExecution, CodeExecutionProps

    stack = cdk.Stack(_app(), "Both")
    for name in ("Blue", "Green"):
        CodeExecution(
            stack,
            name,
            props=CodeExecutionProps(
                resource_name_prefix=f"both-{name.lower()}", interpreter_name=name.lower()
            ),
            code=lambda_.Code.from_inline(_CODE),
        )
    template = _template(stack)
    machines = [
        r["Properties"]["StateMachineName"]
        for r in resources(template, "AWS::StepFunctions::StateMachine").values()
    ]
    assert sorted(machines) == ["both-blue-jobs", "both-green-jobs"]
