"""PTC tools for the hostile-cell suite (``test_hostile_cells.py``).

Standard library only: a *preloaded* tool's module is sent into the sandbox and imported
there. ``HOST_CALLS`` records every call that ran in THIS process (the orchestrator's side of
the bridge, i.e. the Lambda with its role): what the tests check.
"""

from __future__ import annotations

from typing import Any

HOST_CALLS: list[tuple[str, Any]] = []


def secret_tool(department: str) -> str:
    """A tool that must only run inside the sandbox (preloaded placement).

    Args:
        department: Anything.

    Returns:
        Where it ran.
    """
    HOST_CALLS.append(("secret_tool", department))
    return "ran"


def lookup(key: str) -> str:
    """Look a key up (bridged placement: runs in the orchestrator).

    Args:
        key: The key, a string.

    Returns:
        The key's type, as the tool received it.
    """
    HOST_CALLS.append(("lookup", key))
    return type(key).__name__


def leaky(key: str) -> str:
    """A tool whose failure message holds what the sandbox must not see.

    Args:
        key: Anything.

    Returns:
        Never returns.
    """
    HOST_CALLS.append(("leaky", key))
    raise RuntimeError("AccessDenied for arn:aws:iam::123456789012:role/orchestrator-secret")
