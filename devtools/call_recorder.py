"""Record every AWS call made in this process, attributed to the resource whose client made it.

While a :class:`CallRecorder` is active, every botocore client created anywhere (``boto3.client``,
``boto3.Session().client``, a library's own session) gets a ``provide-client-params`` hook:
botocore emits that event for every API call and for every presigned URL, before anything is
sent. The hook carries the *owner* fixed when the client was created:

* inside ``with recorder.acting_as("ApiFunction..."):`` — the actor named there (a test builds
  each Lambda function's clients this way, so a call belongs to the function that owns the
  client, whichever thread it runs on: a Strands pool thread, a PTC bridge thread, a Lambda
  invocation thread);
* by a module listed in ``created_by`` (``{"moto.stepfunctions": <state machine>}``: the
  simulated Step Functions service invokes Lambda with clients of its own);
* otherwise ``None``: a call nobody can be blamed for, which a least-privilege check reports
  instead of dropping.

Attribution never looks at thread names. The thread is kept on each call only to show where a
call ran.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

__all__ = ["Call", "CallRecorder"]


@dataclass(frozen=True)
class Call:
    """One API call (or presigned URL) as botocore was asked to make it."""

    actor: str | None  # logical id of the resource whose client made it; None: unattributed
    service: str  # botocore's service id in event names: s3, dynamodb, sfn, bedrock-runtime, ...
    operation: str
    region: str
    params: Mapping[str, Any] = field(compare=False)
    thread: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"


class CallRecorder:
    """Hooks every client created while active; see the module docstring."""

    def __init__(self, created_by: Mapping[str, str] | None = None) -> None:
        self.created_by = dict(created_by or {})
        self.calls: list[Call] = []
        self._local = threading.local()
        self._original: Any = None

    def __enter__(self) -> CallRecorder:
        from botocore.session import Session

        self._original = Session.create_client
        recorder, original = self, self._original

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            hook = partial(recorder._record, recorder._owner(), client.meta.region_name)
            client.meta.events.register("provide-client-params", hook)
            return client

        Session.create_client = create_client  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        from botocore.session import Session

        Session.create_client = self._original  # type: ignore[method-assign]

    @contextmanager
    def acting_as(self, actor: str) -> Iterator[None]:
        """Clients created in this block (on this thread) belong to ``actor``."""
        previous = getattr(self._local, "actor", None)
        self._local.actor = actor
        try:
            yield
        finally:
            self._local.actor = previous

    def by(self, actor: str | None) -> list[Call]:
        return [c for c in self.calls if c.actor == actor]

    def _owner(self) -> str | None:
        actor = getattr(self._local, "actor", None)
        if actor is not None:
            return str(actor)
        frame = sys._getframe(2)  # the caller of Session.create_client (and on up)
        while frame is not None:
            module = str(frame.f_globals.get("__name__", ""))
            for prefix, owner in self.created_by.items():
                if module.startswith(prefix):
                    return owner
            frame = frame.f_back  # type: ignore[assignment]
        return None

    def _record(
        self, actor: str | None, region: str, params: dict[str, Any], model: Any, **kw: Any
    ) -> None:
        service = str(kw["event_name"]).split(".")[1]
        thread = threading.current_thread().name
        self.calls.append(Call(actor, service, model.name, region, dict(params), thread))
