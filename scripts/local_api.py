"""``make local``: the API on 127.0.0.1 with no AWS account.

A thin HTTP adapter (:mod:`devtools.http_adapter`): each HTTP request becomes an API Gateway
REST proxy event and goes to the SAME ``code_exec.api.handler.api_handler`` Lambda uses. It
has no logic of its own. Streamed routes (``POST /invoke/stream``, ``POST /v1/messages``)
go, as on AWS, to the streaming function: its runtime (``code_exec.streaming.runtime``,
started through its exec wrapper ``bootstrap`` like Lambda starts it; ``STREAM_WORKERS`` of
them, default 2) polls a Runtime API double (:mod:`devtools.runtime_api`), and what it
streams is relayed as it comes, so ``curl -N`` shows each event when it is written.
``/v1/*`` (Anthropic's API) goes through the Lambda REQUEST authorizer first, as API Gateway
does; a key for it is minted at start (``LOCAL_API_KEY`` to choose it) and printed. Model names
(``MODEL_ALIASES``) and the allowed models come from cdk.json, as the stack derives them.
Around it, this script starts:

* the code-interpreter emulator (``python -m emulators.code_interpreter --port 0``, through
  ``emulators.code_interpreter.spawn``), and
* a moto server for DynamoDB and S3 (the table and bucket are created on start),

and points the runtime at them only through endpoint variables
(``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``, ``AWS_ENDPOINT_URL_DYNAMODB``,
``AWS_ENDPOINT_URL_S3``) — the code path is the deployed one. ``bedrock-runtime`` keeps
its real endpoint (or ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` when set): with AWS credentials in
your environment, ``POST /invoke`` calls real Bedrock models; without them, every route except
``/invoke`` and ``/jobs`` still works.
``POST /jobs`` needs Step Functions and is not served locally (answers 502 JobsUnavailable).

Environment: ``PORT`` (default 8000; 0 picks a free port), ``HOST`` (default 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from devtools.local_aws import BUCKET, TABLE, create_resources, start_moto
from devtools.local_server import LocalApi
from emulators.code_interpreter.spawn import EmulatorStartError, start_emulator

__all__ = ["main"]

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:code-exec-local-jobs"


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
    for name, value in _model_settings().items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BedrockCodeExecution")


def _model_settings() -> dict[str, str]:
    """The model variables the stack sets, from cdk.json (one derivation, in ``stacks``)."""
    import json
    from pathlib import Path

    from stacks.settings import Settings

    context = json.loads((Path(__file__).resolve().parents[1] / "cdk.json").read_text())
    settings = Settings.from_context(context["context"].get)
    return {
        "DEFAULT_MODEL_ID": settings.model_id,
        "ALLOWED_MODEL_IDS": ",".join(settings.allowed_model_ids),
        "MODEL_ALIASES": json.dumps(settings.anthropic_models, sort_keys=True),
        "CONTAINER_IDLE_SECONDS": str(settings.container_idle_seconds),
    }


def _mint_key() -> str:
    import boto3
    from code_exec.store import ApiKeyStore, new_key

    key = os.environ.get("LOCAL_API_KEY") or new_key()
    store = ApiKeyStore(boto3.client("dynamodb"), TABLE, ttl_seconds=0)
    store.put_api_key(key, owner="local", name="make-local")
    return key


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    try:
        emulator = start_emulator()
    except EmulatorStartError as e:
        raise SystemExit(f"the {e}") from None
    emulator_url = emulator.url
    moto, moto_url = start_moto()
    try:
        _configure_env(emulator_url, moto_url)
        create_resources()
        from code_exec.anthropic.authorizer import handler as authorizer
        from code_exec.api.handler import api_handler  # after the environment is set

        key = _mint_key()
        workers = int(os.environ.get("STREAM_WORKERS", "2"))
        local = LocalApi(
            api_handler, authorizer, host=host, port=port, workers=workers, mode="process"
        )
        local.start()
        url = local.url
        print(url, flush=True)  # first line: the URL (scripts and tests read it)
        print(
            f"API ready at {url} (code interpreter emulator: {emulator_url}, moto: {moto_url})\n"
            f'try:\n  curl -X POST {url}/sessions/demo/execute -d \'{{"code": "print(6*7)"}}\'\n'
            f"  curl -N -X POST {url}/invoke/stream "
            '-d \'{"prompt": "What is 2**100? Use code."}\'\n'
            f"Anthropic SDK (/v1/*): base_url={url!r}, api_key={key!r}",
            flush=True,
        )
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
        local.stop()
    finally:
        moto.stop()
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
