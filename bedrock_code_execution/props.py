"""The construct's props: one typed, documented, validated object (:class:`CodeExecutionProps`).

Every setting a deployment can change is a field here with its default. A bad value fails when
the props are built (so before any resource is), with a :class:`PropsError` that names the
prop and what is allowed. The repository's own app reads the same settings from CDK context
(``stacks.settings.Settings`` extends these props with ``from_context``; its errors name the
context key instead).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import ClassVar

from bedrock_code_execution.checks import (
    ARCHITECTURES,
    CHOICES,
    INT_RANGES,
    LOG_RETENTION_DAYS,
    NETWORK_MODES,
    PYTHON_VERSIONS,
    PropsError,
    check_types,
)
from bedrock_code_execution.tools import ToolModule, check_tool_modules

__all__ = [
    "ARCHITECTURES",
    "CHOICES",
    "DEFAULT_ALLOWED_MODEL_IDS",
    "DEFAULT_MODEL_ID",
    "DEFAULT_PROFILE_REGIONS",
    "INT_RANGES",
    "LOG_RETENTION_DAYS",
    "NETWORK_MODES",
    "PYTHON_VERSIONS",
    "CodeExecutionProps",
    "ModelTarget",
    "PropsError",
]

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
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_CLAUDE = re.compile(r"^anthropic\.(claude-[a-z0-9.-]+?)(-v\d+(:\d+)?)?$")
_DATED = re.compile(r"^(.*)-(\d{8})$")
# One address, no display name or list: what an SNS email subscription's endpoint takes.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
# A KMS key ARN (a key id or a multi-Region key id; not an alias: a grant names a key).
_WEB_SEARCH_ID = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)*")
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/([0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32})$"
)
# How long the runtime keeps a container record past its expiry (store/container_records.py
# TOMBSTONE_SECONDS), and the longest lease a request takes (a streamed turn: 15 minutes).
_RECORD_TOMBSTONE_SECONDS = 86_400
_LONGEST_LEASE_SECONDS = 900


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
class CodeExecutionProps:
    """Everything a deployment of :class:`~bedrock_code_execution.CodeExecution` can change.

    Lists may be given as lists or tuples; they are kept as tuples.

    Attributes:
        model_id: the default model of ``/invoke`` and jobs (a Bedrock model or inference
            profile id). Default: Claude Sonnet 5 through its global inference profile.
        allowed_model_ids: every model a request may pick; ``model_id`` is added first when
            missing. Default: Claude Sonnet 5, 5.5 and 4.5.
        sandbox_model_ids: the models Claude Code may call inside the sandbox (the first is
            its main model, the second its small one). Default: ``(model_id,)``.
        inference_profile_regions: inference profile prefix -> the regions it routes to
            (IAM names each region's foundation model). Default: us, eu, apac, global.
        interpreter_name: name of the code interpreter created when none is passed in.
            Default ``bedrock_code_execution``.
        network_mode: the sandbox's network: ``PUBLIC`` (default), ``SANDBOX`` or ``VPC``.
        vpc_id, subnet_ids, security_group_ids: the sandbox's VPC (``VPC`` mode only, and
            then required).
        session_timeout_seconds: a sandbox session's timeout (60..28800, default 900).
        session_ttl_seconds: how long a session record lives after its last use
            (60..2592000, default 3600).
        files_url_expiry_seconds: lifetime of presigned file URLs (60..604800, default 3600).
        files_expiration_days: days the bucket keeps caller files (1..3650, default 7).
        lambda_architecture: ``x86_64`` (default) or ``arm64``.
        lambda_python_version: ``3.14`` (default) or ``3.13``.
        log_retention_days: CloudWatch Logs retention (a value Logs accepts, default 30).
        require_api_key: require an API Gateway API key on the IAM routes (default False).
        reserved_concurrency: reserved concurrency of each function (1..1000, default None).
        api_throttle_rate_limit, api_throttle_burst_limit: the stage's throttling
            (1..10000 and 1..5000, burst >= rate; default 10 and 20).
        job_timeout_seconds: a job's timeout (60..900, default 900).
        model_aliases: extra Anthropic model name -> allowed Bedrock id for ``/v1/messages``.
        container_idle_seconds: idle time before a ``/v1`` container's session stops
            (60..28800, default 300).
        sweep_interval_minutes: how often the sweeper runs (1..60, default 5).
        sweep_grace_seconds: sessions younger than this are never swept (60..28800, 300).
        alarm_email: one address subscribed to the alarm topic (default: none).
        api_gateway_cloud_watch_role: create API Gateway's account-wide CloudWatch role
            (default True; False when the account already has one).
        alarm_topic_kms_key_arn: a customer-managed KMS key for the alarm topic (default:
            the AWS-managed key).
        web_search_id: the AgentCore web search tool ``web_search`` calls (InvokeWebSearch's
            ``webSearchId``; default ``web-search.v1``, AWS-managed).
        tools: the deployment's own PTC tool modules (:class:`ToolModule`), each with its
            placement; their names must not repeat.
        resource_name_prefix: prefix of the state machine, API and dashboard names. Default:
            the stack's name (set it when one stack holds two of these constructs).
    """

    # The error a bad value raises, and how a message names a field (the context-backed
    # settings of stacks/settings.py name the context key instead).
    _ERROR: ClassVar[type[PropsError]] = PropsError

    model_id: str = DEFAULT_MODEL_ID
    allowed_model_ids: tuple[str, ...] = DEFAULT_ALLOWED_MODEL_IDS
    sandbox_model_ids: tuple[str, ...] = None  # type: ignore[assignment]  # -> (model_id,)
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
    tools: tuple[ToolModule, ...] = ()
    resource_name_prefix: str | None = None

    def __post_init__(self) -> None:
        """Lists to tuples, the defaults that follow ``model_id``, then :meth:`validate`."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        if self.sandbox_model_ids is None:
            object.__setattr__(self, "sandbox_model_ids", (self.model_id,))
        check_types(self, self._label, self._ERROR)
        if self.model_id not in self.allowed_model_ids:
            object.__setattr__(self, "allowed_model_ids", (self.model_id, *self.allowed_model_ids))
        self.validate()

    @classmethod
    def _key(cls, name: str) -> str:
        """How messages name the field ``name``."""
        return name

    @classmethod
    def _label(cls, name: str) -> str:
        """``CodeExecutionProps.<name>``, the subject of an error message."""
        return f"{cls.__name__}.{name}"

    @classmethod
    def _labels(cls, *names: str) -> str:
        return ", ".join(cls._label(n) for n in names)

    @classmethod
    def _example(cls, name: str, example: str) -> str:
        """How to set ``name`` to ``example``."""
        single = name == "vpc_id"
        return f"{name}={example!r}" if single else f"{name}=[{example!r}]"

    def validate(self) -> None:
        """Check values and cross-field rules. Raises the error naming the offending prop."""
        error = self._ERROR
        if not _INTERPRETER_NAME.match(self.interpreter_name):
            raise error(
                f"{self._label('interpreter_name')}: {self.interpreter_name!r} is not allowed; "
                "allowed: ^[a-zA-Z][a-zA-Z0-9_]{0,47}$ (a letter, then up to 47 letters, "
                "digits or underscores)"
            )
        for key, ids in (
            ("model_id", (self.model_id,)),
            ("allowed_model_ids", self.allowed_model_ids),
            ("sandbox_model_ids", self.sandbox_model_ids),
        ):
            if not ids:
                raise error(f"{self._label(key)}: at least one model id is required")
            for model_id in ids:
                if not _MODEL_ID.match(model_id):
                    raise error(
                        f"{self._label(key)}: {model_id!r} is not a Bedrock model id; allowed: "
                        "a foundation model id (anthropic.claude-...-v1:0) or an inference "
                        f"profile id with a prefix in {sorted(self.inference_profile_regions)}"
                    )
        if self.network_mode == "VPC":
            self._validate_vpc()
        elif self.subnet_ids or self.security_group_ids or self.vpc_id:
            mode = self._key("network_mode")
            raise error(
                f"{self._labels('vpc_id', 'subnet_ids', 'security_group_ids')} are only "
                f"allowed with {mode} VPC ({mode} is {self.network_mode}); allowed {mode} "
                f"values: {', '.join(NETWORK_MODES)}"
            )
        for alias, target in self.model_aliases.items():
            if not _ALIAS.match(alias):
                raise error(
                    f"{self._label('model_aliases')}: {alias!r} is not an Anthropic model name; "
                    "allowed: lowercase letters, digits, '-', '.', '_' (e.g. claude-sonnet-4-5)"
                )
            if target not in self.allowed_model_ids:
                raise error(
                    f"{self._label('model_aliases')}: {alias!r} maps to {target!r}, which is "
                    f"not in {self._key('allowed_model_ids')}; allowed targets: "
                    f"{', '.join(self.allowed_model_ids)}"
                )
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            raise error(
                f"{self._label('alarm_email')}: {self.alarm_email!r} is not an email address; "
                "allowed: empty (alarms go to the SNS topic only) or one address such as "
                "ops@example.com"
            )
        if self.alarm_topic_kms_key_arn and not _KMS_KEY_ARN.match(self.alarm_topic_kms_key_arn):
            raise error(
                f"{self._label('alarm_topic_kms_key_arn')}: {self.alarm_topic_kms_key_arn!r} is "
                "not a KMS key ARN; allowed: empty (no customer-managed key) or a key ARN such as "
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            )
        if self.api_throttle_burst_limit < self.api_throttle_rate_limit:
            raise error(
                f"{self._label('api_throttle_burst_limit')} must be >= "
                f"{self._key('api_throttle_rate_limit')!r} "
                f"({self.api_throttle_burst_limit} < {self.api_throttle_rate_limit})"
            )
        # InvokeWebSearch's WebSearchId shape (botocore's bedrock-agentcore model)
        if len(self.web_search_id) > 100 or not _WEB_SEARCH_ID.fullmatch(self.web_search_id):
            raise error(
                f"{self._label('web_search_id')}: {self.web_search_id!r} is not allowed; "
                "allowed: a web search tool id such as web-search.v1"
            )
        check_tool_modules(self.tools, self._label("tools"), error)

    def _validate_vpc(self) -> None:
        checks = (
            ("vpc_id", (self.vpc_id,) if self.vpc_id else (), _VPC, "vpc-0123456789abcdef0"),
            ("subnet_ids", self.subnet_ids, _SUBNET, "subnet-0123456789abcdef0"),
            (
                "security_group_ids",
                self.security_group_ids,
                _SECURITY_GROUP,
                "sg-0123456789abcdef0",
            ),
        )
        for key, values, pattern, example in checks:
            if not values:
                raise self._ERROR(
                    f"{self._label(key)} is required when {self._key('network_mode')} is "
                    f"VPC (e.g. {self._example(key, example)})"
                )
            for value in values:
                if not pattern.match(value):
                    raise self._ERROR(
                        f"{self._label(key)}: {value!r} is not allowed; allowed: ids like {example}"
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
