"""The buffered API function's execution environments, for ``make local``: one request at
a time per worker process, as Lambda runs them.

Lambda never runs two invocations in one execution environment at once; it adds
environments. Calling the handler from the HTTP server's threads would put concurrent
requests in one process, and Powertools' resolver keeps the request it is serving in
state shared by the process (``BaseRouter.current_event``, the resolver's ``context``
with the matched route and its path arguments): two requests at once then read each
other's route and session id. :class:`ApiWorkers` is called like the handler and hands
each event to a process of a pool that serves one event at a time, so concurrent requests
run side by side in separate processes, as on AWS.

The pool forks its workers from a server process that has already imported the handler's
module (``forkserver`` with a preload), so a new worker starts in milliseconds; workers are
added as concurrent requests need them, up to ``count``, and kept (warm) until
:meth:`ApiWorkers.stop`.
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["ApiWorkers"]

_handler: Any = None  # in a worker: the loaded handler


class ApiWorkers:
    """A callable ``(event, context) -> response`` backed by ``count`` worker processes.

    Args:
        handler: ``module.function`` of the handler (loaded in each worker; the module is
            imported once by the fork server).
        count: the most requests served at once (more wait for a free worker).
        preload: modules the fork server imports besides the handler's (the heavy ones).
    """

    def __init__(self, handler: str, *, count: int, preload: Sequence[str] = ()) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        module = handler.rpartition(".")[0]
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(dict.fromkeys([*preload, module, __name__])))
        self.handler, self.count = handler, count
        self._pool = ProcessPoolExecutor(
            max_workers=count, mp_context=context, initializer=_load, initargs=(handler,)
        )

    def __call__(self, event: dict[str, Any], context: Any = None) -> Any:
        return self._pool.submit(_invoke, event).result()

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _load(handler: str) -> None:
    global _handler
    module, _, name = handler.rpartition(".")
    _handler = getattr(importlib.import_module(module), name)


def _invoke(event: dict[str, Any]) -> Any:
    from devtools.http_adapter import LocalContext

    return _handler(event, LocalContext())
