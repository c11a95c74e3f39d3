"""Anthropic model names -> the Bedrock model ids this deployment allows, and ``/v1/models``.

The names come from the ``MODEL_ALIASES`` setting (derived at synth from ``allowedModelIds``,
plus the deployment's ``modelAliases``): ``claude-sonnet-4-5`` and
``claude-sonnet-4-5-20250929`` both call ``us.anthropic.claude-sonnet-4-5-20250929-v1:0``.
An allowed Bedrock id is accepted as a model name too. Anything else answers 404
``not_found_error``, as Anthropic's API does for an unknown model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from code_exec.config import RuntimeConfig
from code_exec.exceptions import NotFoundError

__all__ = ["list_models", "model_info", "resolve_model"]

_DATE = re.compile(r"-(\d{4})(\d{2})(\d{2})(?:-|$)")


def resolve_model(config: RuntimeConfig, name: str) -> str:
    """The Bedrock model id for a model name of a request."""
    aliases = dict(config.model_aliases)
    if name in aliases:
        return aliases[name]
    if name in config.allowed_model_ids:
        return name
    raise NotFoundError(f"model: {name}", field="model")


def _display_name(name: str) -> str:
    """``claude-sonnet-4-5-20250929`` -> ``Claude Sonnet 4.5``."""
    words = _DATE.sub("", name).split("-")
    out, numbers = [], []
    for w in words:
        if w.isdigit():
            numbers.append(w)
        else:
            if numbers:
                out.append(".".join(numbers))
                numbers = []
            out.append(w.capitalize())
    if numbers:
        out.append(".".join(numbers))
    return " ".join(out)


def _created(name: str, bedrock_id: str) -> str:
    m = _DATE.search(name) or _DATE.search(bedrock_id)
    if m is None:
        return "1970-01-01T00:00:00Z"
    when = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
    return when.isoformat().replace("+00:00", "Z")


def model_info(config: RuntimeConfig, name: str) -> dict[str, Any]:
    """One model as ``GET /v1/models/{id}`` describes it."""
    bedrock_id = resolve_model(config, name)
    return {
        "type": "model",
        "id": name,
        "display_name": _display_name(name),
        "created_at": _created(name, bedrock_id),
        "lifecycle": "active",
    }


def list_models(
    config: RuntimeConfig,
    *,
    limit: int = 20,
    after_id: str | None = None,
    before_id: str | None = None,
) -> dict[str, Any]:
    """``GET /v1/models``: the configured names, newest first, paged like Anthropic's list."""
    infos = sorted(
        (model_info(config, name) for name, _ in config.model_aliases),
        key=lambda m: (m["created_at"], m["id"]),
        reverse=True,
    )
    ids = [m["id"] for m in infos]
    if after_id in ids:
        infos = infos[ids.index(after_id) + 1 :]
    elif before_id in ids:
        infos = infos[: ids.index(before_id)][-limit:]
    page = infos[:limit]
    return {
        "data": page,
        "has_more": len(infos) > len(page),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
