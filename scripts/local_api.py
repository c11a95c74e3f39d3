"""``make local``: the API on 127.0.0.1 with no AWS account.

A thin HTTP adapter: each HTTP request becomes an API Gateway REST proxy event and goes
to the SAME ``code_exec.handler.api_handler`` Lambda uses. It has no logic of its own.
Around it, this script starts:

* the code-interpreter emulator (``python -m emulators.code_interpreter --port 0``, through
  ``emulators.code_interpreter.launch``), and
* a moto server for DynamoDB and S3 (the table and bucket are created on start),

and points the runtime at them only through endpoint variables
(``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``, ``AWS_ENDPOINT_URL_DYNAMODB``,
``AWS_ENDPOINT_URL_S3``) — the code path is the deployed one. ``bedrock-runtime`` keeps
its real endpoint: with AWS credentials in your environment, ``POST /invoke`` calls real
Bedrock models; without them, every route except ``/invoke`` and ``/jobs`` still works.
``POST /jobs`` needs Step Functions and is not served locally (answers 502 JobsUnavailable).

Environment: ``PORT`` (default 8000; 0 picks a free port), ``HOST`` (default 127.0.0.1).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["create_resources", "main", "to_event"]

ROOT = Path(__file__).resolve().parents[1]
TABLE = "code-exec-local"
BUCKET = "code-exec-local-files"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:code-exec-local-jobs"


def _start_moto() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    from emulators.code_interpreter.launch import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def _configure_env(emulator_url: str, moto_url: str) -> None:
    """Endpoints and names only; the runtime's code path stays the deployed one."""
    import boto3

    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    if boto3.session.Session().get_credentials() is None:
        # moto needs *some* signature; Bedrock calls will fail cleanly without real ones.
        os.environ["AWS_ACCESS_KEY_ID"] = "local"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": emulator_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ENDPOINT_URL_S3": moto_url,
            "AWS_ENDPOINT_URL_SFN": moto_url,
            "TABLE_NAME": TABLE,
            "FILES_BUCKET": BUCKET,
            "JOB_STATE_MACHINE_ARN": STATE_MACHINE_ARN,
            "CODE_INTERPRETER_ID": os.environ.get("CODE_INTERPRETER_ID", "aws.codeinterpreter.v1"),
        }
    )
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BedrockCodeExecution")


def create_resources(table: str = TABLE, bucket: str = BUCKET, region: str | None = None) -> None:
    """The table and bucket the stack would create (same key schema and TTL attribute).

    Also the tests' stand-in for the stack's storage (``tests/runtime/conftest.py``).
    """
    import boto3

    ddb = boto3.client("dynamodb", region_name=region)
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    boto3.client("s3", region_name=region).create_bucket(Bucket=bucket)


def to_event(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway REST proxy event (the shape the deployed API sends) for one request."""
    parts = urlsplit(raw_path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": {k: [v for kk, v in query if kk == k] for k, _ in query}
        or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": parts.path,
            "httpMethod": method,
            "path": parts.path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "accountId": "000000000000",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text if body else None,
        "isBase64Encoded": is_b64,
    }


class _Context:
    function_name = "code-exec-api-local"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:code-exec-api-local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def _make_handler(api_handler: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = to_event(self.command, self.path, dict(self.headers.items()), body)
            result = api_handler(event, _Context())
            payload = result.get("body") or ""
            data = (
                base64.b64decode(payload)
                if result.get("isBase64Encoded")
                else str(payload).encode("utf-8")
            )
            self.send_response(int(result["statusCode"]))
            headers = dict(result.get("headers") or {})
            for k, values in (result.get("multiValueHeaders") or {}).items():
                headers.setdefault(k, ", ".join(values))
            for k, v in headers.items():
                if k.lower() not in ("content-length", "connection"):
                    self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("local-api: " + fmt % args + "\n")

    return Handler


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    from emulators.code_interpreter.launch import EmulatorStartError, start_emulator

    try:
        emulator = start_emulator()
    except EmulatorStartError as e:
        raise SystemExit(f"the {e}") from None
    emulator_url = emulator.url
    moto, moto_url = _start_moto()
    try:
        _configure_env(emulator_url, moto_url)
        create_resources()
        from code_exec.handler import api_handler  # after the environment is set

        httpd = ThreadingHTTPServer((host, port), _make_handler(api_handler))
        url = f"http://{host}:{httpd.server_address[1]}"
        print(url, flush=True)  # first line: the URL (scripts and tests read it)
        print(
            f"API ready at {url} (code interpreter emulator: {emulator_url}, moto: {moto_url})\n"
            f'try:\n  curl -X POST {url}/sessions/demo/execute -d \'{{"code": "print(6*7)"}}\'',
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()
        httpd.server_close()
    finally:
        moto.stop()
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]
    raise SystemExit(main())
