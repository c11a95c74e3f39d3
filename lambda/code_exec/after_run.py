"""What a request does once its code has run: nothing that follows may lose the result.

A cell that ran has changed the session (its Python state, its files, anything it did outside),
so from that moment the request's answer is the code's result. A later failure — copying the
output files (``listFiles``/``readFiles``/``removeFiles`` throttled or failing, an S3 PUT
refused), saving the session in DynamoDB, releasing its lease — is reported in the answer's
``after_run_errors`` (:class:`~code_exec.models.AfterRunError`) and logged, never raised:

* raising would answer an error (429/502/503) for code that did run, and the client's retry
  would run it a second time — with or without an ``Idempotency-Key``, since Powertools
  deletes the key's record when the route fails;
* the answer is a success, so a retry with the same ``Idempotency-Key`` replays it
  (:mod:`code_exec.api.idempotency`) and nothing runs again;
* output files that were not copied stay in the session's ``outputs/`` (the outbox is only
  emptied after every file is in S3), and the next request on that session returns them.
  A one-shot session (``/invoke`` without ``session_id``) is stopped at the end of the
  request, so there they are lost, and ``files_kept`` says so.

The alternative — checkpointing the result under the idempotency key and redoing only the
collection on a retry — protects only clients that send a key, needs a second record kind
next to Powertools' own, and still has to answer something when the retry's collection fails
too (``docs/architecture.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Literal, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.dependency_errors import dependency_error
from code_exec.exceptions import CodeExecError, SessionNotFoundError
from code_exec.models import AfterRunError
from code_exec.observability import MetricUnit, metrics

__all__ = ["AfterRun", "after_run_error"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _Session(Protocol):
    """What :meth:`AfterRun.collect` reads of the request's session
    (:class:`~code_exec.operations.ActiveSession`, which imports this module)."""

    @property
    def session_id(self) -> str | None: ...


_CONSEQUENCE = {
    ("outputs", True): "the files stay in the session's outputs/ and the next request on "
    "this session returns them",
    ("outputs", False): "the files were lost with the sandbox session (a one-shot session, "
    "or one that was stopped or expired)",
    ("session", None): "the code's result is complete; the session's record was not updated "
    "(its expiry not renewed, a turn's history not kept for the next turn) or its lease not "
    "released (the next request may answer 409 until the lease expires)",
}
_MAX_DETAIL = 300  # a dependency's message, bounded (it may quote sandbox output)


def _describe(exc: Exception) -> tuple[str, str, int | None]:
    """(code, message, retry_after) of a failure, in the words an error answer would use: a
    dependency's botocore error is classified by the failure contract first
    (:func:`~code_exec.dependency_errors.dependency_error`: ``Throttled``, ``DependencyUnavailable``
    ... with their ``retry_after``), as the error answer would have been."""
    contract = dependency_error(exc)
    if contract is not None:
        exc = contract
    if isinstance(exc, CodeExecError):
        return exc.code, exc.message, exc.retry_after
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "ClientError")
        return code, f"{exc.operation_name} failed: {code}: {error.get('Message', '')}", None
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, str(exc), None
    return "InternalError", "internal error; see the function's logs for the request id", None


def after_run_error(
    step: Literal["outputs", "session"], exc: Exception, *, files_kept: bool | None = None
) -> AfterRunError:
    """The report of a step that failed after the code ran (logged with its traceback)."""
    logger.warning("after the code ran, step %s failed", step, exc_info=exc)
    metrics.add_metric(name="AfterRunErrors", unit=MetricUnit.Count, value=1)
    code, detail, retry_after = _describe(exc)
    what = "output files were not collected" if step == "outputs" else "session not saved"
    consequence = _CONSEQUENCE[(step, files_kept if step == "outputs" else None)]
    return AfterRunError(
        step=step,
        code=code,
        message=f"{what} ({detail[:_MAX_DETAIL]}); {consequence}",
        retry_after=retry_after,
        files_kept=files_kept if step == "outputs" else None,
    )


class AfterRun:
    """Wraps a request's session: once :meth:`ran` is called, a failure is reported, not raised.

    Entered before the session (``with AfterRun() as after, ops.session(...) as active``), it
    also sees what fails when the session is left (its save, its lease's release).
    """

    def __init__(self) -> None:
        self.errors: list[AfterRunError] = []
        self._ran = False

    def ran(self) -> None:
        """The code has run: from now on the request's answer is its result."""
        self._ran = True

    def collect(self, active: _Session, collect: Callable[[], T], nothing: T) -> T:
        """``collect()`` (the output collection), or ``nothing`` (no files) and an entry in
        :attr:`errors` when it fails.

        The files stay in ``outputs/`` only if the sandbox session outlives the request: a
        named session that has not ended (a one-shot session is stopped next).
        """
        try:
            return collect()
        except Exception as e:
            named = active.session_id is not None
            kept = named and not isinstance(e, SessionNotFoundError)
            self.errors.append(after_run_error("outputs", e, files_kept=kept))
            return nothing

    def __enter__(self) -> AfterRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if not self._ran or not isinstance(exc, Exception):
            return False  # before the code ran (or no error, or an interrupt): as it was
        self.errors.append(after_run_error("session", exc))
        return True
