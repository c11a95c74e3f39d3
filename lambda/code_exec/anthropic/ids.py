"""Identifiers in Anthropic's formats: ``msg_``, ``srvtoolu_``, ``toolu_``, ``container_``,
``file_``; and the request id.

The SDK treats ids as opaque strings, but clients (and their logs) recognise the prefixes.
A server tool use keeps the id of the Bedrock ``tool_use`` it stands for, behind the
``srvtoolu_`` prefix: the same id then names it in every later request's history, on both
sides of the translation, and nothing has to be remembered to map one to the other.
"""

from __future__ import annotations

import secrets
import string
import time

__all__ = [
    "bedrock_tool_id",
    "new_container_id",
    "new_file_id",
    "new_message_id",
    "new_tool_use_id",
    "request_id",
    "server_tool_id",
]

_ALPHABET = string.ascii_letters + string.digits
_SORTED = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ASCII order
SERVER_PREFIX = "srvtoolu_"
TOOL_PREFIX = "toolu_"


def _token(n: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_message_id() -> str:
    return f"msg_{_token()}"


def new_container_id() -> str:
    return f"container_{_token()}"


def new_file_id(now: float | None = None) -> str:
    """``file_`` + the creation time (milliseconds, 8 base-62 digits in ASCII order) + 16
    random characters: ids sort by creation, so ``GET /v1/files`` pages by a key range."""
    ms = int((time.time() if now is None else now) * 1000)
    stamp = ""
    for _ in range(8):
        ms, digit = divmod(ms, 62)
        stamp = _SORTED[digit] + stamp
    return f"file_{stamp}{_token(16)}"


def new_tool_use_id() -> str:
    """A client ``tool_use`` id for a call made from code (never seen by the model)."""
    return f"{TOOL_PREFIX}{_token()}"


def server_tool_id(bedrock_id: str) -> str:
    """The ``srvtoolu_`` id of the server tool use standing for Bedrock's ``tool_use``."""
    return SERVER_PREFIX + bedrock_id.removeprefix(TOOL_PREFIX)


def bedrock_tool_id(server_id: str) -> str:
    """The inverse of :func:`server_tool_id` (ids the model produced get their prefix back)."""
    return TOOL_PREFIX + server_id.removeprefix(SERVER_PREFIX)


def request_id(api_gateway_request_id: str | None) -> str:
    """API Gateway's request id, as is: the ``request-id`` header and ``request_id`` of errors.

    Not ``req_``-prefixed like Anthropic's: API Gateway's own error responses (a refused API
    key) can only echo ``$context.requestId`` unchanged, and one id in one format on every
    response is what lets a caller's report be found in the API's logs.
    """
    return api_gateway_request_id or f"req_{_token()}"
