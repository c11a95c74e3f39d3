"""The PTC token reduction on the expense audit, from the recorded run (a ratio, not a timing)."""

from __future__ import annotations

import pytest
from code_exec.sandbox.client import SandboxClient

from devtools.tokens import count_tokens, reduction, run_bench

pytestmark = pytest.mark.sandbox


def test_offline_estimate_uses_the_pinned_claude_tokenizer():
    """An estimate, from the tokenizer file the pinned anthropic-bedrock wheel ships."""
    assert count_tokens("Hello, world! This is a test of the Claude tokenizer.") == 13


def test_ptc_sends_at_least_87_percent_fewer_tokens_with_the_exact_answer(agentcore_client):
    results = run_bench(SandboxClient("aws.codeinterpreter.v1", client=agentcore_client))
    direct, ptc = results["direct"], results["ptc"]

    assert ptc.exact, ptc.answer
    assert direct.exact
    assert reduction(results, "request_tokens") >= 87.0  # both sides offline estimates
    assert reduction(results, "request_bytes") >= 87.0
    assert direct.model_calls == ptc.model_calls == 4
