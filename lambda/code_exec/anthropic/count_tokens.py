"""``POST /v1/messages/count_tokens`` over Bedrock's ``CountTokens``.

What is counted is what the model would really receive for the request's first model call:
the InvokeModel body :func:`~code_exec.anthropic.bedrock.request_body` builds (the stand-in
tools and their prompts this deployment adds in place of Anthropic's server tools, the
conversation as :func:`~code_exec.anthropic.history.convert` rewrites it, context edits
applied), sent to ``CountTokens`` as ``input.invokeModel.body``. So the count matches what
the turn is billed for its first call, not what the client sent.

``CountTokens`` takes a bare foundation-model id: cross-region inference profile ids
(``us.``, ``eu.``, ``apac.``, ``global.``...) are rejected by the service, so the profile's
prefix is removed (:func:`foundation_model_id`). Models Bedrock cannot count for answer a
400 that says so.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.anthropic.bedrock import request_body
from code_exec.anthropic.context_edits import apply_edits
from code_exec.anthropic.files import AnthropicFiles
from code_exec.anthropic.history import convert
from code_exec.anthropic.model_catalog import resolve_model
from code_exec.anthropic.surface import split_betas
from code_exec.anthropic.tools import plan_tools
from code_exec.anthropic.wire import CountTokensRequest
from code_exec.exceptions import ModelValidationError
from code_exec.loops.common import model_error

__all__ = ["count_tokens", "foundation_model_id"]

logger = logging.getLogger(__name__)

# Cross-region inference profile prefixes (Bedrock's "Supported Regions and models for
# inference profiles"); CountTokens answers ValidationException for a profile id.
_PROFILE_PREFIXES = ("global.", "us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.")


def foundation_model_id(model_id: str) -> str:
    """The foundation model a Bedrock model id names (a profile's prefix removed)."""
    if model_id.startswith("arn:"):
        return model_id  # a foundation-model ARN is accepted as it is
    for prefix in _PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def count_tokens(
    services: Any, request: CountTokensRequest, *, owner: str, beta_header: str | None
) -> dict[str, Any]:
    """Anthropic's ``MessageTokensCount`` for ``request``: ``{"input_tokens": n}``, plus
    ``context_management.original_input_tokens`` when context edits were asked for.

    Raises:
        CodeExecError: (subclasses) a bad request (400), a model Bedrock cannot count for,
            or Bedrock's failure, translated like any model call's.
    """
    model_id = foundation_model_id(resolve_model(services.config, request.model))
    betas = list(split_betas(beta_header).passed)
    plan = plan_tools(request)
    edited = apply_edits(request)
    body = _body(services, request, edited.messages, plan, betas, owner=owner)
    answer: dict[str, Any] = {"input_tokens": _count(services, model_id, body)}
    if request.context_management is not None:
        original = answer["input_tokens"]
        if edited.applied:
            whole = _body(services, request, request.messages, plan, betas, owner=owner)
            original = _count(services, model_id, whole)
        answer["context_management"] = {"original_input_tokens": original}
    return answer


def _body(
    services: Any,
    request: CountTokensRequest,
    messages: list[Any],
    plan: Any,
    betas: list[str],
    *,
    owner: str,
) -> dict[str, Any]:
    """The first model call's InvokeModel body for ``messages``."""
    history = convert(messages)
    if history.uploads:
        files = AnthropicFiles(services)

        def described(file_id: str) -> str:
            record = files.get(owner, file_id)  # 404 for a file the owner does not have
            placed = {
                "filename": record.filename,
                "mime_type": record.mime_type,
                "size_bytes": record.size_bytes,
            }
            return files.upload_text(placed)

        history.describe_uploads(described)
    body = request_body(request, plan, history.messages, betas)
    budget = (request.thinking or {}).get("budget_tokens")
    if isinstance(budget, int) and body["max_tokens"] <= budget:
        body["max_tokens"] = budget + 1  # Bedrock requires max_tokens above the budget
    return body


def _count(services: Any, model_id: str, body: dict[str, Any]) -> int:
    """Bedrock's count of ``body`` for ``model_id``."""
    try:
        reply = services.bedrock.count_tokens(
            modelId=model_id, input={"invokeModel": {"body": json.dumps(body).encode("utf-8")}}
        )
    except ClientError as e:
        message = str(e.response.get("Error", {}).get("Message", ""))
        if "support" in message.lower() and "count" in message.lower():
            raise ModelValidationError(
                f"Bedrock cannot count tokens for {model_id}; count them with a model that "
                "supports CountTokens",
                field="model",
            ) from e
        raise model_error(e, model_id) from e
    except BotoCoreError as e:
        raise model_error(e, model_id) from e
    return int(reply["inputTokens"])
