"""The REST API: the API and streaming functions' entry modules (``handler``, ``streamed``),
routes, request/response schemas, errors, OpenAPI.

``create_app`` and ``openapi_json`` are imported when first asked for, so the streaming
function's entry module (``code_exec.api.streamed``) does not load the buffered routes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from code_exec.api.openapi import openapi_json
    from code_exec.api.routes import create_app

__all__ = ["create_app", "openapi_json"]

_LAZY = {"create_app": "code_exec.api.routes", "openapi_json": "code_exec.api.openapi"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
