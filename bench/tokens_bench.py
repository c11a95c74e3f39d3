"""Tokens sent to the model for the expense audit: direct tool calls vs PTC, side by side.

Both modes run in one process, each replayed through the real ``messages`` loop
(``run_agent`` -> boto3 ``bedrock-runtime`` InvokeModel) with the recorded model turns
in ``tests/fixtures/bedrock/invoke_expense_audit_{direct,ptc}.json``, and with real tool
execution: direct mode runs the tools in the orchestrator and every result goes into the
model's context; PTC mode runs the model's code in a code-interpreter emulator session
where the same tools are preloaded, and only what the code prints comes back.

What is measured is what crossed the wire to the model: the request bodies, summed
over all model calls. Tokens are estimated OFFLINE with Claude's tokenizer
(``tokenizer.json`` shipped inside the ``anthropic-bedrock`` 0.8.0 wheel, read with
Hugging Face ``tokenizers``; both pinned in requirements-dev.txt). It is the tokenizer
of earlier Claude models, so absolute counts are estimates; the ratio is the point.

    .venv/bin/python -m bench.tokens_bench
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "lambda"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

__all__ = ["TOKENIZER", "ModeResult", "count_tokens", "main", "run_bench"]

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
    from code_exec.ptc_assets import expense_registry

    from tests.runtime.bedrock_replay import bedrock_client, play

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
        from tests.runtime.bedrock_replay import emulated_sandbox

        with emulated_sandbox() as sb:
            return run_bench(sb)
    return {mode: _run_mode(mode, sandbox) for mode in ("direct", "ptc")}


def reduction(results: dict[str, ModeResult], attr: str) -> float:
    """Percent fewer ``attr`` (request_bytes / request_tokens) in PTC mode than in direct mode."""
    direct, ptc = getattr(results["direct"], attr), getattr(results["ptc"], attr)
    return 100.0 * (1.0 - ptc / direct)


def main() -> int:
    results = run_bench()
    d, p = results["direct"], results["ptc"]
    print("Expense audit (8 engineers, Q3): direct tool calls vs programmatic tool calling")
    print(f"tokenizer: {TOKENIZER}\n")
    print(f"{'':22}{'direct':>12}{'PTC':>12}{'reduction':>12}")
    print(f"{'model calls':22}{d.model_calls:>12}{p.model_calls:>12}")
    print(
        f"{'request bytes':22}{d.request_bytes:>12,}{p.request_bytes:>12,}"
        f"{reduction(results, 'request_bytes'):>11.1f}%"
    )
    print(
        f"{'request tokens (est.)':22}{d.request_tokens:>12,}{p.request_tokens:>12,}"
        f"{reduction(results, 'request_tokens'):>11.1f}%"
    )
    print(f"{'exact answer':22}{d.exact!s:>12}{p.exact!s:>12}")
    lo, hi = PUBLISHED_REDUCTION
    print(f"\npublished figure for this task: {lo:.0f}-{hi:.0f}% fewer tokens")
    print("PTC stdout:\n" + p.answer)
    ok = p.exact and reduction(results, "request_tokens") >= lo
    print(
        json.dumps(
            {
                "reduction_tokens_pct": round(reduction(results, "request_tokens"), 1),
                "reduction_bytes_pct": round(reduction(results, "request_bytes"), 1),
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
