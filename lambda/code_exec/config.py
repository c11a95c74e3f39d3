"""Runtime settings, read from environment variables named in one place.

The CDK stack sets these on the Lambda functions (see ``bedrock_code_execution/runtime_env.py``,
which mirrors :data:`ENV`); a test asserts both sides agree. Order of resolution:
explicit argument, then environment variable, then default. A bad value raises
:class:`ConfigError` naming the variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ENV", "ConfigError", "RuntimeConfig"]


class ENV:
    """Names of the environment variables the runtime reads."""

    CODE_INTERPRETER_ID = "CODE_INTERPRETER_ID"
    FILES_BUCKET = "FILES_BUCKET"
    TABLE_NAME = "TABLE_NAME"
    JOB_STATE_MACHINE_ARN = "JOB_STATE_MACHINE_ARN"
    DEFAULT_MODEL_ID = "DEFAULT_MODEL_ID"
    ALLOWED_MODEL_IDS = "ALLOWED_MODEL_IDS"  # comma-separated
    SANDBOX_MODEL_IDS = "SANDBOX_MODEL_IDS"  # comma-separated; Claude Code in the sandbox
    SANDBOX_SMALL_MODEL_ID = "SANDBOX_SMALL_MODEL_ID"  # its small/fast (background) model
    SESSION_TIMEOUT_SECONDS = "SESSION_TIMEOUT_SECONDS"
    SESSION_TTL_SECONDS = "SESSION_TTL_SECONDS"
    FILES_URL_EXPIRY_SECONDS = "FILES_URL_EXPIRY_SECONDS"
    MODEL_ALIASES = "MODEL_ALIASES"  # JSON object: Anthropic model name -> Bedrock model id
    CONTAINER_IDLE_SECONDS = "CONTAINER_IDLE_SECONDS"
    FILES_EXPIRATION_DAYS = "FILES_EXPIRATION_DAYS"
    SWEEP_GRACE_SECONDS = "SWEEP_GRACE_SECONDS"  # the sweeper leaves sessions this young alone
    WEB_SEARCH_ID = "WEB_SEARCH_ID"  # the InvokeWebSearch tool (AWS-managed: web-search.v1)
    # JSON list of the deployment's own tool modules: [{"path", "placement"}], paths relative
    # to the bundle root (the construct's ``tools``); read by code_exec.ptc.assets.
    PTC_TOOL_MODULES = "PTC_TOOL_MODULES"

    ALL = (
        CODE_INTERPRETER_ID,
        FILES_BUCKET,
        TABLE_NAME,
        JOB_STATE_MACHINE_ARN,
        DEFAULT_MODEL_ID,
        ALLOWED_MODEL_IDS,
        SANDBOX_MODEL_IDS,
        SANDBOX_SMALL_MODEL_ID,
        SESSION_TIMEOUT_SECONDS,
        SESSION_TTL_SECONDS,
        FILES_URL_EXPIRY_SECONDS,
        MODEL_ALIASES,
        CONTAINER_IDLE_SECONDS,
        FILES_EXPIRATION_DAYS,
        SWEEP_GRACE_SECONDS,
        WEB_SEARCH_ID,
        PTC_TOOL_MODULES,
    )


class ConfigError(ValueError):
    """A runtime setting is missing or has a bad value."""


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from e
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _aliases(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    raw = env.get(ENV.MODEL_ALIASES) or "{}"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{ENV.MODEL_ALIASES} must be a JSON object, got {raw[:80]!r}") from e
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{ENV.MODEL_ALIASES} must map model names to model ids")
    return tuple(value.items())


# InvokeWebSearch's WebSearchId shape (botocore bedrock-agentcore model): 1-100 characters.
_WEB_SEARCH_ID = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)*")


def _web_search_id(env: Mapping[str, str]) -> str:
    raw = env.get(ENV.WEB_SEARCH_ID) or RuntimeConfig.web_search_id
    if len(raw) > 100 or not _WEB_SEARCH_ID.fullmatch(raw):
        raise ConfigError(
            f"{ENV.WEB_SEARCH_ID} must be a web search id like web-search.v1, got {raw[:80]!r}"
        )
    return raw


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything the runtime needs from its deployment.

    ``allowed_model_ids`` are the models the Lambda functions may invoke (every loop but
    ``claude_code``); ``sandbox_model_ids`` the models the interpreter's execution role may
    invoke, i.e. what Claude Code may use inside the sandbox (the first is its default).
    ``sweep_grace_seconds``: the sweeper leaves sandbox sessions younger than this alone; it
    must be longer than any owner takes between starting a session and recording it (and
    than a buffered request lives: API Gateway stops at 29 s), hence at least 60.
    """

    code_interpreter_id: str = "aws.codeinterpreter.v1"
    files_bucket: str = ""
    table_name: str = ""
    job_state_machine_arn: str = ""
    default_model_id: str = "global.anthropic.claude-sonnet-5"
    allowed_model_ids: tuple[str, ...] = field(default_factory=tuple)
    sandbox_model_ids: tuple[str, ...] = field(default_factory=tuple)
    sandbox_small_model_id: str = ""  # empty: Claude Code's background model is its main one
    session_timeout_seconds: int = 900
    session_ttl_seconds: int = 3600
    files_url_expiry_seconds: int = 3600
    model_aliases: tuple[tuple[str, str], ...] = ()  # (Anthropic name, Bedrock id), in order
    container_idle_seconds: int = 300
    files_expiration_days: int = 7
    sweep_grace_seconds: int = 300
    web_search_id: str = "web-search.v1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeConfig:
        """Read settings from ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        default_model = env.get(ENV.DEFAULT_MODEL_ID) or cls.default_model_id
        allowed = tuple(
            m.strip() for m in env.get(ENV.ALLOWED_MODEL_IDS, "").split(",") if m.strip()
        ) or (default_model,)
        sandbox = tuple(
            m.strip() for m in env.get(ENV.SANDBOX_MODEL_IDS, "").split(",") if m.strip()
        ) or (default_model,)
        return cls(
            code_interpreter_id=env.get(ENV.CODE_INTERPRETER_ID) or cls.code_interpreter_id,
            files_bucket=env.get(ENV.FILES_BUCKET, ""),
            table_name=env.get(ENV.TABLE_NAME, ""),
            job_state_machine_arn=env.get(ENV.JOB_STATE_MACHINE_ARN, ""),
            default_model_id=default_model,
            allowed_model_ids=allowed,
            sandbox_model_ids=sandbox,
            sandbox_small_model_id=env.get(ENV.SANDBOX_SMALL_MODEL_ID, ""),
            session_timeout_seconds=_int(env, ENV.SESSION_TIMEOUT_SECONDS, 900, 60, 28800),
            session_ttl_seconds=_int(env, ENV.SESSION_TTL_SECONDS, 3600, 60, 30 * 86400),
            files_url_expiry_seconds=_int(env, ENV.FILES_URL_EXPIRY_SECONDS, 3600, 60, 604800),
            model_aliases=_aliases(env),
            container_idle_seconds=_int(env, ENV.CONTAINER_IDLE_SECONDS, 300, 60, 28800),
            files_expiration_days=_int(env, ENV.FILES_EXPIRATION_DAYS, 7, 1, 3650),
            sweep_grace_seconds=_int(env, ENV.SWEEP_GRACE_SECONDS, 300, 60, 28800),
            web_search_id=_web_search_id(env),
        )
