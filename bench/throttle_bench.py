"""Answer times of concurrent ``POST /sessions/{id}/execute`` while the sandbox throttles.

The emulator throttles ``InvokeCodeInterpreter`` at ``--rate`` calls a second per account
(default 0.3, the acceptance of issue 14 §1.7); ``--requests`` executes (default 4), each
on a session of its own and in a private copy of the API handler module (one Lambda
execution environment each), start at once. DynamoDB and S3 are a moto server on loopback.
Each request runs under the deadline its handler computes for API Gateway's 29 s
(:mod:`code_exec.deadline`).

Reported: each request's status, error code and ``Retry-After``, its answer time, and the
longest answer as a fraction of API Gateway's 29 s. Numbers only, no pass/fail.

    .venv/bin/python -m bench.throttle_bench [--rate 0.3] [--requests 4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from typing import Any

__all__ = ["main"]

GATEWAY_SECONDS = 29.0


def _environment(emulator_url: str, moto_url: str) -> None:
    from devtools.local_aws import BUCKET, TABLE

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": emulator_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ENDPOINT_URL_S3": moto_url,
            "TABLE_NAME": TABLE,
            "FILES_BUCKET": BUCKET,
            "CODE_INTERPRETER_ID": "aws.codeinterpreter.v1",
            "DEFAULT_MODEL_ID": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
        }
    )


def _event(session_id: str) -> dict[str, Any]:
    path = f"/sessions/{session_id}/execute"
    return {
        "resource": "/sessions/{session_id}/execute",
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "pathParameters": {"session_id": session_id},
        "requestContext": {
            "resourcePath": "/sessions/{session_id}/execute",
            "httpMethod": "POST",
            "path": "/prod" + path,
            "requestId": f"bench-{session_id}",
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps({"code": "print(6 * 7)"}),
        "isBase64Encoded": False,
    }


def _round(modules: list[Any], tag: str) -> list[tuple[int, str, str, float]]:
    from devtools.lambda_adapter import LambdaContext

    answers: list[tuple[int, str, str, float]] = [(0, "", "", 0.0)] * len(modules)
    go = threading.Barrier(len(modules))

    def run(n: int) -> None:
        go.wait()
        start = time.monotonic()
        raw = modules[n].api_handler(_event(f"{tag}-{n}"), LambdaContext(remaining_ms=29_000))
        took = time.monotonic() - start
        body = json.loads(raw["body"])
        headers = {k: v[-1] for k, v in (raw.get("multiValueHeaders") or {}).items()}
        headers.update(raw.get("headers") or {})
        code = body.get("error", {}).get("code", "") if raw["statusCode"] != 200 else "ok"
        answers[n] = (raw["statusCode"], code, headers.get("Retry-After", "-"), took)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(modules))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=0.3, help="Invoke calls/s per account")
    parser.add_argument("--requests", type=int, default=4, help="concurrent executes")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of concurrent executes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the retries' warnings, moto's request log
    for name in ("code_exec", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from devtools.handler_copies import handler_copy
    from devtools.local_aws import create_resources, start_moto
    from emulators.code_interpreter.spawn import start_emulator

    moto, moto_url = start_moto()
    emulator = start_emulator(
        max_rps_per_account=args.rate,
        warm_pool=args.requests,
        max_sessions=max(16, args.requests * args.rounds + 4),
        log_level="WARNING",
    )
    try:
        _environment(emulator.url, moto_url)
        create_resources()
        handler = "code_exec.api.handler"
        modules = [handler_copy(handler, f"{handler}<bench-{n}>") for n in range(args.requests)]
        longest = 0.0
        print(f"{args.requests} concurrent executes, InvokeCodeInterpreter at {args.rate}/s")
        print(f"{'round':>5} {'req':>3} {'status':>6} {'code':<20} {'retry-after':>11} {'s':>7}")
        for r in range(args.rounds):
            for n, (status, code, retry, took) in enumerate(_round(modules, f"r{r}")):
                longest = max(longest, took)
                print(f"{r:>5} {n:>3} {status:>6} {code:<20} {retry:>11} {took:>7.2f}")
        print(
            f"longest answer {longest:.2f} s = {longest / GATEWAY_SECONDS:.2f} "
            f"of API Gateway's {GATEWAY_SECONDS:.0f} s"
        )
    finally:
        emulator.stop()
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
