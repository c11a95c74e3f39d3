"""Offline token estimates, and the expense audit's tokens in direct mode vs PTC mode.

Tokens are estimated with Claude's tokenizer (``tokenizer.json`` shipped inside the
``anthropic-bedrock`` 0.8.0 wheel, read with Hugging Face ``tokenizers``; both pinned in
requirements-dev.txt). It is the tokenizer of earlier Claude models, so absolute counts
are estimates; ratios measured with it side by side are what ``bench/tokens_bench.py``
reports and what the tests assert.

Both modes are replayed through the real ``messages`` loop (``run_agent`` -> boto3
``bedrock-runtime`` InvokeModel) with the recorded model turns in
``tests/fixtures/bedrock/invoke_expense_audit_{direct,ptc}.json`` and real tool execution:
direct mode runs the tools in the orchestrator and every result goes into the model's
context; PTC mode runs the model's code in an emulator session where the same tools are
preloaded, and only what the code prints comes back. What is measured is what crossed
the wire to the model: the request bodies, summed over all model calls.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from devtools.bedrock_replay import bedrock_client, emulated_sandbox, play
from devtools.expense import expense_registry

__all__ = [
    "EXPECTED_ROWS",
    "PUBLISHED_REDUCTION",
    "TOKENIZER",
    "ModeResult",
    "count_tokens",
    "reduction",
    "run_bench",
]

TOKENIZER = "Claude tokenizer.json from anthropic-bedrock==0.8.0 (Hugging Face tokenizers)"
PUBLISHED_REDUCTION = (87.0, 92.0)  # percent, for this task
EXPECTED_ROWS = (
    "Alice Chen | $5,000.00 | $9,876.54 | +$4,876.54",
    "Emma Johnson | $5,000.00 | $5,266.02 | +$266.02",
    "Grace Taylor | $5,000.00 | $6,474.46 | +$1,474.46",
)


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("anthropic_bedrock")  # locate the file, do not import
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("anthropic-bedrock is not installed (see requirements-dev.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "tokenizer.json"
    return Tokenizer.from_file(str(path))


def count_tokens(text: str) -> int:
    """Estimated Claude tokens in ``text`` (offline)."""
    return len(_tokenizer().encode(text).ids)


@dataclass
class ModeResult:
    mode: str
    model_calls: int
    request_bytes: int
    request_tokens: int
    answer: str  # what proves the answer: the code's stdout (PTC) or the final text
    exact: bool


def _run_mode(mode: str, sandbox: Any) -> ModeResult:
    played = play(
        f"invoke_expense_audit_{mode}",
        loop="messages",
        sandbox=sandbox,
        bedrock=bedrock_client(),
        registry=expense_registry("preloaded"),
    )
    sandbox.stop_session(played.session_id)
    result = played.runs[-1].result
    if mode == "ptc":
        answer = "\n".join(r.stdout for r in result.code_runs if r.stdout)
    else:
        answer = result.text
    exact = all(row in answer for row in EXPECTED_ROWS)
    if mode == "direct":
        exact = all(f"| {row.replace(' | ', ' | ')} |" in answer for row in EXPECTED_ROWS)
    return ModeResult(
        mode=mode,
        model_calls=len(played.replay.exchanges),
        request_bytes=played.replay.bytes_sent,
        request_tokens=sum(count_tokens(x.body.decode()) for x in played.replay.exchanges),
        answer=answer,
        exact=exact,
    )


def run_bench(sandbox: Any = None) -> dict[str, ModeResult]:
    """Both modes, one after the other, in one run (starts an emulator unless given one)."""
    if sandbox is None:
        with emulated_sandbox() as sb:
            return run_bench(sb)
    return {mode: _run_mode(mode, sandbox) for mode in ("direct", "ptc")}


def reduction(results: dict[str, ModeResult], attr: str) -> float:
    """Percent fewer ``attr`` (request_bytes / request_tokens) in PTC mode than in direct mode."""
    direct, ptc = getattr(results["direct"], attr), getattr(results["ptc"], attr)
    return 100.0 * (1.0 - ptc / direct)
