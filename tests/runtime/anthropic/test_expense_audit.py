"""The expense audit through /v1/messages with the client's tools: programmatic tool calling
answers exactly with fewer Bedrock calls and a fraction of the tokens direct tool calling sends."""

from __future__ import annotations

import pytest

from devtools.messages_audit import run_audit

from .conftest import MODEL, Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]


def test_ptc_vs_direct_round_trips_model_calls_and_tokens(server: Server) -> None:
    runs = {}
    for mode in ("direct", "ptc"):
        with server.replay(f"anthropic_expense_audit_{mode}") as replay:
            runs[mode] = run_audit(server.client(), replay, mode, model=MODEL)
    direct, ptc = runs["direct"], runs["ptc"]
    saved = 100 * (1 - ptc.request_tokens / direct.request_tokens)
    print(
        f"\nexpense audit via /v1/messages: direct {direct.round_trips} round trips, "
        f"{direct.model_calls} Bedrock calls, {direct.request_tokens} tokens; PTC "
        f"{ptc.round_trips} round trips, {ptc.model_calls} Bedrock calls, "
        f"{ptc.request_tokens} tokens ({saved:.1f}% fewer)"
    )
    assert ptc.exact, ptc.answer  # the three over-budget rows, to the cent, printed by the cell
    assert "Alice Chen" in direct.answer
    # one cell: three rounds of client tool calls (1 + 8 in parallel + the over-budget ones),
    # then the answer; the model is called twice
    assert (ptc.round_trips, ptc.model_calls) == (4, 2)
    assert ptc.tool_calls == 1 + 8 + 5
    assert direct.model_calls == direct.round_trips == 4
    assert ptc.request_tokens < 0.25 * direct.request_tokens
