"""The expense audit through ``/v1/messages`` with client-side tools: direct tool calling vs
programmatic tool calling, with the real ``anthropic`` SDK against the local API.

Everything runs in this process as ``make local`` serves it (HTTP adapter + authorizer;
``/v1/messages`` through the streaming function's runtime loop, the other routes through the
API handler; moto for DynamoDB and S3, the code-interpreter emulator); the model turns are
replayed (``tests/fixtures/bedrock/anthropic_expense_audit_{direct,ptc}.json``). Reported per
mode: HTTP round trips, Bedrock calls, request bytes and tokens sent to the model (offline
estimate, see :mod:`devtools.tokens`).

    .venv/bin/python -m bench.messages_bench
"""

from __future__ import annotations

import json
import os

from devtools.bedrock_replay import BedrockReplay, bedrock_client
from devtools.messages_audit import run_audit
from devtools.tokens import TOKENIZER

__all__ = ["main"]

MODEL = "claude-sonnet-4-5"
_ENV = {
    "TABLE_NAME": "bench-table",
    "FILES_BUCKET": "bench-files",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "ALLOWED_MODEL_IDS": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "MODEL_ALIASES": json.dumps({MODEL: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}),
}


def main() -> int:
    import anthropic
    from moto import mock_aws

    from devtools.local_aws import create_resources
    from devtools.local_server import LocalApi
    from emulators.code_interpreter.spawn import start_emulator

    os.environ.update(_ENV)
    with start_emulator() as emulator, mock_aws():
        os.environ["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"] = emulator.url
        create_resources(_ENV["TABLE_NAME"], _ENV["FILES_BUCKET"], region="us-east-1")
        from code_exec.anthropic import authorizer
        from code_exec.api import handler, streamed
        from code_exec.store import new_key

        bedrock = bedrock_client(endpoint_url="https://bedrock-runtime.replay.invalid")
        for services in (handler.services, streamed.services):
            services.reset()
            services.override(bedrock=bedrock)
        key = new_key()
        handler.services.store.put_api_key(key, owner="bench", name="bench")
        runs = {}
        with LocalApi(handler.api_handler, authorizer.handler, workers=1) as api:
            client = anthropic.Anthropic(base_url=api.url, api_key=key, max_retries=0)
            for mode in ("direct", "ptc"):
                with BedrockReplay(f"anthropic_expense_audit_{mode}").attach(bedrock) as replay:
                    runs[mode] = run_audit(client, replay, mode, model=MODEL)
    d, p = runs["direct"], runs["ptc"]
    saved = 100 * (1 - p.request_tokens / d.request_tokens)
    print("Expense audit through /v1/messages with client-side tools (Anthropic SDK)")
    print(f"tokenizer: {TOKENIZER}\n")
    print(f"{'':26}{'direct':>10}{'PTC':>10}")
    for label, attr in (
        ("HTTP round trips", "round_trips"),
        ("Bedrock calls", "model_calls"),
        ("client tool runs", "tool_calls"),
        ("request bytes", "request_bytes"),
        ("request tokens (est.)", "request_tokens"),
    ):
        print(f"{label:26}{getattr(d, attr):>10,}{getattr(p, attr):>10,}")
    print(f"{'exact answer':26}{'n/a':>10}{p.exact!s:>10}")
    print(f"\ntokens sent to the model: {saved:.1f}% fewer with PTC")
    return 0 if p.exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
