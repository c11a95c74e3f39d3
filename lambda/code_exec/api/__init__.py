"""The REST API: Lambda entry points, routes, request/response schemas, errors, OpenAPI."""

from __future__ import annotations

from code_exec.api.openapi import openapi_json
from code_exec.api.routes import create_app

__all__ = ["create_app", "openapi_json"]
