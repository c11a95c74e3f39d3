"""Non-default settings synthesize cleanly (API key, arm64, Python 3.13, other retention,
an alarm email, and an account that manages its own API Gateway CloudWatch role).

The settings are ``VARIANTS["variant"]`` in tests/stacks/variant_apps.py, synthesized once per
run with the default app (a tiny stand-in code asset, so no dependency bundling runs; the
default app's real asset is covered by test_stacks_wiring).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.cfn import resources
from tests.stacks.conftest import variant_synth

pytestmark = pytest.mark.cdk


@pytest.fixture(scope="module")
def variant(synthesized: Path) -> dict[str, Any]:
    """``VARIANTS["variant"]``, synthesized with the default app (one synthesis per run)."""
    return variant_synth(synthesized, "variant")


def test_variant_passes_cdk_nag(variant: dict[str, Any]) -> None:
    violations = [
        (v["ruleName"], c["constructPath"])
        for p in variant["report"].get("pluginReports", [])
        for v in p["violations"]
        for c in v["violatingConstructs"]
    ]
    assert not violations
    assert variant["error"] is None


def test_api_key_mode_adds_key_and_usage_plan_on_top_of_iam(variant: dict[str, Any]) -> None:
    from aws_cdk.assertions import Template

    agent = Template.from_json(variant["agent"])
    agent.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    agent.resource_count_is("AWS::ApiGateway::UsagePlan", 1)
    agent.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    methods = resources(variant["agent"], "AWS::ApiGateway::Method").values()
    auth = {
        (m["Properties"]["AuthorizationType"], m["Properties"]["ApiKeyRequired"]) for m in methods
    }
    # the API's own routes: IAM + an API Gateway key; /v1/*: the Anthropic API key only
    assert auth == {("AWS_IAM", True), ("CUSTOM", False)}
    assert "ApiKeyId" in variant["agent"]["Outputs"]


def test_arm64_python313_retention_and_concurrency(variant: dict[str, Any]) -> None:
    from aws_cdk.assertions import Template

    agent = Template.from_json(variant["agent"])
    agent.all_resources_properties(
        "AWS::Lambda::Function",
        {
            "Architectures": ["arm64"],
            "Runtime": "python3.13",
            "ReservedConcurrentExecutions": 3,
        },
    )
    agent.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})


def test_direct_and_global_models_get_the_right_arns(variant: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match, Template

    agent_text = json.dumps(resources(variant["agent"], "AWS::IAM::Policy"))
    assert "foundation-model/anthropic.claude-3-haiku-20240307-v1:0" in agent_text
    assert "inference-profile/" not in agent_text
    Template.from_json(variant["interpreter"]).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "InvokeModelsBehindProfile0",
                                "Resource": Match.array_with(
                                    [
                                        {
                                            "Fn::Join": [
                                                "",
                                                [
                                                    "arn:",
                                                    {"Ref": "AWS::Partition"},
                                                    ":bedrock:::foundation-model/"
                                                    "anthropic.claude-sonnet-4-5-20250929-v1:0",
                                                ],
                                            ]
                                        }
                                    ]
                                ),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_alarm_email_subscribes_to_the_alarm_topic(variant: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match, Template

    agent = Template.from_json(variant["agent"])
    agent.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": Match.any_value()},
    )


def test_an_account_that_manages_its_cloudwatch_role_keeps_it(variant: dict[str, Any]) -> None:
    """No AWS::ApiGateway::Account (it is account-wide) and no role for it; logging stays on."""
    from aws_cdk.assertions import Match, Template

    agent = Template.from_json(variant["agent"])
    agent.resource_count_is("AWS::ApiGateway::Account", 0)
    roles = resources(variant["agent"], "AWS::IAM::Role").values()
    assert not [r for r in roles if "apigateway.amazonaws.com" in json.dumps(r)]
    agent.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()})},
    )
