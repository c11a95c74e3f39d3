"""One deadline per request, read by every dependency call and every retry.

API Gateway answers a buffered route with its own 504 after 29 s, and a Lambda function is
killed at its timeout: a retry that sleeps past either leaves the client with a gateway
error and the work half done. So each request gets one :class:`Deadline`, made at the
entry point (:meth:`Deadline.for_invocation`: the Lambda context's remaining time and the
route's budget) and set for the request with :func:`bound`, a context variable. Every
dependency call reads it through :func:`current`, wherever it is made:

* the sandbox client's retry loop never sleeps past it (:mod:`code_exec.sandbox.errors`);
* every boto3 client built by :mod:`code_exec.clients` (DynamoDB, S3, Step Functions,
  Bedrock, AgentCore) clips its connect and read timeouts to it, and botocore's own retries
  stop before it;
* long sandbox commands are bounded by :meth:`Deadline.remaining`
  (``anthropic/server_tool_runner``).

A deadline has two instants. ``at`` ends the request's *work*: no retry starts and no new
wait is begun past it, and :meth:`check` raises :class:`DeadlineExceededError` (503 with
``Retry-After``). ``grace`` seconds later the answer must be out: calls made after ``at``
(releasing a lease, stopping a one-shot session in ``finally``) still run, with timeouts
clipped to that final instant, so cleanup is not refused and cannot outlive the gateway.

A context variable rather than an argument threaded through every layer: the calls to reach
are in the store, the files, the model loops and the sandbox, and a forgotten argument would
silently mean "no deadline". A thread does not inherit context variables; a thread that makes
calls for the request is started in a copy of its context (the streamed pump does).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from code_exec.exceptions import RETRY_AFTER_SECONDS, DeadlineExceededError

__all__ = [
    "ANSWER_MARGIN_SECONDS",
    "BUFFERED_BUDGET_SECONDS",
    "BUFFERED_GRACE_SECONDS",
    "MIN_ATTEMPT_SECONDS",
    "Deadline",
    "bound",
    "current",
]

logger = logging.getLogger(__name__)

# API Gateway REST integrations answer 504 at 29 s; a buffered route must have answered before.
BUFFERED_BUDGET_SECONDS = 29.0
# Kept back for rendering the answer and the trip through Lambda and API Gateway.
ANSWER_MARGIN_SECONDS = 1.5
# Between the end of a buffered request's work and its answer: cleanup (lease, one-shot session).
BUFFERED_GRACE_SECONDS = 3.0

# A retry is only worth starting with at least this long left before ``at``: time for the call
# itself; less than that, the caller is better answered now, with ``Retry-After``.
MIN_ATTEMPT_SECONDS = 1.0
# Kept from the work time after a cell is cut off by its time limit: its result, the output
# files, the answer. A cell's limit is what the deadline leaves less this (:meth:`cell_seconds`).
CELL_MARGIN_SECONDS = 1.5
_MIN_TIMEOUT = 0.01  # urllib3 reads a timeout of 0 as "do not block"

_CURRENT: ContextVar[Deadline | None] = ContextVar("code_exec_deadline", default=None)


@dataclass(frozen=True)
class Deadline:
    """When a request's work must end (``at``, on ``clock``), and its answer ``grace`` later.

    Args:
        at: the instant, on ``clock``, after which no retry or new wait starts.
        grace: seconds after ``at`` by which every call has returned (cleanup runs there).
        clock: monotonic seconds (tests inject a fake one).
    """

    at: float
    grace: float = 0.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(
        cls, seconds: float, *, grace: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(clock() + max(0.0, seconds), max(0.0, grace), clock)

    @classmethod
    def for_invocation(
        cls,
        context: Any,
        *,
        budget: float | None,
        grace: float = 0.0,
        margin: float = ANSWER_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> Deadline:
        """The deadline of a request served by one Lambda invocation.

        Args:
            context: the Lambda context (``get_remaining_time_in_millis``); None when there is
                none, and then ``budget`` alone decides.
            budget: the route's own limit in seconds, counted from now (API Gateway's 29 s for
                a buffered route, :data:`BUFFERED_BUDGET_SECONDS`); None: the function's time.
            grace: seconds kept between the end of the work and the answer, for cleanup.
            margin: seconds kept after that for rendering and the trip back.
            clock: monotonic seconds.
        """
        get = getattr(context, "get_remaining_time_in_millis", None)
        limits = [x for x in (None if get is None else get() / 1000.0, budget) if x is not None]
        total = min(limits) if limits else math.inf
        work = total - margin - grace
        if work < 0:  # too little left even for the margins: split what there is
            work, grace = 0.0, max(0.0, total - margin)
        return cls.after(work, grace=grace, clock=clock)

    def remaining(self) -> float:
        """Seconds of work left (0 once :attr:`expired`; ``inf`` without a deadline)."""
        return max(0.0, self.at - self.clock())

    def final_remaining(self) -> float:
        """Seconds until the answer must be out (``remaining() + grace`` before ``at``)."""
        return max(0.0, self.at + self.grace - self.clock())

    @property
    def expired(self) -> bool:
        """True once the work time is over."""
        return self.clock() >= self.at

    def check(self, what: str = "the request") -> None:
        """Raise :class:`DeadlineExceededError` (503, ``Retry-After``) once expired."""
        if self.expired:
            raise DeadlineExceededError(
                f"{what} did not finish before the request's deadline; retry later",
                retry_after=RETRY_AFTER_SECONDS,
            )

    def clip(self, seconds: float) -> float:
        """``seconds``, or the work time left when that is less."""
        return min(seconds, self.remaining())

    def fits(self, seconds: float) -> bool:
        """True when waiting ``seconds`` still ends before :attr:`at`."""
        return self.clock() + seconds < self.at

    def backoff_window(self, window: float) -> float:
        """The part of a backoff ``window`` that leaves :data:`MIN_ATTEMPT_SECONDS` for the
        attempt after it (0 or less: no retry fits)."""
        return min(window, self.remaining() - MIN_ATTEMPT_SECONDS)

    def cell_seconds(self, limit: float | None = None) -> float | None:
        """A sandbox cell's time limit: ``limit``, cut to the work time left less
        :data:`CELL_MARGIN_SECONDS` (0 or less: no time for a cell; None: no limit at all)."""
        if self.at == math.inf:
            return limit
        left = self.remaining() - CELL_MARGIN_SECONDS
        return left if limit is None else min(limit, left)

    def call_seconds(self, limit: float) -> float:
        """A dependency call's timeout: ``limit``, cut to the work time left, or, for a call
        made after :attr:`at` (cleanup), to the grace left; never 0."""
        left = self.final_remaining() if self.expired else self.remaining()
        return max(_MIN_TIMEOUT, min(limit, left))


def current() -> Deadline | None:
    """The deadline of the request this code runs for (None outside any request)."""
    return _CURRENT.get()


@contextmanager
def bound(deadline: Deadline) -> Iterator[Deadline]:
    """``with bound(deadline):`` every dependency call inside reads ``deadline``."""
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)
