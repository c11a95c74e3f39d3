"""A botocore error that reached the error handler -> the failure contract's typed error.

The sandbox client and the model calls translate their vendor's errors where they call it;
DynamoDB, S3 and Step Functions are called from many places (the store, the files, the job
machine), and what they raise after botocore's retries is classified here once, for
:func:`code_exec.api.errors.to_api_error`: throttled -> 429 ``Throttled``, a 5xx or a
transport failure -> 503 ``DependencyUnavailable`` (``DeadlineExceeded`` once the request's
deadline has passed), AccessDenied -> 502 ``DependencyAccessDenied``. Anything else is not a
dependency's transient failure and stays a 500. The service's own message is never echoed.
"""

from __future__ import annotations

import logging

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from code_exec import deadline
from code_exec.exceptions import (
    CodeExecError,
    DeadlineExceededError,
    DependencyAccessDeniedError,
    DependencyThrottledError,
    DependencyUnavailableError,
)

__all__ = ["dependency_error"]

logger = logging.getLogger(__name__)

# AWS's throttling codes (botocore's standard retry mode retries these as throttles).
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "LimitExceededException",
    }
)
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException"})
_TRANSPORT = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)


def dependency_error(exc: BaseException) -> CodeExecError | None:
    """The contract's error for a botocore error from a dependency (None: not one of those)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        op = exc.operation_name
        logger.warning("dependency call %s failed: %s (HTTP %s)", op, code, status)
        if code in _THROTTLED or status == 429:
            return DependencyThrottledError(f"{op} was throttled ({code}); retry later")
        if code in _DENIED:
            return DependencyAccessDeniedError(f"{op} was denied ({code}): check the deployment")
        if status >= 500:
            return _unavailable(f"{op} failed ({code or status})")
        return None
    if isinstance(exc, _TRANSPORT) or (
        isinstance(exc, BotoCoreError) and "connection" in type(exc).__name__.lower()
    ):
        logger.warning("dependency call failed: %s", type(exc).__name__)
        return _unavailable(f"a dependency did not answer ({type(exc).__name__})")
    return None


def _unavailable(what: str) -> DependencyUnavailableError:
    current = deadline.current()
    if current is not None and current.expired:
        return DeadlineExceededError(f"{what} before the request's deadline; retry later")
    return DependencyUnavailableError(f"{what}; retry later")
