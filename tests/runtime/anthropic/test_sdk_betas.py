"""The SDK's beta namespace with every beta the request-surface table takes (issue 15, item 7).

``client.beta.messages.create`` and ``.stream`` under strict response validation, once per
row of :data:`code_exec.anthropic.surface.BETAS` marked ``passed`` or ``implemented`` (a row
added to the table is covered here without a new test): each answers 2xx in Anthropic's
shapes; a ``passed`` beta reaches Bedrock in ``anthropic_beta``, an ``implemented`` one never
does, and neither is reported dropped.
"""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import beta as beta_types
from code_exec.anthropic import surface

from .conftest import MODEL, Server, fixture, model_turn, text

pytestmark = [pytest.mark.filterwarnings("ignore:The model")]

TAKEN = [r for r in surface.BETAS if r.disposition in ("passed", "implemented")]


def _sent(server: Server, name: str, stream: bool) -> tuple[Any, dict[str, Any], Any]:
    """The beta message, the body Bedrock got, and the response's headers."""
    c = server.client().beta.messages
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 64,
        "betas": [name],
        "messages": [{"role": "user", "content": "Say hi."}],
    }
    with server.replay(fixture(model_turn(text("Hi!")))) as replay:
        if stream:
            with c.stream(**kwargs) as s:
                events = [e.type for e in s]
                message, headers = s.get_final_message(), s.response.headers
            assert events[0] == "message_start" and events[-1] == "message_stop"
        else:
            raw = c.with_raw_response.create(**kwargs)
            message, headers = raw.parse(), raw.headers
    [exchange] = replay.exchanges
    return message, exchange.request, headers


def test_the_table_takes_the_betas_this_deployment_does_something_with() -> None:
    names = {r.name for r in TAKEN}
    assert {"tool-search-tool-2025-10-19", "advanced-tool-use-2025-11-20"} <= names
    assert {"code-execution-2025-08-25", "files-api-2025-04-14"} <= names
    assert "interleaved-thinking-2025-05-14" in names


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("row", TAKEN, ids=[r.name for r in TAKEN])
def test_every_beta_taken_answers_in_anthropics_shapes(
    server: Server, row: surface.Row, stream: bool
) -> None:
    message, sent, headers = _sent(server, row.name, stream)
    assert isinstance(message, beta_types.BetaMessage)
    assert [b.type for b in message.content] == ["text"] and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 100 and message.usage.output_tokens == 20
    assert surface.DROPPED_HEADER not in headers
    if row.disposition == "passed":
        assert sent["anthropic_beta"] == [row.name]
    else:
        assert "anthropic_beta" not in sent


def test_all_of_them_at_once_and_an_unknown_one(server: Server) -> None:
    names = [r.name for r in TAKEN]
    with server.replay(fixture(model_turn(text("Hi!")))) as replay:
        raw = server.client().beta.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=64,
            betas=[*names, "no-such-beta-2099-01-01"],
            messages=[{"role": "user", "content": "Say hi."}],
        )
    assert isinstance(raw.parse(), beta_types.BetaMessage)
    assert raw.headers[surface.DROPPED_HEADER] == "no-such-beta-2099-01-01"
    passed = [r.name for r in TAKEN if r.disposition == "passed"]
    assert replay.exchanges[0].request["anthropic_beta"] == passed
