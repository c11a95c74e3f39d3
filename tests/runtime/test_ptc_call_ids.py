"""Call ids come out of the sandbox (a cell can rewrite the bridge's state): only ids of the
bridge's own fixed pattern are accepted, so none can grow the container record, name a path
outside the bridge's results, or smuggle anything into what is stored and sent back."""

from __future__ import annotations

import json

import pytest
from code_exec.exceptions import SandboxError
from code_exec.ptc.relay import REPLY_MARKER, parse_reply
from code_exec.sandbox.types import ExecutionResult


def _reply(call_id: str) -> ExecutionResult:
    call = {"id": call_id, "cell": 1, "tool": "lookup", "input": {"word": "x"}}
    line = REPLY_MARKER + json.dumps({"status": "pending", "cell": 1, "pending": [call]})
    return ExecutionResult(stdout=line + "\n", stderr="", exit_code=0, is_error=False, text="")


def test_a_call_id_of_the_bridges_pattern_is_accepted() -> None:
    [call] = parse_reply(_reply("0123456789abcdef")).pending
    assert call.id == "0123456789abcdef"


@pytest.mark.parametrize(
    "call_id",
    ["e" * 200_000, "../../results/x", "", "0123456789ABCDEF", "0123456789abcdef\n", "ab" * 9],
)
def test_a_call_id_of_any_other_shape_is_refused(call_id: str) -> None:
    with pytest.raises(SandboxError, match="call id"):
        parse_reply(_reply(call_id))
