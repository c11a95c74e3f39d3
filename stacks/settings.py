"""Typed deployment settings, read once from CDK context (defaults live in ``cdk.json``).

``app.py`` is the only caller of :meth:`Settings.from_context`; constructs and stacks receive a
:class:`Settings` instance and never read context themselves. A bad value raises
:class:`SettingsError` whose message names the context key and the allowed values, so
``cdk synth`` fails before any resource is built.

Values come from ``cdk.json`` (JSON types) or ``cdk synth -c key=value`` (always strings), so
every reader accepts both forms: ``-c requireApiKey=true``, ``-c subnetIds=subnet-a,subnet-b``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.context import (
    SettingsError,
    read_aliases,
    read_bool,
    read_choice,
    read_int,
    read_int_choice,
    read_opt_int,
    read_profile_regions,
    read_str,
    read_str_list,
)

__all__ = [
    "ARCHITECTURES",
    "LOG_RETENTION_DAYS",
    "NETWORK_MODES",
    "PYTHON_VERSIONS",
    "SETTING_KEYS",
    "ModelTarget",
    "Settings",
    "SettingsError",
    "check_context_keys",
]

NETWORK_MODES = ("PUBLIC", "SANDBOX", "VPC")
ARCHITECTURES = ("x86_64", "arm64")
PYTHON_VERSIONS = ("3.14", "3.13")
# The values CloudWatch Logs accepts for a retention period (aws_logs.RetentionDays).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# Claude Sonnet 5 through its global cross-region inference profile: the newest Sonnet whose
# Bedrock id the Amazon Bedrock user guide lists (docs/architecture.md names the sources).
DEFAULT_MODEL_ID = "global.anthropic.claude-sonnet-5"
# Also allowed by default: Claude Sonnet 5.5 (newer; its id is not in the user guide yet) and
# Claude Sonnet 4.5, which deployments made before this default may still be using.
DEFAULT_ALLOWED_MODEL_IDS = (
    DEFAULT_MODEL_ID,
    "global.anthropic.claude-sonnet-5-5",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
)
DEFAULT_PROFILE_REGIONS: dict[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "eu": ("eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"),
    "apac": (
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
        "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-4",
    ),
    "global": ("*",),
}  # fmt: skip

_INTERPRETER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$")
_MODEL_ID = re.compile(r"^[a-z0-9-]+(\.[a-zA-Z0-9-]+)+(:\d+)?(:[a-z0-9]+)?$")
_STACK_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_CLAUDE = re.compile(r"^anthropic\.(claude-[a-z0-9.-]+?)(-v\d+(:\d+)?)?$")
_DATED = re.compile(r"^(.*)-(\d{8})$")
# One address, no display name or list: what an SNS email subscription's endpoint takes.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
# A KMS key ARN (a key id or a multi-Region key id; not an alias: a grant names a key).
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/([0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32})$"
)
# How long the runtime keeps a container record past its expiry (store/containers.py
# TOMBSTONE_SECONDS), and the longest lease a request takes (a streamed turn: 15 minutes).
_RECORD_TOMBSTONE_SECONDS = 86_400
_LONGEST_LEASE_SECONDS = 900


# Every context key Settings.from_context reads (a test keeps the two in step).
SETTING_KEYS = frozenset(
    {
        "stackPrefix", "modelId", "allowedModelIds", "sandboxModelIds",
        "inferenceProfileRegions", "interpreterName", "networkMode", "vpcId", "subnetIds",
        "securityGroupIds", "sessionTimeoutSeconds", "sessionTtlSeconds",
        "filesUrlExpirySeconds", "filesExpirationDays", "lambdaArchitecture",
        "lambdaPythonVersion", "logRetentionDays", "requireApiKey", "reservedConcurrency",
        "apiThrottleRateLimit", "apiThrottleBurstLimit", "jobTimeoutSeconds", "alarmEmail",
        "apiGatewayCloudWatchRole", "modelAliases", "containerIdleSeconds",
        "sweepIntervalMinutes", "sweepGraceSeconds", "alarmTopicKmsKeyArn", "webSearchId",
    }
)  # fmt: skip
_WEB_SEARCH_ID = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)*")
# Our settings are camelCase words; CDK's own keys carry ':' or start with '@'.
_SETTING_LIKE = re.compile(r"^[a-z][A-Za-z0-9]*$")


def check_context_keys(keys: Iterable[str]) -> None:
    """Refuse a setting-like context key that is not a setting.

    A typo (``networkmode``) would otherwise be ignored and the default deployed.

    Raises:
        SettingsError: naming the key, the closest setting and every allowed key.
    """
    for key in sorted(keys):
        if _SETTING_LIKE.match(key) and key not in SETTING_KEYS:
            close = difflib.get_close_matches(key, SETTING_KEYS, n=1, cutoff=0.6)
            if not close:
                close = [k for k in SETTING_KEYS if k.lower() == key.lower()]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SettingsError(
                f"context key {key!r} is not a setting{hint} "
                f"(settings: {', '.join(sorted(SETTING_KEYS))})"
            )


@dataclass(frozen=True)
class ModelTarget:
    """One model id as IAM sees it.

    Attributes:
        model_id: the id given in settings (an inference profile id or a foundation model id).
        foundation_model: the foundation model id behind it (profile prefix removed).
        profile_regions: regions a cross-region inference profile routes to; empty for a
            foundation model called directly in the stack's region. ``("*",)`` for global.
    """

    model_id: str
    foundation_model: str
    profile_regions: tuple[str, ...] = ()

    @property
    def is_profile(self) -> bool:
        """True when ``model_id`` names a cross-region inference profile."""
        return bool(self.profile_regions)


@dataclass(frozen=True)
class Settings:
    """Everything a deployment can change. Defaults match ``cdk.json``."""

    stack_prefix: str = "BedrockCodeExec"
    model_id: str = DEFAULT_MODEL_ID
    allowed_model_ids: tuple[str, ...] = DEFAULT_ALLOWED_MODEL_IDS
    sandbox_model_ids: tuple[str, ...] = (DEFAULT_MODEL_ID,)
    inference_profile_regions: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_PROFILE_REGIONS)
    )
    interpreter_name: str = "bedrock_code_execution"
    network_mode: str = "PUBLIC"
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    session_timeout_seconds: int = 900
    session_ttl_seconds: int = 3600
    files_url_expiry_seconds: int = 3600
    files_expiration_days: int = 7
    lambda_architecture: str = "x86_64"
    lambda_python_version: str = "3.14"
    log_retention_days: int = 30
    require_api_key: bool = False
    reserved_concurrency: int | None = None
    api_throttle_rate_limit: int = 10
    api_throttle_burst_limit: int = 20
    job_timeout_seconds: int = 900
    model_aliases: Mapping[str, str] = field(default_factory=dict)  # explicit; see anthropic_models
    container_idle_seconds: int = 300
    sweep_grace_seconds: int = 300  # SWEEP_GRACE_SECONDS (its context key: stacks-integ)
    alarm_email: str = ""
    api_gateway_cloud_watch_role: bool = True
    sweep_interval_minutes: int = 5
    alarm_topic_kms_key_arn: str = ""
    web_search_id: str = "web-search.v1"  # InvokeWebSearch tool (WEB_SEARCH_ID; AWS-managed)

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> Settings:
        """Build settings from a context getter such as ``app.node.try_get_context``.

        Args:
            get: returns the raw context value for a key, or None when unset.

        Raises:
            SettingsError: a value is malformed or not allowed; the message names the key.
        """
        d = cls()
        model_id = read_str(get, "modelId", d.model_id)
        allowed = read_str_list(get, "allowedModelIds", (model_id,))
        if model_id not in allowed:
            allowed = (model_id, *allowed)
        regions = read_profile_regions(get, "inferenceProfileRegions", d.inference_profile_regions)
        settings = cls(
            stack_prefix=read_str(get, "stackPrefix", d.stack_prefix),
            model_id=model_id,
            allowed_model_ids=allowed,
            sandbox_model_ids=read_str_list(get, "sandboxModelIds", (model_id,)),
            inference_profile_regions=regions,
            interpreter_name=read_str(get, "interpreterName", d.interpreter_name),
            network_mode=read_choice(get, "networkMode", d.network_mode, NETWORK_MODES, upper=True),
            vpc_id=read_str(get, "vpcId", d.vpc_id),
            subnet_ids=read_str_list(get, "subnetIds", d.subnet_ids),
            security_group_ids=read_str_list(get, "securityGroupIds", d.security_group_ids),
            session_timeout_seconds=read_int(get, "sessionTimeoutSeconds", 900, 60, 28800),
            session_ttl_seconds=read_int(get, "sessionTtlSeconds", 3600, 60, 30 * 86400),
            files_url_expiry_seconds=read_int(get, "filesUrlExpirySeconds", 3600, 60, 604800),
            files_expiration_days=read_int(get, "filesExpirationDays", 7, 1, 3650),
            lambda_architecture=read_choice(
                get, "lambdaArchitecture", d.lambda_architecture, ARCHITECTURES
            ),
            lambda_python_version=read_choice(
                get, "lambdaPythonVersion", d.lambda_python_version, PYTHON_VERSIONS
            ),
            log_retention_days=read_int_choice(get, "logRetentionDays", 30, LOG_RETENTION_DAYS),
            require_api_key=read_bool(get, "requireApiKey", d.require_api_key),
            reserved_concurrency=read_opt_int(get, "reservedConcurrency", 1, 1000),
            api_throttle_rate_limit=read_int(get, "apiThrottleRateLimit", 10, 1, 10000),
            api_throttle_burst_limit=read_int(get, "apiThrottleBurstLimit", 20, 1, 5000),
            job_timeout_seconds=read_int(get, "jobTimeoutSeconds", 900, 60, 900),
            model_aliases=read_aliases(get, "modelAliases"),
            container_idle_seconds=read_int(get, "containerIdleSeconds", 300, 60, 28800),
            alarm_email=read_str(get, "alarmEmail", d.alarm_email),
            api_gateway_cloud_watch_role=read_bool(
                get, "apiGatewayCloudWatchRole", d.api_gateway_cloud_watch_role
            ),
            # A session leaks for at most interval + grace; an hour bounds that.
            sweep_interval_minutes=read_int(get, "sweepIntervalMinutes", 5, 1, 60),
            # At least a minute: longer than any owner takes between starting a session and
            # recording it (a buffered request ends at API Gateway's 29 s). The runtime reads
            # it as SWEEP_GRACE_SECONDS with the same range.
            sweep_grace_seconds=read_int(get, "sweepGraceSeconds", 300, 60, 28800),
            alarm_topic_kms_key_arn=read_str(get, "alarmTopicKmsKeyArn", d.alarm_topic_kms_key_arn),
            web_search_id=read_str(get, "webSearchId", d.web_search_id),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check cross-field rules. Raises SettingsError naming the offending key."""
        self._validate_web_search()
        if not _STACK_PREFIX.match(self.stack_prefix):
            raise SettingsError(
                f"context key 'stackPrefix': {self.stack_prefix!r} is not allowed; "
                "allowed: a letter then up to 63 letters, digits or hyphens"
            )
        if not _INTERPRETER_NAME.match(self.interpreter_name):
            raise SettingsError(
                f"context key 'interpreterName': {self.interpreter_name!r} is not allowed; "
                "allowed: ^[a-zA-Z][a-zA-Z0-9_]{0,47}$ (a letter, then up to 47 letters, "
                "digits or underscores)"
            )
        for key, ids in (
            ("modelId", (self.model_id,)),
            ("allowedModelIds", self.allowed_model_ids),
            ("sandboxModelIds", self.sandbox_model_ids),
        ):
            if not ids:
                raise SettingsError(f"context key {key!r}: at least one model id is required")
            for model_id in ids:
                if not _MODEL_ID.match(model_id):
                    raise SettingsError(
                        f"context key {key!r}: {model_id!r} is not a Bedrock model id; allowed: "
                        "a foundation model id (anthropic.claude-...-v1:0) or an inference "
                        f"profile id with a prefix in {sorted(self.inference_profile_regions)}"
                    )
        if self.network_mode == "VPC":
            self._validate_vpc()
        elif self.subnet_ids or self.security_group_ids or self.vpc_id:
            raise SettingsError(
                "context keys 'vpcId', 'subnetIds', 'securityGroupIds' are only allowed with "
                f"networkMode VPC (networkMode is {self.network_mode}); allowed networkMode "
                f"values: {', '.join(NETWORK_MODES)}"
            )
        for alias, target in self.model_aliases.items():
            if not _ALIAS.match(alias):
                raise SettingsError(
                    f"context key 'modelAliases': {alias!r} is not an Anthropic model name; "
                    "allowed: lowercase letters, digits, '-', '.', '_' (e.g. claude-sonnet-4-5)"
                )
            if target not in self.allowed_model_ids:
                raise SettingsError(
                    f"context key 'modelAliases': {alias!r} maps to {target!r}, which is not in "
                    f"allowedModelIds; allowed targets: {', '.join(self.allowed_model_ids)}"
                )
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            raise SettingsError(
                f"context key 'alarmEmail': {self.alarm_email!r} is not an email address; "
                "allowed: empty (alarms go to the SNS topic only) or one address such as "
                "ops@example.com"
            )
        if self.alarm_topic_kms_key_arn and not _KMS_KEY_ARN.match(self.alarm_topic_kms_key_arn):
            raise SettingsError(
                f"context key 'alarmTopicKmsKeyArn': {self.alarm_topic_kms_key_arn!r} is not a "
                "KMS key ARN; allowed: empty (no customer-managed key) or a key ARN such as "
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            )
        if self.api_throttle_burst_limit < self.api_throttle_rate_limit:
            raise SettingsError(
                "context key 'apiThrottleBurstLimit' must be >= 'apiThrottleRateLimit' "
                f"({self.api_throttle_burst_limit} < {self.api_throttle_rate_limit})"
            )

    def _validate_web_search(self) -> None:
        # InvokeWebSearch's WebSearchId shape (botocore's bedrock-agentcore model)
        if len(self.web_search_id) > 100 or not _WEB_SEARCH_ID.fullmatch(self.web_search_id):
            raise SettingsError(
                f"context key 'webSearchId': {self.web_search_id!r} is not allowed; allowed: "
                "a web search tool id such as web-search.v1"
            )

    def _validate_vpc(self) -> None:
        checks = (
            ("vpcId", (self.vpc_id,) if self.vpc_id else (), _VPC, "vpc-0123456789abcdef0"),
            ("subnetIds", self.subnet_ids, _SUBNET, "subnet-0123456789abcdef0"),
            ("securityGroupIds", self.security_group_ids, _SECURITY_GROUP, "sg-0123456789abcdef0"),
        )
        for key, values, pattern, example in checks:
            if not values:
                raise SettingsError(
                    f"context key {key!r} is required when networkMode is VPC "
                    f"(e.g. -c {key}={example})"
                )
            for value in values:
                if not pattern.match(value):
                    raise SettingsError(
                        f"context key {key!r}: {value!r} is not allowed; allowed: ids like "
                        f"{example}"
                    )

    def model_target(self, model_id: str) -> ModelTarget:
        """Describe how IAM must name ``model_id`` (profile ARN + foundation models)."""
        prefix, _, rest = model_id.partition(".")
        if rest and prefix in self.inference_profile_regions:
            return ModelTarget(model_id, rest, tuple(self.inference_profile_regions[prefix]))
        return ModelTarget(model_id, model_id)

    @property
    def state_expiration_days(self) -> int:
        """Days the bucket keeps ``state/`` objects (history, results a record points to).

        A record points to its objects until it expires: a session or job
        ``sessionTtlSeconds`` after its last save (longer while a lease holds it, at most
        ``sessionTimeoutSeconds`` or a streamed turn's 15 minutes), a container a day
        (its tombstone) after its sandbox session ends. The objects outlive the longest of
        those, whatever ``filesExpirationDays`` says about caller files.
        """
        record = max(self.session_ttl_seconds, self.session_timeout_seconds)
        lease = max(self.session_timeout_seconds, _LONGEST_LEASE_SECONDS)
        return math.ceil((record + lease + _RECORD_TOMBSTONE_SECONDS) / 86_400)

    @property
    def sandbox_model_id(self) -> str:
        """The model Claude Code uses inside the sandbox (first of ``sandbox_model_ids``)."""
        return self.sandbox_model_ids[0]

    @property
    def sandbox_small_model_id(self) -> str:
        """Claude Code's small/fast model for background work: the second of
        ``sandbox_model_ids``, else the first (so it never needs a model the role lacks)."""
        return self.sandbox_model_ids[1 if len(self.sandbox_model_ids) > 1 else 0]

    @property
    def lambda_model_ids(self) -> tuple[str, ...]:
        """Models the Lambda functions may invoke (the default model first)."""
        return self.allowed_model_ids

    @property
    def anthropic_models(self) -> dict[str, str]:
        """Anthropic model names ``/v1/messages`` accepts -> the Bedrock id each calls.

        Derived from ``allowedModelIds`` (so a changed default model is covered without a
        second list): ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` answers to
        ``claude-sonnet-4-5-20250929`` and ``claude-sonnet-4-5``; an undated id such as
        ``global.anthropic.claude-sonnet-5-5`` to ``claude-sonnet-5-5``. The first allowed
        id claiming a name keeps it. ``modelAliases`` entries are added on top and win.
        """
        aliases: dict[str, str] = {}
        for model_id in self.allowed_model_ids:
            for name in _anthropic_names(model_id, self.inference_profile_regions):
                aliases.setdefault(name, model_id)
        aliases.update(self.model_aliases)
        return aliases


def _anthropic_names(model_id: str, profiles: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The Anthropic API names of a Bedrock Claude id (none for other models)."""
    prefix, _, rest = model_id.partition(".")
    base = rest if prefix in profiles else model_id
    m = _CLAUDE.match(base)
    if not m:
        return []
    name = m.group(1)
    dated = _DATED.match(name)
    return [name, dated.group(1)] if dated else [name]
