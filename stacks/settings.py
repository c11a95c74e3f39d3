"""Typed deployment settings, read once from CDK context (defaults live in ``cdk.json``).

``app.py`` is the only caller of :meth:`Settings.from_context`; the construct receives the
:class:`Settings` instance as its props (``Settings`` is
:class:`~bedrock_code_execution.CodeExecutionProps` plus the stacks' name prefix) and never
reads context itself. A bad value raises :class:`SettingsError` whose message names the context
key and the allowed values, so ``cdk synth`` fails before any resource is built.

Values come from ``cdk.json`` (JSON types) or ``cdk synth -c key=value`` (always strings), so
every reader accepts both forms: ``-c requireApiKey=true``, ``-c subnetIds=subnet-a,subnet-b``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from bedrock_code_execution.props import (
    ARCHITECTURES,
    INT_RANGES,
    LOG_RETENTION_DAYS,
    NETWORK_MODES,
    PYTHON_VERSIONS,
    CodeExecutionProps,
    ModelTarget,
    PropsError,
)
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

_STACK_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")

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


def _camel(name: str) -> str:
    """``session_timeout_seconds`` -> ``sessionTimeoutSeconds`` (a prop's context key)."""
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


@dataclass(frozen=True)
class Settings(CodeExecutionProps):
    """The construct's props as this repository's app deploys them, plus the stacks' name
    prefix. Defaults match ``cdk.json``; errors name context keys."""

    _ERROR: ClassVar[type[PropsError]] = SettingsError

    stack_prefix: str = "BedrockCodeExec"

    @classmethod
    def _key(cls, name: str) -> str:
        return _camel(name)

    @classmethod
    def _label(cls, name: str) -> str:
        return f"context key {_camel(name)!r}"

    @classmethod
    def _labels(cls, *names: str) -> str:
        return "context keys " + ", ".join(repr(_camel(n)) for n in names)

    @classmethod
    def _example(cls, name: str, example: str) -> str:
        return f"-c {_camel(name)}={example}"

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> Settings:
        """Build settings from a context getter such as ``app.node.try_get_context``.

        Args:
            get: returns the raw context value for a key, or None when unset.

        Raises:
            SettingsError: a value is malformed or not allowed; the message names the key.
        """
        d = cls()
        r = INT_RANGES
        model_id = read_str(get, "modelId", d.model_id)
        allowed = read_str_list(get, "allowedModelIds", (model_id,))
        if model_id not in allowed:
            allowed = (model_id, *allowed)
        regions = read_profile_regions(get, "inferenceProfileRegions", d.inference_profile_regions)
        return cls(
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
            session_timeout_seconds=read_int(
                get, "sessionTimeoutSeconds", 900, *r["session_timeout_seconds"]
            ),
            session_ttl_seconds=read_int(get, "sessionTtlSeconds", 3600, *r["session_ttl_seconds"]),
            files_url_expiry_seconds=read_int(
                get, "filesUrlExpirySeconds", 3600, *r["files_url_expiry_seconds"]
            ),
            files_expiration_days=read_int(
                get, "filesExpirationDays", 7, *r["files_expiration_days"]
            ),
            lambda_architecture=read_choice(
                get, "lambdaArchitecture", d.lambda_architecture, ARCHITECTURES
            ),
            lambda_python_version=read_choice(
                get, "lambdaPythonVersion", d.lambda_python_version, PYTHON_VERSIONS
            ),
            log_retention_days=read_int_choice(get, "logRetentionDays", 30, LOG_RETENTION_DAYS),
            require_api_key=read_bool(get, "requireApiKey", d.require_api_key),
            reserved_concurrency=read_opt_int(
                get, "reservedConcurrency", *r["reserved_concurrency"]
            ),
            api_throttle_rate_limit=read_int(
                get, "apiThrottleRateLimit", 10, *r["api_throttle_rate_limit"]
            ),
            api_throttle_burst_limit=read_int(
                get, "apiThrottleBurstLimit", 20, *r["api_throttle_burst_limit"]
            ),
            job_timeout_seconds=read_int(get, "jobTimeoutSeconds", 900, *r["job_timeout_seconds"]),
            model_aliases=read_aliases(get, "modelAliases"),
            container_idle_seconds=read_int(
                get, "containerIdleSeconds", 300, *r["container_idle_seconds"]
            ),
            alarm_email=read_str(get, "alarmEmail", d.alarm_email),
            api_gateway_cloud_watch_role=read_bool(
                get, "apiGatewayCloudWatchRole", d.api_gateway_cloud_watch_role
            ),
            sweep_interval_minutes=read_int(
                get, "sweepIntervalMinutes", 5, *r["sweep_interval_minutes"]
            ),
            sweep_grace_seconds=read_int(get, "sweepGraceSeconds", 300, *r["sweep_grace_seconds"]),
            alarm_topic_kms_key_arn=read_str(get, "alarmTopicKmsKeyArn", d.alarm_topic_kms_key_arn),
            web_search_id=read_str(get, "webSearchId", d.web_search_id),
        )

    def validate(self) -> None:
        """The props' rules, and the stack name prefix. Raises SettingsError naming the key."""
        if not _STACK_PREFIX.match(self.stack_prefix):
            raise SettingsError(
                f"context key 'stackPrefix': {self.stack_prefix!r} is not allowed; "
                "allowed: a letter then up to 63 letters, digits or hyphens"
            )
        super().validate()
