"""Wiring: every AWS client and repository, created once and injectable.

``Services()`` builds nothing at import or construction time: each client is made
on first use from :class:`~code_exec.config.RuntimeConfig` (environment variables),
so a Lambda cold start pays only for what the request needs. Everything it hands out is
imported when first asked for (boto3, the sandbox client, the store, the agent, the ``/v1``
turn, the file store): the functions that never run a turn (cleanup, sweeper) share this
class without loading the model loops, and none loads boto3 before its first AWS call.
Tests pass fakes by keyword (``Services(sandbox=fake, run_agent=replay)``); local mode only
changes endpoints (``AWS_ENDPOINT_URL_*``), never the code path.

Every AWS client is made by :mod:`code_exec.clients`: its timeouts and botocore's retries
end by the deadline of the request it is called for (:mod:`code_exec.deadline`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from code_exec.config import RuntimeConfig
from code_exec.injectable import Injectable

if TYPE_CHECKING:
    from code_exec.anthropic.turn import TurnLimits
    from code_exec.file_transfer import FileStore
    from code_exec.sandbox.sessions import SessionsClient
    from code_exec.store.table import Store
    from code_exec.web.fetch import WebFetcher
    from code_exec.web.search import WebSearch

__all__ = ["Services"]

# Attempts in all per call, while the request's deadline allows (botocore standard mode).
_ATTEMPTS = 5
_MODEL_ATTEMPTS = 6
# botocore Config arguments. Standard, not adaptive, retries: adaptive's client-side rate
# limiter sleeps outside any deadline (code_exec/clients.py). A model reply may take minutes
# on streamed routes.
_BOTO = {"connect_timeout": 5}
_BOTO_MODEL = {"connect_timeout": 5, "read_timeout": 300}

_INJECTABLE = (
    "config",
    "dynamodb",
    "s3",
    "stepfunctions",
    "bedrock",
    "agentcore",
    "sandbox",
    "sessions",
    "store",
    "files",
    "run_agent",
    "registry",
    "turn_limits",
    "web_search",
    "web_fetcher",
)


class Services(Injectable):
    """Clients and repositories for one Lambda container (or one test).

    Args:
        clock: wall clock (epoch seconds) used for leases and TTLs.
        new_id: id factory for jobs, runs and lease owners.
        **overrides: any of ``config``, ``dynamodb``, ``s3``, ``stepfunctions``,
            ``bedrock``, ``agentcore``, ``sandbox``, ``sessions``, ``store``, ``files``,
            ``run_agent``, ``registry``, ``turn_limits``, ``web_search``, ``web_fetcher``.
    """

    INJECTABLE = _INJECTABLE

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        **overrides: Any,
    ) -> None:
        self.clock = clock
        self.new_id = new_id
        self.override(**overrides)

    @cached_property
    def config(self) -> RuntimeConfig:
        return RuntimeConfig.from_env()

    # --- AWS clients (boto3 reads AWS_ENDPOINT_URL_<SERVICE> for local mode) -------------

    @cached_property
    def dynamodb(self) -> Any:
        return _client("dynamodb", _BOTO, _ATTEMPTS)

    @cached_property
    def s3(self) -> Any:
        return _client("s3", _BOTO, _ATTEMPTS)

    @cached_property
    def stepfunctions(self) -> Any:
        return _client("stepfunctions", _BOTO, _ATTEMPTS)

    @cached_property
    def bedrock(self) -> Any:
        return _client("bedrock-runtime", _BOTO_MODEL, _MODEL_ATTEMPTS)

    @cached_property
    def agentcore(self) -> Any:
        from code_exec.sandbox.client import make_client

        return make_client()  # botocore retries off: SandboxClient retries where it is safe

    # --- repositories -----------------------------------------------------------------------

    @cached_property
    def sandbox(self) -> Any:
        from code_exec.sandbox.client import SandboxClient
        from code_exec.sandbox.errors import THROTTLED_ATTEMPTS

        return SandboxClient(
            self.config.code_interpreter_id,
            client=self.agentcore,
            throttled_attempts=THROTTLED_ATTEMPTS,
        )

    @cached_property
    def sessions(self) -> SessionsClient:
        """The sandbox client that can also list the interpreter's sessions (the sweeper's)."""
        from code_exec.sandbox.errors import THROTTLED_ATTEMPTS
        from code_exec.sandbox.sessions import SessionsClient

        return SessionsClient(
            self.config.code_interpreter_id,
            client=self.agentcore,
            throttled_attempts=THROTTLED_ATTEMPTS,
        )

    @cached_property
    def store(self) -> Store:
        from code_exec.store.table import Store

        return Store(
            self.dynamodb,
            self.config.table_name,
            ttl_seconds=self.config.session_ttl_seconds,
            s3=self.s3,
            bucket=self.config.files_bucket,
            clock=self.clock,
        )

    @cached_property
    def files(self) -> FileStore:
        from code_exec.file_transfer import FileStore

        return FileStore(
            self.s3,
            self.config.files_bucket,
            url_expiry_seconds=self.config.files_url_expiry_seconds,
        )

    @cached_property
    def registry(self) -> Any:
        """The PTC tool registry; None lets ``run_agent`` use its default registry."""
        return None

    @cached_property
    def run_agent(self) -> Callable[..., Any]:
        """``code_exec.agent.run_agent`` (tests inject a replaying double instead)."""
        from code_exec.agent import run_agent

        return run_agent

    @cached_property
    def turn_limits(self) -> TurnLimits:
        """Iterations and wall time of one ``/v1/messages`` request (tests lower them)."""
        from code_exec.anthropic.turn import TurnLimits

        return TurnLimits()

    # --- web tools (issue 17) ---------------------------------------------------------------

    @cached_property
    def web_search(self) -> WebSearch:
        """Web search over AgentCore ``InvokeWebSearch`` (its own deadline-bound client)."""
        from code_exec.web.search import AgentCoreWebSearch, make_search_client  # first use

        return AgentCoreWebSearch(make_search_client(), web_search_id=self.config.web_search_id)

    @cached_property
    def web_fetcher(self) -> WebFetcher:
        """The SSRF-guarded web fetcher (:mod:`code_exec.web.fetcher`)."""
        from code_exec.web.fetcher import make_fetcher  # lazy: HTML extraction is heavy

        return make_fetcher()


def _client(service: str, config: dict[str, Any], attempts: int) -> Any:
    """A deadline-bound boto3 client (boto3 and botocore's config load with the first one)."""
    from botocore.config import Config

    from code_exec import clients

    return clients.make(service, config=Config(**config), attempts=attempts)
