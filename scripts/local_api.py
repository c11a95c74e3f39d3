"""``make local``: the API on 127.0.0.1 with no AWS account.

A thin HTTP adapter (:mod:`devtools.http_adapter`): each HTTP request becomes an API Gateway
REST proxy event and goes to the SAME ``code_exec.api.handler.api_handler`` Lambda uses. It
has no logic of its own beyond what API Gateway does in front of the functions. As on Lambda,
each request runs alone in an execution environment: a buffered request in a worker process
serving one request at a time (:mod:`devtools.api_workers`; up to ``API_WORKERS`` at once,
default 4, started as concurrent requests need them). Streamed routes (``POST
/invoke/stream``, ``POST /v1/messages``) go, as on AWS, to the streaming function: its runtime
(``code_exec.streaming.runtime``, started through its exec wrapper ``bootstrap`` like Lambda
starts it; ``STREAM_WORKERS`` of them, default 2, each serving one invocation at a time) polls
a Runtime API double (:mod:`devtools.runtime_api`), and what it streams is relayed as it
comes, so ``curl -N`` shows each event when it is written.
``/v1/*`` (Anthropic's API) goes through the Lambda REQUEST authorizer first, as API Gateway
does; a key for it is minted at start (``LOCAL_API_KEY`` to choose it) and printed. Model names
(``MODEL_ALIASES``) and the allowed models come from cdk.json, as the stack derives them.
The authorizer runs in this process, on the thread serving the request: it keeps no
per-request state, and its clients are built before the first request (its init phase), so
concurrent requests share only its key cache.
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
Without AWS credentials (botocore's resolution finds none; ``LOCAL_MODEL=replay`` forces it,
``LOCAL_MODEL=bedrock`` forbids it), the model is the recorded turns of
:data:`OFFLINE_FIXTURES` instead: each request is answered by the recording whose prompt
it carries, and the banner lists those prompts (the README's examples use them), so a
machine with no AWS account runs every example end to end.
``POST /jobs`` needs Step Functions and is not served locally (answers 502 JobsUnavailable).

Environment: ``PORT`` (default 8000; 0 picks a free port), ``HOST`` (default 127.0.0.1);
``API_WORKERS`` (default 4), ``STREAM_WORKERS`` (default 2); every
``CODE_INTERPRETER_EMULATOR_*`` setting reaches the emulator (e.g. its rate limits,
``MAX_SESSIONS``, ``WARM_POOL``); and

* ``LOCAL_BEDROCK_FIXTURES``: recordings (names under ``tests/fixtures/bedrock``, comma
  separated) that answer the model calls instead of Bedrock: a
  :class:`~devtools.bedrock_replay.ConversationReplay` served on 127.0.0.1 by
  :class:`~devtools.bedrock_server.BedrockServer` becomes ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
  (only the endpoint differs). Any number of sessions may replay them at once; a request
  the recordings do not answer fails the model call (400 ``ValidationException``).
  ``DEFAULT_MODEL_ID`` defaults to the recordings' model.
* ``LOCAL_TOOL_PLACEMENT``: ``bridged`` or ``preloaded`` runs every tool of the deployment
  in that placement (:mod:`devtools.local_placement`); unset, each module's own.

Local-only endpoint: ``POST /_local/sweep[?grace_seconds=N]`` runs the sweeper
(:class:`code_exec.sweeper.Sweeper`, the scheduled function's class, with this API's
clients) once against the emulator and moto, and answers its report plus ``ready_after``,
the READY sessions ``ListCodeInterpreterSessions`` lists once it is done. The grace period
defaults to the deployed one (sessions younger than it are left alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devtools.api_workers import ApiWorkers
from devtools.http_adapter import LocalRoute
from devtools.local_aws import BUCKET, TABLE, create_resources, start_moto
from devtools.local_placement import API_HANDLER as PLACED_API_HANDLER
from devtools.local_placement import STREAM_HANDLER as PLACED_STREAM_HANDLER
from devtools.local_placement import placement_from_env
from devtools.local_server import STREAM_HANDLER, LocalApi
from emulators.code_interpreter.spawn import EmulatorStartError, start_emulator
from emulators.web_corpus import CorpusServer

__all__ = [
    "FIXTURES_ENV",
    "MODEL_ENV",
    "OFFLINE_FIXTURES",
    "main",
    "offline_fixtures",
    "recorded_model",
    "sweep_route",
]

FIXTURES_ENV = "LOCAL_BEDROCK_FIXTURES"
MODEL_ENV = "LOCAL_MODEL"  # "replay" | "bedrock"; unset: replay when there are no credentials
# The recordings that answer the model without an AWS account: one per README example
# prompt (the /invoke loops', /v1/messages', its web tools' and skills'), each matched by
# its prompt.
OFFLINE_FIXTURES = (
    "converse_thinking_tool_loop",
    "converse_session_chart",
    "converse_expense_audit_ptc",
    "anthropic_bash_stats",
    "anthropic_sales_chart",
    "anthropic_skill_greeting",
    "anthropic_readme_web_search",
    "anthropic_readme_web_fetch",
    "anthropic_readme_web_filtering",
)
API_HANDLER = "code_exec.api.handler.api_handler"

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


def offline_fixtures() -> str:
    """The recordings to serve when nobody chose a model: none if there are AWS credentials.

    Read before :func:`_configure_env` gives moto its placeholder credentials.
    """
    choice = os.environ.get(MODEL_ENV, "").strip().lower()
    if choice not in ("", "replay", "bedrock"):
        raise SystemExit(f"{MODEL_ENV} must be 'replay' or 'bedrock', got {choice!r}")
    if choice == "bedrock" or os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        return ""
    if choice == "":
        import boto3

        if boto3.session.Session().get_credentials() is not None:
            return ""
    return ",".join(OFFLINE_FIXTURES)


def recorded_prompts(names: str) -> list[str]:
    """The prompts the recordings ``names`` answer, in order (for the banner)."""
    from devtools.bedrock_replay import load_fixture
    from devtools.bedrock_replay.conversations import recorded_calls

    prompts: list[str] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        for call in recorded_calls(load_fixture(name)):
            if call.prompt not in prompts:
                prompts.append(call.prompt)
    return prompts


@contextmanager
def recorded_model(names: str) -> Iterator[str]:
    """Serve the recordings ``names`` (comma separated) as Bedrock; yields a description.

    Sets ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` to the replay, and ``DEFAULT_MODEL_ID`` (unless
    set) to the recordings' model.
    """
    from devtools.bedrock_replay import DEFAULT_MODEL_ID, ConversationReplay, load_fixture
    from devtools.bedrock_server import BedrockServer

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        raise SystemExit(f"set {FIXTURES_ENV} or AWS_ENDPOINT_URL_BEDROCK_RUNTIME, not both")
    try:
        fixtures = [load_fixture(n) for n in wanted]
        replay = ConversationReplay(fixtures)
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"{FIXTURES_ENV}={names!r}: {e}") from None
    models = {f.get("model_id", DEFAULT_MODEL_ID) for f in fixtures}
    if len(models) == 1:
        os.environ.setdefault("DEFAULT_MODEL_ID", models.pop())
    with BedrockServer(replay) as server:
        os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = server.url
        yield f"recorded model turns of {', '.join(wanted)} at {server.url}"


def sweep_route(services: Any) -> LocalRoute:
    """``POST /_local/sweep``: one sweep with ``services`` (the API function's clients)."""
    from code_exec.observability import metrics
    from code_exec.sweeper import Sweeper

    def sweep(query: dict[str, str]) -> tuple[int, Any]:
        raw = query.get("grace_seconds", str(services.config.sweep_grace_seconds))
        try:
            grace = float(raw)
            if not grace >= 0:
                raise ValueError(raw)
        except ValueError:
            error = {
                "code": "ValidationError",
                "message": "a number >= 0",
                "field": "grace_seconds",
            }
            return 400, {"error": error}
        report = Sweeper(services, grace_seconds=grace).sweep()
        metrics.flush_metrics()  # what the scheduled function's handler publishes
        ready = sum(1 for _ in services.sessions.list_sessions(status="READY"))
        return 200, {**report.as_dict(), "ready_after": ready}

    return sweep


def _model_settings() -> dict[str, str]:
    """The model variables the stack sets, from cdk.json (one derivation, in ``stacks``)."""
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
        placement = placement_from_env()
    except ValueError as e:
        raise SystemExit(str(e)) from None
    try:
        emulator = start_emulator()
    except EmulatorStartError as e:
        raise SystemExit(f"the {e}") from None
    emulator_url = emulator.url
    moto, moto_url = start_moto()
    try:
        with contextlib.ExitStack() as stack:
            # the recordings' model becomes DEFAULT_MODEL_ID before cdk.json's default would
            fixtures = os.environ.get(FIXTURES_ENV, "").strip()
            offline = "" if fixtures else offline_fixtures()
            fixtures = fixtures or offline
            model = stack.enter_context(recorded_model(fixtures)) if fixtures else "Bedrock"
            _configure_env(emulator_url, moto_url)
            # the web corpus fixture on loopback: web fetches of its .test pages go there
            # (LOCAL ONLY: the stacks never set WEB_FETCH_LOOPBACK_CORPUS)
            from code_exec.web.fetcher import LOOPBACK_CORPUS_ENV

            corpus = stack.enter_context(CorpusServer())
            os.environ[LOOPBACK_CORPUS_ENV] = corpus.loopback_spec()
            create_resources()
            _serve(
                host,
                port,
                placement,
                f"code interpreter emulator: {emulator_url}, moto: {moto_url}, model: {model}",
                prompts=recorded_prompts(fixtures) if fixtures else [],
                offline=bool(offline),
            )
    finally:
        moto.stop()
        emulator.stop()
    return 0


def _serve(
    host: str,
    port: int,
    placement: str | None,
    where: str,
    *,
    prompts: list[str],
    offline: bool,
) -> None:
    from code_exec.anthropic import authorizer  # after the environment is set
    from code_exec.api.handler import services

    key = _mint_key()
    _ = authorizer.services.authorizer  # its init phase: clients built before any request
    stream_workers = _count("STREAM_WORKERS", 2, least=0)
    api = ApiWorkers(
        PLACED_API_HANDLER if placement else API_HANDLER,
        count=_count("API_WORKERS", 4, least=1),
        preload=[API_HANDLER.rpartition(".")[0]],
    )
    local = LocalApi(
        api,
        authorizer.handler,
        host=host,
        port=port,
        workers=stream_workers,
        mode="process",
        stream_handler=PLACED_STREAM_HANDLER if placement else STREAM_HANDLER,
        local_routes={("POST", "/_local/sweep"): sweep_route(services)},
    )
    local.start()
    url = local.url
    print(url, flush=True)  # first line: the URL (scripts and tests read it)
    print(_banner(url, key, where, placement, prompts, offline=offline), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    local.stop()
    api.stop()


def _banner(
    url: str,
    key: str,
    where: str,
    placement: str | None,
    prompts: list[str],
    *,
    offline: bool,
) -> str:
    """What ``make local`` prints after the URL: where the model is, and what to try."""
    lines = [f"API ready at {url} ({where}; tools: {placement or 'as declared'})"]
    if offline:
        lines.append(
            "no AWS credentials found: the model is RECORDED turns (set credentials, or "
            f"{MODEL_ENV}=bedrock, for real Bedrock); only these prompts are answered:"
        )
    elif prompts:
        lines.append("the model is recorded turns; only these prompts are answered:")
    lines += [f"  - {p}" for p in prompts]
    stream_prompt = prompts[0] if prompts else "What is 2**100? Use code."
    body = json.dumps({"prompt": stream_prompt, "loop": "converse"})
    lines += [
        "try:",
        f'  curl -X POST {url}/sessions/demo/execute -d \'{{"code": "print(6*7)"}}\'',
        f"  curl -N -X POST {url}/invoke/stream -d '{body}'",
        f"Anthropic SDK (/v1/*): base_url={url!r}, api_key={key!r}",
    ]
    return "\n".join(lines)


def _count(name: str, default: int, *, least: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < least:
        raise SystemExit(f"{name} must be an integer >= {least}, got {raw!r}")
    return int(raw)


if __name__ == "__main__":
    raise SystemExit(main())
