"""The runtime's errors live in one typed hierarchy (code_exec.exceptions); the sandbox's vendor
errors are translated into it (code_exec.sandbox.errors)."""

from __future__ import annotations

import code_exec.exceptions as exceptions
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from code_exec.exceptions import (
    CodeExecError,
    ModelAccessDeniedError,
    ModelError,
    ModelThrottledError,
    SandboxConflictError,
    SandboxError,
    SandboxResourceNotFoundError,
    SandboxTimeoutError,
    SessionExpiredError,
    SessionNotFoundError,
)
from code_exec.sandbox.errors import (
    is_retry_safe,
    is_unsent,
    service_error,
    tool_error,
    transport_error,
)


def test_every_error_is_exported_from_exceptions() -> None:
    defined = {
        name
        for name, obj in vars(exceptions).items()
        if isinstance(obj, type) and issubclass(obj, CodeExecError)
    }
    assert defined == set(exceptions.__all__)


def test_moved_errors_keep_their_place_and_status() -> None:
    assert issubclass(ModelThrottledError, ModelError)
    assert issubclass(ModelAccessDeniedError, ModelError)
    assert issubclass(SandboxResourceNotFoundError, SandboxError)
    assert (ModelThrottledError.status, ModelThrottledError.code) == (429, "ModelThrottled")
    assert (ModelAccessDeniedError.status, ModelAccessDeniedError.code) == (
        502,  # the deployment's role was refused: a dependency's AccessDenied (the contract)
        "ModelAccessDenied",
    )
    assert (SandboxResourceNotFoundError.status, SandboxResourceNotFoundError.code) == (
        404,
        "SandboxResourceNotFound",
    )


# --- vendor error translation (code_exec.sandbox.errors) ------------------------------------


def test_retry_only_what_cannot_have_run() -> None:
    assert is_retry_safe("ThrottlingException", idempotent=False)
    assert is_retry_safe("throttlingException", idempotent=False)
    assert not is_retry_safe("internalServerException", idempotent=False)
    assert is_retry_safe("InternalServerException", idempotent=True)
    assert not is_retry_safe("ValidationException", idempotent=True)


def test_service_errors_are_typed_and_name_the_session() -> None:
    gone = service_error("ResourceNotFoundException", "", "s-1", known_session=True)
    assert isinstance(gone, SessionExpiredError) and "s-1" in gone.message
    unknown = service_error("resourceNotFoundException", "nope", "s-2", known_session=False)
    assert type(unknown) is SessionNotFoundError and "nope" in unknown.message
    assert type(service_error("conflictException", "busy", "s", known_session=True)) is (
        SandboxConflictError
    )
    assert type(service_error("SomethingNewException", "", None, known_session=False)) is (
        SandboxError
    )


def test_transport_and_tool_errors() -> None:
    assert isinstance(transport_error(ReadTimeoutError(endpoint_url="u"), "x"), SandboxTimeoutError)
    assert is_unsent(EndpointConnectionError(endpoint_url="u"))
    assert not is_unsent(ReadTimeoutError(endpoint_url="u"))
    missing = tool_error("readFiles", "No such file: a.txt")
    assert isinstance(missing, SandboxResourceNotFoundError)
    assert type(tool_error("writeFiles", "disk full")) is SandboxError
