"""The API on 127.0.0.1 as API Gateway would route it: buffered routes to the API handler,
streamed routes to the streaming function's runtime.

:class:`LocalApi` starts the HTTP front (:mod:`devtools.http_adapter`), a Runtime API double
(:mod:`devtools.runtime_api`) and the streaming runtime against it: the real loop
(``code_exec.streaming.runtime``), either as processes started through the function's exec
wrapper (``make local``: the deployed start-up path) or as threads of this process (tests
and the bench, so in-process doubles such as moto or a Bedrock replay apply). Several
workers serve streams concurrently, as several Lambda execution environments would.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from devtools.http_adapter import LocalRoute, make_handler
from devtools.prompt_shutdown import PromptThreadingHTTPServer
from devtools.runtime_api import FakeRuntimeApi

__all__ = ["BOOTSTRAP", "STREAM_HANDLER", "LocalApi", "LocalHttpServer"]

ROOT = Path(__file__).resolve().parents[1]
TASK_ROOT = ROOT / "lambda"
BOOTSTRAP = TASK_ROOT / "code_exec" / "streaming" / "bootstrap"
STREAM_HANDLER = "code_exec.api.streamed.stream_handler"


class LocalHttpServer(PromptThreadingHTTPServer):
    """One thread per connection, and a listen backlog for many clients connecting at once;
    it stops at once (:mod:`devtools.prompt_shutdown`).

    The stdlib's default backlog (5) overflows when a few dozen clients connect together
    (a load test's users): the kernel then drops or resets connections the service behind
    API Gateway would have taken.
    """

    daemon_threads = True
    request_queue_size = 128


class LocalApi:
    """Serve the API on ``host:port`` until :meth:`stop` (a context manager too).

    Args:
        api_handler: the buffered function's handler (``code_exec.api.handler.api_handler``).
        authorizer: the ``/v1/*`` REQUEST authorizer's handler, run first on those routes
            (streamed or not), as API Gateway runs it.
        workers: streaming runtimes to start; ``mode`` ``"process"`` runs each through the
            exec wrapper with this interpreter, ``"thread"`` runs the loop in this process.
        function_timeout: the streaming function's timeout (its deadline per invocation).
        stream_handler: the streaming function's handler: its dotted name (``_HANDLER``), or,
            for ``"thread"`` workers, the function itself (tests wrap it to see the events).
        env: extra environment for worker processes.
        local_routes: the local server's own endpoints (``/_local/...``), by (method, path).
    """

    def __init__(
        self,
        api_handler: Callable[..., Any],
        authorizer: Callable[..., Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 2,
        mode: Literal["process", "thread"] = "thread",
        function_timeout: float = 900.0,
        stream_handler: str | Callable[..., Any] = STREAM_HANDLER,
        env: dict[str, str] | None = None,
        local_routes: dict[tuple[str, str], LocalRoute] | None = None,
    ) -> None:
        from code_exec.api.streamed import ROUTES

        self.runtime_api = FakeRuntimeApi(function_timeout=function_timeout)
        handler = make_handler(
            api_handler,
            authorizer,
            streamed=self.runtime_api,
            stream_routes=set(ROUTES),
            local_routes=local_routes,
        )
        self.httpd = LocalHttpServer((host, port), handler)
        self._workers, self._mode = workers, mode
        self._stream_handler = stream_handler
        self._env = env or {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApi:
        self.runtime_api.__enter__()
        for n in range(self._workers):
            if self._mode == "process":
                self.processes.append(self._spawn(n))
            else:
                self._threads.append(self._thread(n))
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="local-api").start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread (``make local``)."""
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.runtime_api.stop()
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> LocalApi:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _worker_env(self, n: int, handler: str) -> dict[str, str]:
        return {
            **os.environ,
            **self._env,
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(TASK_ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "code-exec-stream-local",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/worker-{n}",
        }

    def _spawn(self, n: int) -> subprocess.Popen[bytes]:
        """A worker started the way Lambda starts the function: the exec wrapper, given the
        interpreter as its first argument."""
        if not isinstance(self._stream_handler, str):
            raise TypeError("a process worker loads its handler by name (_HANDLER)")
        env = self._worker_env(n, self._stream_handler)
        return subprocess.Popen([str(BOOTSTRAP), sys.executable], env=env)

    def _thread(self, n: int) -> threading.Thread:
        from code_exec.streaming.runtime import load_handler, serve
        from code_exec.streaming.runtime_api import RuntimeApi, RuntimeApiError

        handler = (
            load_handler(self._stream_handler)
            if isinstance(self._stream_handler, str)
            else self._stream_handler
        )
        api = RuntimeApi(self.runtime_api.address)

        def run() -> None:
            with contextlib.suppress(RuntimeApiError, OSError):  # the Runtime API double stopped
                serve(api, handler)

        thread = threading.Thread(target=run, daemon=True, name=f"stream-runtime-{n}")
        thread.start()
        return thread
