"""What keeps a deployment running unattended: state that outlives its records, dead letters,
the sweeper's settings, vended log groups, the alarm topic's key, the sandbox role's trust.

The default settings are the default app's own synthesis; the other settings are
``VARIANTS["custom"]`` (tests/stacks/variant_apps.py), synthesized with it once per run
(tests/stacks/conftest.py). Tests assert with ``Template.has_resource_properties`` / ``Match``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.stacks.cfn import Synth
from tests.stacks.conftest import cdk_json_context, variant_synth
from tests.stacks.variant_apps import KEY_ARN, VARIANTS

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

    from stacks.settings import Settings

pytestmark = pytest.mark.cdk


@pytest.fixture(scope="module")
def default(synth: Synth) -> dict[str, Any]:
    """The default settings: the default app's own synthesis, shared by the stack tests (the
    same stacks as the variants, with the real code asset and the app's names)."""
    from aws_cdk.assertions import Template

    from stacks.settings import Settings

    return {
        "settings": Settings.from_context(cdk_json_context().get),
        "error": synth.validation_error,
        "report": synth.validation_report(),
        "agent": Template.from_json(synth.templates[synth.agent_stack]),
        "interpreter": Template.from_json(synth.templates[synth.interpreter_stack]),
        "stack": synth.agent_stack,
    }


@pytest.fixture(scope="module")
def custom(synthesized: Path) -> dict[str, Any]:
    """Long-lived sessions, a faster sweep with a longer grace, and a CMK for the topic
    (``VARIANTS["custom"]``), synthesized with the default app."""
    from aws_cdk.assertions import Template

    from stacks.settings import Settings

    _, overrides = VARIANTS["custom"]
    found = variant_synth(synthesized, "custom")
    return {
        **found,
        "settings": Settings.from_context({**cdk_json_context(), **overrides}.get),
        "agent": Template.from_json(found["agent"]),
        "interpreter": Template.from_json(found["interpreter"]),
    }


def _violations(synth: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (v["ruleName"], c["constructPath"])
        for p in synth["report"].get("pluginReports", [])
        for v in p["violations"]
        for c in v["violatingConstructs"]
    ]


def test_both_variants_pass_cdk_nag(default: dict[str, Any], custom: dict[str, Any]) -> None:
    assert _violations(default) == []
    assert _violations(custom) == []
    assert default["error"] is None and custom["error"] is None


# --- the files bucket: each prefix expires on its own ---------------------------------------


def _files_bucket_rules(synth: dict[str, Any]) -> list[dict[str, Any]]:
    from aws_cdk.assertions import Match

    buckets = synth["agent"].find_resources(
        "AWS::S3::Bucket", {"Properties": {"LoggingConfiguration": Match.any_value()}}
    )
    [bucket] = buckets.values()
    rules: list[dict[str, Any]] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    return rules


@pytest.mark.parametrize("variant", ["default", "custom"])
def test_state_lives_as_long_as_the_longest_record_can_point_to_it(
    variant: str, request: pytest.FixtureRequest
) -> None:
    from aws_cdk.assertions import Match

    synth = request.getfixturevalue(variant)
    settings: Settings = synth["settings"]
    # a record lives sessionTtlSeconds after its last save, plus its longest lease
    longest_record_days = (
        settings.session_ttl_seconds + max(settings.session_timeout_seconds, 900)
    ) / 86400
    assert settings.state_expiration_days > longest_record_days
    synth["agent"].has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(  # in this order
                    [
                        {
                            "Id": "ExpireFiles",
                            "Prefix": "files/",
                            "ExpirationInDays": settings.files_expiration_days,
                            "Status": "Enabled",
                        },
                        {
                            "Id": "ExpireState",
                            "Prefix": "state/",
                            "ExpirationInDays": settings.state_expiration_days,
                            "Status": "Enabled",
                        },
                    ]
                )
            }
        },
    )


def test_thirty_day_sessions_keep_their_state_past_the_files_expiry(
    custom: dict[str, Any],
) -> None:
    assert custom["settings"].state_expiration_days >= 31
    rules = _files_bucket_rules(custom)
    by_id = {r["Id"]: r for r in rules}
    assert by_id["ExpireFiles"]["ExpirationInDays"] == 7
    assert by_id["ExpireState"]["ExpirationInDays"] >= 31


def test_no_rule_expires_the_whole_files_bucket(default: dict[str, Any]) -> None:
    """S3 applies the shortest expiration of overlapping rules: a bucket-wide expiry would cut
    state/ short again. Only the multipart cleanup covers the whole bucket."""
    for rule in _files_bucket_rules(default):
        if "Prefix" not in rule and "Filter" not in rule:
            assert "ExpirationInDays" not in rule, rule
            assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_every_function_prefix_has_an_expiry(default: dict[str, Any]) -> None:
    from bedrock_code_execution.storage import LAMBDA_PREFIXES

    prefixes = {r.get("Prefix") for r in _files_bucket_rules(default) if "ExpirationInDays" in r}
    assert set(LAMBDA_PREFIXES) <= prefixes


