"""Schemathesis hooks for the contract run (test_api_contract): its one custom check.

The schemathesis CLI loads this file by path (``SCHEMATHESIS_HOOKS``) in its own process;
``--checks all`` then includes every check registered here. Nothing here imports the project.
"""

from __future__ import annotations

from typing import Any

import schemathesis

# What ``make local`` lacks, each answered 502 with its documented code: the model answers only
# its recorded prompts (others are Bedrock's 400, answered ``ModelError``), ``/jobs`` has no Step
# Functions (``JobsUnavailable``), the emulator's sandbox has no network (``loop: claude_code``
# cannot install Claude Code: ``ClaudeCodeNoNetwork``).
LOCAL_DEPENDENCY_ERRORS = {"ModelError", "JobsUnavailable", "ClaudeCodeNoNetwork"}


@schemathesis.check
def only_missing_dependencies(ctx: Any, response: Any, case: Any) -> bool | None:
    """A server error is one of the dependencies ``make local`` lacks, answered as documented."""
    if response.status_code < 500:
        return None
    try:
        code = (response.json() or {}).get("error", {}).get("code")
    except ValueError:  # not JSON: an unhandled error page
        code = None
    if response.status_code != 502 or code not in LOCAL_DEPENDENCY_ERRORS:
        raise AssertionError(f"server error {response.status_code} {code}: {response.text}")
    return None
