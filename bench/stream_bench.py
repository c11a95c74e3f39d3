"""Time to first byte: ``POST /invoke`` (buffered) vs ``POST /invoke/stream``, side by side.

The same recorded turn (``converse_session_chart``'s first call: the model writes a
sentence and a cell, the cell draws a chart in the sandbox, the model answers) is served by
a Bedrock endpoint on loopback that paces every reply like a model writing (``--latency``
seconds per stream frame; a buffered reply waits for all its frames), so both routes wait
for the same model. Both go through the local API as ``make local`` serves it: the buffered
route to the API handler, the streamed one through the streaming runtime's loop and the
Runtime API double. The code runs for real in the emulator; DynamoDB and S3 are moto.

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
from typing import Any

__all__ = ["main"]

FIXTURE = "converse_session_chart"
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


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
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
        }
    )


def _request(url: str, path: str, body: dict[str, Any]) -> dict[str, float]:
    """Seconds from sending the request to its first byte, first text, and last byte."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=300)
    start = time.perf_counter()
    conn.request("POST", path, body=json.dumps(body).encode())
    response = conn.getresponse()
    first_byte = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {response.read()[:300]!r}")
    first_text, buffer = None, b""
    while data := response.read1(65536):
        buffer += data
        if first_text is None and (b"event: text" in buffer or path == "/invoke"):
            first_text = time.perf_counter() - start
    total = time.perf_counter() - start
    if path == "/invoke":
        json.loads(buffer)  # the whole result at once: its text is first readable here
    return {"first_byte": first_byte, "first_text": first_text or total, "total": total}


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:8.0f} / {p95 * 1000:6.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per model frame")
    args = parser.parse_args(argv)

    from devtools.bedrock_replay import BedrockReplay, load_fixture
    from devtools.bedrock_server import BedrockServer
    from devtools.local_aws import create_resources, start_moto
    from devtools.local_server import LocalApi
    from emulators.code_interpreter.spawn import start_emulator

    fixture = load_fixture(FIXTURE)
    fixture = {**fixture, "turns": fixture["turns"][: fixture["calls"][0]["turns"]]}
    body = {"prompt": fixture["calls"][0]["prompt"], "loop": "converse"}
    moto, moto_url = start_moto()
    try:
        with (
            start_emulator(log_level="WARNING") as emulator,
            BedrockServer(BedrockReplay(fixture)) as bedrock,
        ):
            _environment(emulator.url, moto_url, bedrock.url)
            create_resources()
            from code_exec.api.handler import api_handler

            results: dict[str, list[dict[str, float]]] = {"/invoke": [], "/invoke/stream": []}
            with LocalApi(api_handler, workers=1) as api:
                for run in range(args.runs + 1):  # the first round warms both paths up
                    for path in results:
                        stream = path.endswith("/stream")
                        bedrock.replay = BedrockReplay(fixture, stream=stream, latency=args.latency)
                        timing = _request(api.url, path, body)
                        bedrock.replay.assert_done()
                        if run:
                            results[path].append(timing)
    finally:
        moto.stop()

    frames = sum(1 for t in fixture["turns"] for _ in _frames(t["response"]["body"]))
    print(
        f"recorded turn: {FIXTURE} (2 model calls, {frames} stream frames at "
        f"{args.latency * 1000:.0f} ms each, one cell); {args.runs} runs per route, "
        "milliseconds, median / p95"
    )
    print(f"{'route':<22} {'first byte':>17} {'first text':>17} {'complete':>17}")
    for path, timings in results.items():
        cells = [_stats([t[k] for t in timings]) for k in ("first_byte", "first_text", "total")]
        print(f"{'POST ' + path:<22} " + " ".join(f"{c:>17}" for c in cells))
    return 0


def _frames(body: dict[str, Any]) -> list[dict[str, Any]]:
    from devtools.bedrock_replay import stream_frames

    return stream_frames("ConverseStream", body)


if __name__ == "__main__":
    raise SystemExit(main())