# --- EventBridge targets: a dead-letter queue, encrypted, alarmed ---------------------------


def test_eventbridge_targets_send_undelivered_events_to_an_encrypted_queue(
    default: dict[str, Any],
) -> None:
    from aws_cdk.assertions import Match

    agent: Template = default["agent"]
    queues = agent.find_resources("AWS::SQS::Queue")
    [queue_id] = queues
    agent.has_resource_properties(
        "AWS::SQS::Queue",
        {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 86400},
    )
    dlq = {"DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}}
    # both rules: the sweeper's schedule and the failed-executions rule
    agent.resource_properties_count_is(
        "AWS::Events::Rule", {"Targets": [Match.object_like(dlq)]}, 2
    )
    # EventBridge may send to it (for these rules only), over TLS only
    for statement in (
        {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Condition": {"ArnEquals": {"aws:SourceArn": Match.any_value()}},
        },
        {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ):
        agent.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "PolicyDocument": {"Statement": Match.array_with([Match.object_like(statement)])},
                "Queues": [{"Ref": queue_id}],
            },
        )


def test_a_dead_letter_raises_an_alarm_on_the_alarm_topic(default: dict[str, Any]) -> None:
    agent: Template = default["agent"]
    [queue_id] = agent.find_resources("AWS::SQS::Queue")
    [topic_id] = agent.find_resources("AWS::SNS::Topic")
    agent.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Statistic": "Maximum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [{"Ref": topic_id}],
        },
    )


# --- the sweeper's schedule and grace are settings ------------------------------------------


def _sweeper_id(agent: Template) -> str:
    functions = agent.find_resources("AWS::Lambda::Function")
    return next(
        k for k, v in functions.items() if v["Properties"]["Handler"].endswith("sweeper_handler")
    )


@pytest.mark.parametrize(
    ("variant", "rate", "grace"),
    [("default", "rate(5 minutes)", "300"), ("custom", "rate(2 minutes)", "600")],
)
def test_sweep_interval_and_grace_come_from_the_settings(
    variant: str, rate: str, grace: str, request: pytest.FixtureRequest
) -> None:
    from aws_cdk.assertions import Match

    agent: Template = request.getfixturevalue(variant)["agent"]
    sweeper = _sweeper_id(agent)
    agent.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": rate,
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [sweeper, "Arn"]}})],
        },
    )
    agent.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": Match.string_like_regexp(r"sweeper_handler$"),
            "Environment": {"Variables": Match.object_like({"SWEEP_GRACE_SECONDS": grace})},
        },
    )


# --- Step Functions logs under /aws/vendedlogs/states/ --------------------------------------


def test_state_machine_logs_to_a_vended_log_group(default: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    agent: Template = default["agent"]
    name = f"{default['stack']}-jobs"
    agent.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": f"/aws/vendedlogs/states/{name}", "RetentionInDays": 30},
    )
    [log_group_id] = agent.find_resources(
        "AWS::Logs::LogGroup",
        {"Properties": {"LogGroupName": f"/aws/vendedlogs/states/{name}"}},
    )
    agent.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": name,
            "LoggingConfiguration": Match.object_like(
                {
                    "Destinations": [
                        {
                            "CloudWatchLogsLogGroup": {
                                "LogGroupArn": {"Fn::GetAtt": [log_group_id, "Arn"]}
                            }
                        }
                    ]
                }
            ),
        },
    )


# --- the alarm topic's customer-managed key -------------------------------------------------


def test_the_alarm_topic_uses_the_configured_kms_key(custom: dict[str, Any]) -> None:
    custom["agent"].has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": KEY_ARN})


def test_without_a_key_the_topic_has_none(default: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    default["agent"].has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.absent()})


# --- the sandbox role's trust: AgentCore's documented form ----------------------------------


def test_the_sandbox_role_trusts_agentcore_as_documented(default: dict[str, Any]) -> None:
    """``ArnLike aws:SourceArn`` = ``arn:<partition>:bedrock-agentcore:<region>:<account>:*``
    and ``StringEquals aws:SourceAccount`` = the account, nothing narrower."""
    interpreter: Template = default["interpreter"]
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
                            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                            "ArnLike": {
                                "aws:SourceArn": {
                                    "Fn::Join": [
                                        "",
                                        [
                                            "arn:",
                                            {"Ref": "AWS::Partition"},
                                            ":bedrock-agentcore:",
                                            {"Ref": "AWS::Region"},
                                            ":",
                                            {"Ref": "AWS::AccountId"},
                                            ":*",
                                        ],
                                    ]
                                }
                            },
                        },
                    }
                ],
                "Version": "2012-10-17",
            }
        },
    )
    [role_id] = interpreter.find_resources("AWS::IAM::Role")
    interpreter.has_resource_properties(
        "AWS::BedrockAgentCore::CodeInterpreterCustom",
        {"ExecutionRoleArn": {"Fn::GetAtt": [role_id, "Arn"]}},
    )
