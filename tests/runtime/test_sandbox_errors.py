"""The runtime's errors live in one typed hierarchy (code_exec.exceptions)."""

from __future__ import annotations

import code_exec.exceptions as exceptions
from code_exec.exceptions import (
    CodeExecError,
    ModelAccessDeniedError,
    ModelError,
    ModelThrottledError,
    SandboxError,
    SandboxResourceNotFoundError,
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
        403,
        "ModelAccessDenied",
    )
    assert (SandboxResourceNotFoundError.status, SandboxResourceNotFoundError.code) == (
        404,
        "SandboxResourceNotFound",
    )
