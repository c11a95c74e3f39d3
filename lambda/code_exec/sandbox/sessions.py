"""Every session of the interpreter (``ListCodeInterpreterSessions``), for the sweeper.

A subclass of :class:`~code_exec.sandbox.client.SandboxClient`, so listing goes through the
same error translation and safe retries as every other call; only the sweeper needs it.

Shapes follow botocore's ``bedrock-agentcore`` model: the request takes
``codeInterpreterIdentifier`` (URI), ``maxResults`` (1..100, default 10), ``nextToken``
and ``status`` (``READY`` | ``TERMINATED``); the response has ``items`` (each with
``codeInterpreterIdentifier``, ``sessionId``, ``status``, ``createdAt``, optional ``name``
and ``lastUpdatedAt``) and ``nextToken`` while more pages remain. IAM action:
``bedrock-agentcore:ListCodeInterpreterSessions`` on the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from code_exec.sandbox.client import SandboxClient

__all__ = ["SessionSummary", "SessionsClient"]

_PAGE = 100  # the model's maximum for maxResults


@dataclass(frozen=True)
class SessionSummary:
    """One item of ``ListCodeInterpreterSessions``."""

    session_id: str
    status: str  # READY | TERMINATED
    created_at: datetime  # timezone-aware (botocore parses the ISO 8601 timestamp)
    name: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SessionSummary:
        return cls(
            session_id=str(item["sessionId"]),
            status=str(item["status"]),
            created_at=item["createdAt"],
            name=item.get("name"),
        )


class SessionsClient(SandboxClient):
    """The sandbox client, plus listing the interpreter's sessions."""

    def list_sessions(self, *, status: str | None = "READY") -> list[SessionSummary]:
        """Every session of this interpreter with ``status`` (None: any), all pages."""
        kwargs: dict[str, Any] = {
            "codeInterpreterIdentifier": self.interpreter_id,
            "maxResults": _PAGE,
        }
        if status:
            kwargs["status"] = status
        found: list[SessionSummary] = []
        while True:
            resp = self._call("list_code_interpreter_sessions", None, retry_safe=True, **kwargs)
            found += [SessionSummary.from_item(item) for item in resp.get("items", [])]
            token = resp.get("nextToken")
            if not token:
                return found
            kwargs["nextToken"] = token
