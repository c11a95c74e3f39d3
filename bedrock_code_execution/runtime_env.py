"""The Lambda environment, defined in one place.

Keys are exactly the names in ``lambda/code_exec/config.py`` (``ENV``); the stacks never import
the runtime, so ``tests/stacks/test_runtime_env.py`` checks the two name sets agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bedrock_code_execution.props import CodeExecutionProps
from bedrock_code_execution.tools import tool_modules_environment

__all__ = [
    "EXEC_WRAPPER",
    "STREAM_BOOTSTRAP",
    "RuntimeWiring",
    "runtime_environment",
    "streaming_environment",
]

# The streaming function's exec wrapper: its path in the code asset, and in the function
# (the asset is unpacked in /var/task).
STREAM_BOOTSTRAP = "code_exec/streaming/bootstrap"
EXEC_WRAPPER = f"/var/task/{STREAM_BOOTSTRAP}"


@dataclass(frozen=True)
class RuntimeWiring:
    """Deploy-time values (usually tokens) the runtime needs besides the settings."""

    code_interpreter_id: str
    files_bucket: str
    table_name: str
    job_state_machine_arn: str


def runtime_environment(settings: CodeExecutionProps, wiring: RuntimeWiring) -> dict[str, str]:
    """Environment variables for every Lambda function of the construct."""
    return {
        "CODE_INTERPRETER_ID": wiring.code_interpreter_id,
        "FILES_BUCKET": wiring.files_bucket,
        "TABLE_NAME": wiring.table_name,
        "JOB_STATE_MACHINE_ARN": wiring.job_state_machine_arn,
        "DEFAULT_MODEL_ID": settings.model_id,
        "ALLOWED_MODEL_IDS": ",".join(settings.allowed_model_ids),
        "SANDBOX_MODEL_IDS": ",".join(settings.sandbox_model_ids),
        "SANDBOX_SMALL_MODEL_ID": settings.sandbox_small_model_id,
        "SESSION_TIMEOUT_SECONDS": str(settings.session_timeout_seconds),
        "SESSION_TTL_SECONDS": str(settings.session_ttl_seconds),
        "FILES_URL_EXPIRY_SECONDS": str(settings.files_url_expiry_seconds),
        "MODEL_ALIASES": json.dumps(settings.anthropic_models, sort_keys=True),
        "CONTAINER_IDLE_SECONDS": str(settings.container_idle_seconds),
        "FILES_EXPIRATION_DAYS": str(settings.files_expiration_days),
        "SWEEP_GRACE_SECONDS": str(settings.sweep_grace_seconds),
        "WEB_SEARCH_ID": settings.web_search_id,
        "PTC_TOOL_MODULES": tool_modules_environment(settings.tools),
    }


def streaming_environment(environment: dict[str, str]) -> dict[str, str]:
    """The streaming function's environment: the runtime's, plus the exec wrapper that starts
    the streaming Runtime API loop instead of the stock runtime client."""
    return {**environment, "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER}
