"""Tokens sent to the model for the expense audit: direct tool calls vs PTC, side by side.

Both modes run in one process (see :mod:`devtools.tokens` for how they are replayed and
counted). Token counts are offline estimates with Claude's legacy tokenizer; the ratio
is the point.

    .venv/bin/python -m bench.tokens_bench
"""

from __future__ import annotations

import json

from devtools.tokens import PUBLISHED_REDUCTION, TOKENIZER, reduction, run_bench

__all__ = ["main"]


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
