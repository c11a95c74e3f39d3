"""Time to first byte, streamed vs buffered, side by side: ``POST /invoke`` vs
``POST /invoke/stream``, and ``POST /v1/messages`` with ``stream: false`` vs ``stream: true``.

Each pair answers the same recorded turn, served by a Bedrock endpoint on loopback that
paces every reply like a model writing (``--latency`` seconds per stream frame; a buffered
reply waits for all its frames), so both members of a pair wait for the same model:

* ``/invoke``: ``converse_session_chart``'s first call (a sentence and a cell, the cell
  draws a chart in the sandbox, the model answers). ``/invoke`` goes to the API handler,
  ``/invoke/stream`` through the streaming runtime's loop.
* ``/v1/messages``: ``anthropic_bash_stats`` (a sentence and a bash command, the model
  answers), through the API-key authorizer, both ways through the streaming runtime's loop
  (the method is streamed; ``stream: false`` answers one JSON message at the end).

Everything goes through the local API as ``make local`` serves it (the Runtime API double
in front of the streaming runtime). The code runs for real in the emulator; DynamoDB and S3
are moto.

Reported per route, median and p95 over ``--runs`` requests: time to the first byte of the
response (its status line), to the first model text the client can show, and to the end.

    .venv/bin/python -m bench.stream_bench [--runs 5] [--latency 0.03]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from devtools.bedrock_replay import load_fixture

__all__ = ["main"]

FIXTURE = "converse_session_chart"
MESSAGES_FIXTURE = "anthropic_bash_stats"
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODEL = "claude-sonnet-4-5"
STATS_PROMPT = (
    "Use the code execution tool to calculate the mean and standard deviation of "
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
)


def _environment(emulator_url: str, moto_url: str, bedrock_url: str) -> None:
    from devtools.local_aws import BUCKET, TABLE

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": emulator_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ENDPOINT_URL_S3": moto_url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_url,
            "TABLE_NAME": TABLE,
            "FILES_BUCKET": BUCKET,
            "DEFAULT_MODEL_ID": MODEL_ID,
            "ALLOWED_MODEL_IDS": MODEL_ID,
            "MODEL_ALIASES": json.dumps({MODEL: MODEL_ID}),
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
        }
    )


@dataclass(frozen=True)
class Route:
    """One member of a pair: how to call it and how its first model text shows."""

    label: str
    path: str
    body: dict[str, Any]
    fixture: dict[str, Any]
    model_streams: bool  # the function calls the model's streaming API
    text_marker: bytes | None  # None: the whole body at once (readable at its end)
    headers: dict[str, str] = field(default_factory=dict)


def _request(url: str, route: Route) -> dict[str, float]:
    """Seconds from sending the request to its first byte, first text, and last byte."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=300)
    start = time.perf_counter()
    conn.request("POST", route.path, body=json.dumps(route.body).encode(), headers=route.headers)
    response = conn.getresponse()
    first_byte = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{route.label} answered {response.status}: {response.read()[:300]!r}")
    first_text, buffer = None, b""
    while data := response.read1(65536):
        buffer += data
        if first_text is None and route.text_marker is not None and route.text_marker in buffer:
            first_text = time.perf_counter() - start
    total = time.perf_counter() - start
    if route.text_marker is None:
        json.loads(buffer)  # the whole answer at once: its text is first readable here
    return {"first_byte": first_byte, "first_text": first_text or total, "total": total}


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:8.0f} / {p95 * 1000:6.0f}"


def _routes(key: str) -> list[Route]:
    invoke = load_fixture(FIXTURE)
    invoke = {**invoke, "turns": invoke["turns"][: invoke["calls"][0]["turns"]]}
    agent = {"prompt": invoke["calls"][0]["prompt"], "loop": "converse"}
    stats = load_fixture(MESSAGES_FIXTURE)
    anthropic = {
        "model": MODEL,
        "max_tokens": 4096,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": STATS_PROMPT}],
    }
    key_headers = {"x-api-key": key, "content-type": "application/json"}
    text_delta = b'"type": "text_delta"'
    return [
        Route("POST /invoke", "/invoke", agent, invoke, False, None),
        Route("POST /invoke/stream", "/invoke/stream", agent, invoke, True, b"event: text"),
        Route(
            "/v1/messages whole",
            "/v1/messages",
            {**anthropic, "stream": False},
            stats,
            True,
            None,
            key_headers,
        ),
        Route(
            "/v1/messages stream",
            "/v1/messages",
            {**anthropic, "stream": True},
            stats,
            True,
            text_delta,
            key_headers,
        ),
    ]


def _mint_key() -> str:
    import boto3
    from code_exec.store import ApiKeyStore, new_key

    from devtools.local_aws import TABLE

    key = new_key()
    ApiKeyStore(boto3.client("dynamodb"), TABLE, ttl_seconds=0).put_api_key(
        key, owner="bench", name="bench"
    )
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per model frame")
    args = parser.parse_args(argv)

    from devtools.bedrock_replay import BedrockReplay
    from devtools.bedrock_server import BedrockServer
    from devtools.local_aws import create_resources, start_moto
    from devtools.local_server import LocalApi
    from emulators.code_interpreter.spawn import start_emulator

    moto, moto_url = start_moto()
    try:
        with (
            start_emulator(log_level="WARNING") as emulator,
            BedrockServer(BedrockReplay({"name": "none", "turns": []})) as bedrock,
        ):
            _environment(emulator.url, moto_url, bedrock.url)
            create_resources()
            from code_exec.anthropic.authorizer import handler as authorizer
            from code_exec.api.handler import api_handler

            routes = _routes(_mint_key())
            results: dict[str, list[dict[str, float]]] = {r.label: [] for r in routes}
            with LocalApi(api_handler, authorizer, workers=1) as api:
                for run in range(args.runs + 1):  # the first round warms every path up
                    for route in routes:
                        bedrock.replay = BedrockReplay(
                            route.fixture, stream=route.model_streams, latency=args.latency
                        )
                        timing = _request(api.url, route)
                        bedrock.replay.assert_done()
                        if run:
                            results[route.label].append(timing)
    finally:
        moto.stop()

    print(
        f"recorded turns: {FIXTURE} for /invoke, {MESSAGES_FIXTURE} for /v1/messages (2 model "
        f"calls and one sandbox run each; stream frames at {args.latency * 1000:.0f} ms each); "
        f"{args.runs} runs per route, milliseconds, median / p95"
    )
    print(f"{'route':<22} {'first byte':>17} {'first text':>17} {'complete':>17}")
    for label, timings in results.items():
        cells = [_stats([t[k] for t in timings]) for k in ("first_byte", "first_text", "total")]
        print(f"{label:<22} " + " ".join(f"{c:>17}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
