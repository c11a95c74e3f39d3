"""Type and range checks of the props, each failure naming the prop (or context key)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "ARCHITECTURES",
    "CHOICES",
    "INT_RANGES",
    "LOG_RETENTION_DAYS",
    "NETWORK_MODES",
    "PYTHON_VERSIONS",
    "PropsError",
    "check_types",
]

NETWORK_MODES = ("PUBLIC", "SANDBOX", "VPC")
ARCHITECTURES = ("x86_64", "arm64")
PYTHON_VERSIONS = ("3.14", "3.13")
# The values CloudWatch Logs accepts for a retention period (aws_logs.RetentionDays).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# Allowed ranges of the integer props (the context readers in stacks/settings.py use them too).
INT_RANGES: dict[str, tuple[int, int]] = {
    "session_timeout_seconds": (60, 28800),
    "session_ttl_seconds": (60, 30 * 86400),
    "files_url_expiry_seconds": (60, 604800),
    "files_expiration_days": (1, 3650),
    "api_throttle_rate_limit": (1, 10000),
    "api_throttle_burst_limit": (1, 5000),
    "job_timeout_seconds": (60, 900),
    "container_idle_seconds": (60, 28800),
    # A session leaks for at most interval + grace; an hour bounds that.
    "sweep_interval_minutes": (1, 60),
    # At least a minute: longer than any owner takes between starting a session and
    # recording it (a buffered request ends at API Gateway's 29 s). The runtime reads
    # it as SWEEP_GRACE_SECONDS with the same range.
    "sweep_grace_seconds": (60, 28800),
    "reserved_concurrency": (1, 1000),
}
CHOICES: dict[str, tuple[Any, ...]] = {
    "network_mode": NETWORK_MODES,
    "lambda_architecture": ARCHITECTURES,
    "lambda_python_version": PYTHON_VERSIONS,
    "log_retention_days": LOG_RETENTION_DAYS,
}


class PropsError(ValueError):
    """A prop is malformed or not allowed. The message names the prop and what is allowed."""


_BOOLS = ("require_api_key", "api_gateway_cloud_watch_role")
_STRS = ("model_id", "interpreter_name", "network_mode", "vpc_id", "lambda_architecture",
         "lambda_python_version", "alarm_email", "alarm_topic_kms_key_arn")  # fmt: skip
_STR_LISTS = ("allowed_model_ids", "sandbox_model_ids", "subnet_ids", "security_group_ids")


def check_types(
    props: Any, label: Callable[[str], str], error: type[PropsError] = PropsError
) -> None:
    """Each field has its type and an allowed value (ranges, choices); cross-field rules are
    the props' own ``validate``.

    Raises:
        error: naming the field with ``label``.
    """
    for name in _STRS:
        value = getattr(props, name)
        if not isinstance(value, str):
            raise error(f"{label(name)} must be a string, got {value!r}")
    for name in _BOOLS:
        value = getattr(props, name)
        if not isinstance(value, bool):
            raise error(f"{label(name)}: {value!r} is not allowed; allowed values: true, false")
    for name in _STR_LISTS:
        value = getattr(props, name)
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise error(f"{label(name)} must be a list of strings, got {value!r}")
    for name, (lo, hi) in INT_RANGES.items():
        value = getattr(props, name)
        if value is None and name == "reserved_concurrency":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{label(name)} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise error(f"{label(name)}: {value} is not allowed; allowed values: {lo}..{hi}")
    for name, allowed in CHOICES.items():
        value = getattr(props, name)
        if value not in allowed:
            raise error(
                f"{label(name)}: {value!r} is not allowed; allowed values: "
                f"{', '.join(str(a) for a in allowed)}"
            )
    _check_mappings(props, label, error)


def _check_mappings(props: Any, label: Callable[[str], str], error: type[PropsError]) -> None:
    regions = props.inference_profile_regions
    if not isinstance(regions, Mapping) or not all(
        isinstance(k, str)
        and isinstance(v, tuple | list)
        and v
        and all(isinstance(r, str) for r in v)
        for k, v in regions.items()
    ):
        raise error(
            f"{label('inference_profile_regions')} must map a profile prefix to a non-empty "
            f"list of regions, e.g. {{'us': ['us-east-1', 'us-west-2']}}, got {regions!r}"
        )
    aliases = props.model_aliases
    if not isinstance(aliases, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
    ):
        raise error(
            f"{label('model_aliases')} must map Anthropic model names to Bedrock model ids, "
            f"got {aliases!r}"
        )
