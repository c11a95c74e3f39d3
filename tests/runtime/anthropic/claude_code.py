"""What the Claude Code CLI tests share: the CLI run against the test server's ``/v1``."""

from __future__ import annotations

from pathlib import Path

from devtools.claude_cli import CLIS, CliRun, run_claude

from .conftest import MODEL, Server

__all__ = ["CLIS", "run_against"]


def run_against(
    server: Server,
    version: str,
    scratch: Path,
    prompt: str,
    *,
    args: tuple[str, ...] = ("--output-format", "json"),
    env: dict[str, str] | None = None,
    bridges: dict[int, int] | None = None,
) -> CliRun:
    """Claude Code ``version`` headless against ``server``, as a user points it at a gateway:
    ``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY`` and the deployment's model."""
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    base = {
        "ANTHROPIC_API_KEY": server.keys["alice"],
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
    }
    return run_claude(
        CLIS[version],
        port,
        scratch,
        prompt,
        env={**base, **(env or {})},
        args=args,
        bridges=bridges,
    )
