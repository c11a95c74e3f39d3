"""Typed readers of one context value, behind :meth:`stacks.settings.Settings.from_context`.

Values come from ``cdk.json`` (JSON types) or ``cdk synth -c key=value`` (always strings), so
every reader accepts both forms, and a bad value raises :class:`SettingsError` naming the key
and what is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from bedrock_code_execution.checks import PropsError

__all__ = [
    "SettingsError",
    "read_aliases",
    "read_bool",
    "read_choice",
    "read_int",
    "read_int_choice",
    "read_opt_int",
    "read_profile_regions",
    "read_str",
    "read_str_list",
]


class SettingsError(PropsError):
    """A context value is missing or not allowed. The message names the key."""


def _raw(get: Callable[[str], Any], key: str) -> Any:
    value = get(key)
    if isinstance(value, str):
        value = value.strip()
    return value


def read_str(get: Callable[[str], Any], key: str, default: str) -> str:
    value = _raw(get, key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise SettingsError(f"context key {key!r} must be a string, got {value!r}")
    return value


def read_str_list(get: Callable[[str], Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = _raw(get, key)
    if value is None:
        return default
    if isinstance(value, str):
        if value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise SettingsError(f"context key {key!r}: not a JSON list: {value!r}") from e
        else:
            value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(
            f"context key {key!r} must be a list of strings (or comma-separated), got {value!r}"
        )
    return tuple(v.strip() for v in value if v.strip())


def read_choice(
    get: Callable[[str], Any], key: str, default: str, allowed: tuple[str, ...], *, upper=False
) -> str:
    value = read_str(get, key, default)
    normalized = value.upper() if upper else value
    if normalized not in allowed:
        raise SettingsError(
            f"context key {key!r}: {value!r} is not allowed; allowed values: {', '.join(allowed)}"
        )
    return normalized


def _to_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SettingsError(f"context key {key!r} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError as e:
        raise SettingsError(f"context key {key!r} must be an integer, got {value!r}") from e


def read_int(get: Callable[[str], Any], key: str, default: int, lo: int, hi: int) -> int:
    value = _raw(get, key)
    if value is None or value == "":
        return default
    number = _to_int(key, value)
    if not lo <= number <= hi:
        raise SettingsError(
            f"context key {key!r}: {number} is not allowed; allowed values: {lo}..{hi}"
        )
    return number


def read_opt_int(get: Callable[[str], Any], key: str, lo: int, hi: int) -> int | None:
    value = _raw(get, key)
    if value is None or value == "" or (isinstance(value, str) and value.lower() == "null"):
        return None
    return read_int(lambda _k: value, key, 0, lo, hi)


def read_int_choice(
    get: Callable[[str], Any], key: str, default: int, allowed: tuple[int, ...]
) -> int:
    value = _raw(get, key)
    if value is None or value == "":
        return default
    number = _to_int(key, value)
    if number not in allowed:
        raise SettingsError(
            f"context key {key!r}: {number} is not allowed; allowed values: "
            f"{', '.join(str(a) for a in allowed)}"
        )
    return number


def read_bool(get: Callable[[str], Any], key: str, default: bool) -> bool:
    value = _raw(get, key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise SettingsError(
        f"context key {key!r}: {value!r} is not allowed; allowed values: true, false"
    )


def _parsed_object(key: str, value: Any) -> Any:
    """``value`` as given in cdk.json, or parsed when it came as JSON text (``-c key='{...}'``)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise SettingsError(f"context key {key!r}: not a JSON object: {value!r}") from e


def read_profile_regions(
    get: Callable[[str], Any], key: str, default: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    value = _raw(get, key)
    if value is None:
        return dict(default)
    value = _parsed_object(key, value)
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and v and all(isinstance(r, str) for r in v) for v in value.values()
    ):
        raise SettingsError(
            f"context key {key!r} must map a profile prefix to a non-empty list of regions, "
            'e.g. {"us": ["us-east-1", "us-west-2"]}'
        )
    return {str(k): tuple(v) for k, v in value.items()}


def read_aliases(get: Callable[[str], Any], key: str) -> dict[str, str]:
    value = _raw(get, key)
    if value is None or value == "":
        return {}
    value = _parsed_object(key, value)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SettingsError(
            f"context key {key!r} must map Anthropic model names to Bedrock model ids, e.g. "
            '{"claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}'
        )
    return {k.strip(): v.strip() for k, v in value.items()}
