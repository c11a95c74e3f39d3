"""Token usage of a turn: summed over its Bedrock calls, in Anthropic's ``usage`` shape.

``server_tool_use`` carries the two counters the SDK requires (``web_search_requests``,
``web_fetch_requests``: the web tool requests run in the turn, from code included) and
``code_execution_requests``, the number of server tool uses run in the turn (Anthropic's docs
name it; the SDK keeps unknown keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Usage"]


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0
    code_execution_requests: int = 0
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    model_calls: int = 0

    def add(self, usage: dict[str, Any]) -> None:
        """Add one Bedrock response's ``usage``."""
        self.model_calls += 1
        self.input_tokens += int(usage.get("input_tokens") or 0)
        self.output_tokens += int(usage.get("output_tokens") or 0)
        self.cache_creation_input_tokens += int(usage.get("cache_creation_input_tokens") or 0)
        self.cache_read_input_tokens += int(usage.get("cache_read_input_tokens") or 0)
        creation = usage.get("cache_creation") or {}
        self.ephemeral_5m_input_tokens += int(creation.get("ephemeral_5m_input_tokens") or 0)
        self.ephemeral_1h_input_tokens += int(creation.get("ephemeral_1h_input_tokens") or 0)

    def wire(self) -> dict[str, Any]:
        """The response's ``usage`` object."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
            "server_tool_use": {
                "web_search_requests": self.web_search_requests,
                "web_fetch_requests": self.web_fetch_requests,
                "code_execution_requests": self.code_execution_requests,
            },
            "service_tier": "standard",
        }
