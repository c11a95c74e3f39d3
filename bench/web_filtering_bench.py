"""Dynamic filtering, measured: five long pages and one table, through ``/v1/messages``.

``web_fetch_20250910`` (every page enters the model's context) against ``web_fetch_20260209``
(the model's code fetches the pages in the container and prints only the table), in one run,
with the real ``anthropic`` SDK against the local API as ``make local`` serves it: the
code-interpreter emulator (sandbox and ``InvokeWebSearch``), the real fetcher over the web
corpus fixture on loopback, moto, recorded model turns (:mod:`devtools.web_bench`). Printed:
per mode, Bedrock calls, request bytes, tokens sent to the model (offline estimate) and
whether the answer is the exact table; then the milliseconds a web call costs from code
against the backend alone. The last line is JSON (what ``tests/bench`` reads).

    .venv/bin/python -m bench.web_filtering_bench
"""

from __future__ import annotations

import json
import os

from devtools.bedrock_replay import bedrock_client
from devtools.tokens import TOKENIZER
from devtools.web_bench import MODES, call_overhead, expected_table, run_mode

__all__ = ["GOAL", "main"]

GOAL = 80.0  # percent fewer tokens sent to the model with dynamic filtering (issue 17)
_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
_ENV = {
    "TABLE_NAME": "bench-table",
    "FILES_BUCKET": "bench-files",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "ALLOWED_MODEL_IDS": _MODEL,
    "MODEL_ALIASES": json.dumps({"claude-sonnet-4-5": _MODEL}),
}


def main() -> int:
    import anthropic
    from botocore.config import Config
    from moto import mock_aws

    from devtools.local_aws import create_resources
    from devtools.local_server import LocalApi
    from emulators.code_interpreter.spawn import start_emulator
    from emulators.web_corpus import CorpusServer

    os.environ.update(_ENV)
    with start_emulator() as emulator, CorpusServer() as corpus, mock_aws():
        from code_exec.web.fetcher import LOOPBACK_CORPUS_ENV

        os.environ["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"] = emulator.url
        os.environ[LOOPBACK_CORPUS_ENV] = corpus.loopback_spec()  # local only
        create_resources(_ENV["TABLE_NAME"], _ENV["FILES_BUCKET"], region="us-east-1")
        from code_exec.anthropic import authorizer
        from code_exec.api import handler, streamed
        from code_exec.sandbox import SandboxClient
        from code_exec.store import new_key

        bedrock = bedrock_client(endpoint_url="https://bedrock-runtime.replay.invalid")
        for services in (handler.services, streamed.services):
            services.reset()
            services.override(bedrock=bedrock)
        key = new_key()
        handler.services.store.put_api_key(key, owner="bench", name="bench")
        with LocalApi(handler.api_handler, authorizer.handler, workers=1) as api:
            client = anthropic.Anthropic(base_url=api.url, api_key=key, max_retries=0)
            runs = {mode: run_mode(client, bedrock, mode) for mode in MODES}
        table = expected_table(streamed.services.web_fetcher)
        sandbox = SandboxClient(
            "aws.codeinterpreter.v1",
            client=emulator.client(Config(read_timeout=120, retries={"total_max_attempts": 1})),
        )
        overhead = call_overhead(
            sandbox, streamed.services.web_search, streamed.services.web_fetcher
        )
    plain, filtered = runs["plain"], runs["filtered"]
    cut = 100.0 * (1.0 - filtered.request_tokens / plain.request_tokens)
    exact = {mode: table in run.answer for mode, run in runs.items()}
    print("Five long pages, one table: web_fetch_20250910 vs dynamic filtering (20260209)")
    print(f"tokenizer: {TOKENIZER}\n")
    print(f"{'':26}{'plain':>12}{'filtered':>12}")
    for label, attr in (
        ("Bedrock calls", "model_calls"),
        ("web fetch requests", "web_fetch_requests"),
        ("request bytes", "request_bytes"),
        ("request tokens (est.)", "request_tokens"),
    ):
        print(f"{label:26}{getattr(plain, attr):>12,}{getattr(filtered, attr):>12,}")
    print(f"{'exact table':26}{exact['plain']!s:>12}{exact['filtered']!s:>12}")
    print(f"\ntokens sent to the model: {cut:.1f}% fewer with dynamic filtering (goal {GOAL:.0f}%)")
    print("\nper call, sequential, ms (emulator search, loopback corpus fetch):")
    print(f"{'':14}{'backend':>10}{'from code':>12}{'overhead':>10}{'ratio':>8}")
    for tool in ("web_search", "web_fetch"):
        alone, coded = overhead[f"{tool}_backend_ms"], overhead[f"{tool}_from_code_ms"]
        ratio = coded / alone if alone else float("nan")
        print(f"{tool:14}{alone:>10.1f}{coded:>12.1f}{coded - alone:>10.1f}{ratio:>7.2f}x")
    ok = all(exact.values()) and cut >= GOAL
    print(
        json.dumps(
            {
                "plain_tokens": plain.request_tokens,
                "filtered_tokens": filtered.request_tokens,
                "plain_model_calls": plain.model_calls,
                "filtered_model_calls": filtered.model_calls,
                "plain_fetches": plain.web_fetch_requests,
                "filtered_fetches": filtered.web_fetch_requests,
                "reduction_tokens_pct": round(cut, 1),
                "exact": exact,
                "overhead_ms": {k: round(v, 1) for k, v in overhead.items()},
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
