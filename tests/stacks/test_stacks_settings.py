"""Deployment settings: defaults, parsing of -c strings, and clear errors naming the key."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.stacks.conftest import REPO, cdk_json_context

if TYPE_CHECKING:
    from stacks.settings import Settings

pytestmark = pytest.mark.cdk


def _settings(**overrides: Any) -> Settings:
    from stacks.settings import Settings

    context = {**cdk_json_context(), **overrides}
    return Settings.from_context(context.get)


def test_cdk_json_defaults_match_the_dataclass_defaults() -> None:
    from stacks.settings import Settings

    assert _settings() == Settings()
    s = Settings()
    assert s.model_id == "global.anthropic.claude-sonnet-5"
    assert s.allowed_model_ids == (
        "global.anthropic.claude-sonnet-5",
        "global.anthropic.claude-sonnet-5-5",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",  # still selectable
    )
    assert s.sandbox_model_ids == ("global.anthropic.claude-sonnet-5",)
    assert s.sandbox_model_id == s.sandbox_small_model_id == "global.anthropic.claude-sonnet-5"
    assert s.network_mode == "PUBLIC"
    assert s.lambda_architecture == "x86_64"
    assert s.require_api_key is False


def test_command_line_strings_are_parsed() -> None:
    s = _settings(
        requireApiKey="true",
        sessionTimeoutSeconds="1200",
        allowedModelIds="eu.anthropic.claude-sonnet-4-5-20250929-v1:0,amazon.nova-pro-v1:0",
        modelId="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        networkMode="sandbox",
        lambdaArchitecture="arm64",
        reservedConcurrency="5",
    )
    assert s.require_api_key is True
    assert s.session_timeout_seconds == 1200
    assert s.allowed_model_ids == (
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "amazon.nova-pro-v1:0",
    )
    assert s.network_mode == "SANDBOX"
    assert s.lambda_architecture == "arm64"
    assert s.reserved_concurrency == 5


@pytest.mark.parametrize(
    "model_id",
    [
        "global.anthropic.claude-sonnet-5",
        "global.anthropic.claude-sonnet-5-5",
        "us.anthropic.claude-sonnet-5-5",
        "anthropic.claude-sonnet-4-6",
        "eu.anthropic.claude-opus-4-6-v1",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ],
)
def test_current_model_ids_pass_validation(model_id: str) -> None:
    """Ids without a date or version suffix, and the global. prefix, are valid settings."""
    s = _settings(modelId=model_id, sandboxModelIds=[model_id, "global.anthropic.claude-sonnet-5"])
    assert s.model_id == model_id and model_id in s.allowed_model_ids
    assert s.sandbox_model_id == model_id
    assert s.sandbox_small_model_id == "global.anthropic.claude-sonnet-5"
    target = s.model_target(model_id)
    assert target.foundation_model == model_id.split(".", 1)[1] if target.is_profile else model_id


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("modelId", "global.anthropic.claude sonnet 5"),
        ("modelId", "global..anthropic.claude-sonnet-5"),
        ("modelId", "claude-sonnet-5"),
        ("allowedModelIds", ["global.anthropic.claude-sonnet-5", "anthropic/claude-sonnet-5"]),
        ("sandboxModelIds", "global.anthropic.claude-sonnet-5.,x"),
    ],
)
def test_a_malformed_model_id_fails_synth_naming_the_key(key: str, value: Any) -> None:
    from stacks.settings import SettingsError

    with pytest.raises(SettingsError) as info:
        _settings(**{key: value})
    message = str(info.value)
    assert f"context key {key!r}" in message and "is not a Bedrock model id" in message


def test_model_targets() -> None:
    from stacks.settings import Settings

    s = Settings()
    profile = s.model_target("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert profile.is_profile
    assert profile.foundation_model == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert "us-west-2" in profile.profile_regions
    direct = s.model_target("anthropic.claude-3-haiku-20240307-v1:0")
    assert not direct.is_profile
    assert s.model_target("global.anthropic.claude-sonnet-4-5-20250929-v1:0").profile_regions == (
        "*",
    )
    current = s.model_target("global.anthropic.claude-sonnet-5")
    assert current.is_profile and current.profile_regions == ("*",)
    assert current.foundation_model == "anthropic.claude-sonnet-5"


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        ({"networkMode": "PRIVATE"}, "networkMode", "PUBLIC, SANDBOX, VPC"),
        ({"lambdaArchitecture": "x86"}, "lambdaArchitecture", "x86_64, arm64"),
        ({"lambdaPythonVersion": "3.9"}, "lambdaPythonVersion", "3.14, 3.13"),
        ({"logRetentionDays": 10}, "logRetentionDays", "1, 3, 5, 7, 14, 30"),
        ({"requireApiKey": "yes"}, "requireApiKey", "true, false"),
        ({"sessionTimeoutSeconds": 30}, "sessionTimeoutSeconds", "60..28800"),
        ({"sessionTimeoutSeconds": "soon"}, "sessionTimeoutSeconds", "integer"),
        ({"jobTimeoutSeconds": 901}, "jobTimeoutSeconds", "60..900"),
        ({"interpreterName": "my-interpreter"}, "interpreterName", "^[a-zA-Z][a-zA-Z0-9_]{0,47}$"),
        ({"interpreterName": "a" * 49}, "interpreterName", "{0,47}"),
        ({"modelId": "claude sonnet"}, "modelId", "foundation model id"),
        ({"networkMode": "VPC"}, "vpcId", "required when networkMode is VPC"),
        (
            {"networkMode": "VPC", "vpcId": "vpc-0123456789abcdef0"},
            "subnetIds",
            "required when networkMode is VPC",
        ),
        (
            {
                "networkMode": "VPC",
                "vpcId": "vpc-0123456789abcdef0",
                "subnetIds": ["subnet-0123456789abcdef0"],
                "securityGroupIds": ["default"],
            },
            "securityGroupIds",
            "sg-0123456789abcdef0",
        ),
        ({"subnetIds": ["subnet-0123456789abcdef0"]}, "subnetIds", "only allowed with"),
        ({"apiThrottleBurstLimit": 5}, "apiThrottleBurstLimit", ">="),
        ({"modelAliases": {"Claude Big": "x.y"}}, "modelAliases", "lowercase"),
        (
            {"modelAliases": {"claude-x": "us.amazon.nova-pro-v1:0"}},
            "modelAliases",
            "allowedModelIds",
        ),
        ({"modelAliases": "[1, 2]"}, "modelAliases", "must map Anthropic model names"),
        ({"containerIdleSeconds": 10}, "containerIdleSeconds", "60..28800"),
        ({"alarmEmail": "ops"}, "alarmEmail", "ops@example.com"),
        ({"alarmEmail": "ops@example"}, "alarmEmail", "not an email address"),
        ({"alarmEmail": "a@b.com, c@d.com"}, "alarmEmail", "one address"),
        ({"alarmEmail": 42}, "alarmEmail", "must be a string"),
        ({"apiGatewayCloudWatchRole": "no"}, "apiGatewayCloudWatchRole", "true, false"),
        ({"sweepIntervalMinutes": 0}, "sweepIntervalMinutes", "1..60"),
        ({"sweepIntervalMinutes": "90"}, "sweepIntervalMinutes", "1..60"),
        ({"sweepIntervalMinutes": "often"}, "sweepIntervalMinutes", "must be an integer"),
        ({"sweepGraceSeconds": "30"}, "sweepGraceSeconds", "60..28800"),
        ({"webSearchId": "Web-Search.v1"}, "webSearchId", "web-search.v1"),
        ({"webSearchId": "web search"}, "webSearchId", "not allowed"),
        ({"webSearchId": "a" * 101}, "webSearchId", "not allowed"),
        ({"alarmTopicKmsKeyArn": "alias/alarms"}, "alarmTopicKmsKeyArn", "arn:aws:kms:"),
        (
            {"alarmTopicKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/alarms"},
            "alarmTopicKmsKeyArn",
            "not a KMS key ARN",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(
    overrides: dict[str, Any], key: str, allowed: str
) -> None:
    from stacks.settings import SettingsError

    with pytest.raises(SettingsError) as info:
        _settings(**overrides)
    message = str(info.value)
    assert repr(key) in message or f"'{key}'" in message, message
    assert allowed in message, message


def test_sweeper_and_topic_key_settings_are_parsed() -> None:
    from stacks.settings import Settings

    key = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234567890abcdef1234567890abcdef"
    s = _settings(sweepIntervalMinutes="10", sweepGraceSeconds="900", alarmTopicKmsKeyArn=key)
    assert (s.sweep_interval_minutes, s.sweep_grace_seconds) == (10, 900)
    assert s.alarm_topic_kms_key_arn == key
    d = Settings()
    assert (d.sweep_interval_minutes, d.sweep_grace_seconds, d.alarm_topic_kms_key_arn) == (
        5,
        300,
        "",
    )


def test_the_web_search_id_is_parsed() -> None:
    from stacks.settings import Settings

    assert Settings().web_search_id == "web-search.v1"
    assert _settings(webSearchId="web-search.v2").web_search_id == "web-search.v2"


def test_operations_settings_are_parsed() -> None:
    from stacks.settings import Settings

    s = _settings(alarmEmail=" ops@example.com ", apiGatewayCloudWatchRole="false")
    assert (s.alarm_email, s.api_gateway_cloud_watch_role) == ("ops@example.com", False)
    assert (Settings().alarm_email, Settings().api_gateway_cloud_watch_role) == ("", True)


def test_vpc_mode_accepts_complete_network_context() -> None:
    s = _settings(
        networkMode="VPC",
        vpcId="vpc-0123456789abcdef0",
        subnetIds="subnet-0123456789abcdef0,subnet-0123456789abcdef1",
        securityGroupIds=["sg-0123456789abcdef0"],
    )
    assert s.subnet_ids == ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1")


def test_vpc_mode_synthesizes_the_vpc_network_shape() -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Match, Template

    from stacks.app_stacks import CodeInterpreterStack

    s = _settings(
        networkMode="VPC",
        vpcId="vpc-0123456789abcdef0",
        subnetIds=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        securityGroupIds=["sg-0123456789abcdef0"],
    )
    # CDK's built-in CloudFormation validation only warns, and this test reads no report
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    stack = CodeInterpreterStack(app, "Vpc", settings=s)
    Template.from_stack(stack).has_resource_properties(
        "AWS::BedrockAgentCore::CodeInterpreterCustom",
        {
            "NetworkConfiguration": {
                "NetworkMode": "VPC",
                "VpcConfig": {
                    "Subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                    "SecurityGroups": ["sg-0123456789abcdef0"],
                },
            },
            "Name": Match.any_value(),
        },
    )


_BAD_VALUES = [
    ("networkMode", "OPEN", "PUBLIC, SANDBOX, VPC"),
    ("modelId", "global.anthropic.claude sonnet 5", "is not a Bedrock model id"),
    ("alarmEmail", "ops at example.com", "ops@example.com"),
    ("sweepGraceSeconds", "10", "allowed values: 60..28800"),
]


@pytest.mark.parametrize(("key", "value", "words"), _BAD_VALUES)
def test_synth_with_a_bad_value_fails_with_the_key_in_the_message(
    key: str,
    value: str,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """``app.py`` itself, run as ``__main__`` in this process (whose jsii runtime is already
    up: a process of its own costs ~12 CPU-s to start one; the next test runs one). The
    context reaches its ``cdk.App()`` as an argument: the running jsii runtime does not see
    ``CDK_CONTEXT_JSON`` set now."""
    import aws_cdk

    real_app = aws_cdk.App
    context = {**cdk_json_context(), key: value}
    monkeypatch.setattr(aws_cdk, "App", lambda: real_app(context=context, outdir=str(tmp_path)))
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / "app.py"), run_name="__main__")
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"'{key}'" in stderr
    assert words in stderr


def test_the_synth_process_exits_2_on_a_bad_value() -> None:
    """The same as ``cdk synth`` runs it: ``python app.py``, a process of its own."""
    key, value, words = _BAD_VALUES[0]
    context = {**cdk_json_context(), key: value}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert f"'{key}'" in proc.stderr
    assert words in proc.stderr


def test_setting_keys_are_exactly_what_from_context_reads() -> None:
    from stacks.settings import SETTING_KEYS, Settings

    read: list[str] = []

    def getter(key: str) -> Any:
        read.append(key)
        return cdk_json_context().get(key)

    Settings.from_context(getter)
    assert set(read) == SETTING_KEYS


def test_cdk_json_context_has_only_settings_and_cdk_flags() -> None:
    from stacks.settings import check_context_keys

    check_context_keys(cdk_json_context())  # raises on a stray setting-like key


@pytest.mark.parametrize(
    ("key", "hint"),
    [("networkmode", "networkMode"), ("modelID", "modelId"), ("requireApiKeys", "requireApiKey")],
)
def test_a_mistyped_setting_fails_and_names_the_closest_key(key: str, hint: str) -> None:
    from stacks.settings import SettingsError, check_context_keys

    with pytest.raises(SettingsError, match=rf"'{key}' is not a setting; did you mean '{hint}'"):
        check_context_keys({**cdk_json_context(), key: "x"})


def test_cdk_own_context_keys_are_not_settings_and_pass() -> None:
    from stacks.settings import check_context_keys

    check_context_keys(
        {
            "@aws-cdk/core:newStyleStackSynthesis": True,
            "aws:cdk:enable-path-metadata": True,
            "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
        }
    )


def test_anthropic_model_names_are_derived_from_the_allowed_models() -> None:
    """/v1/messages names come from allowedModelIds (one list to change), plus modelAliases."""
    from stacks.settings import Settings

    s = _settings(
        modelId="global.anthropic.claude-sonnet-5-5",
        allowedModelIds=[
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-pro-v1:0",
        ],
        modelAliases='{"claude-latest": "global.anthropic.claude-sonnet-5-5"}',
    )
    assert s.anthropic_models == {
        "claude-sonnet-5-5": "global.anthropic.claude-sonnet-5-5",
        "claude-sonnet-4-5-20250929": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-3-haiku-20240307": "anthropic.claude-3-haiku-20240307-v1:0",
        "claude-3-haiku": "anthropic.claude-3-haiku-20240307-v1:0",
        "claude-latest": "global.anthropic.claude-sonnet-5-5",
    }
    defaults = Settings().anthropic_models  # whatever the default model is, it has names
    claude = {m for m in Settings().allowed_model_ids if "anthropic.claude" in m}
    assert defaults and set(defaults.values()) == claude and Settings().model_id in claude
    assert all(name.startswith("claude-") and ":" not in name for name in defaults)
