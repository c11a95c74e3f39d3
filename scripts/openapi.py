"""Write ``docs/openapi.json`` from the API's resolver (``make openapi``); a test fails when the
committed document is stale."""

from __future__ import annotations

from pathlib import Path

from code_exec.api import create_app, openapi_json
from code_exec.services import Services

__all__ = ["DOC", "generate", "main"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def generate() -> str:
    """The OpenAPI document of every route (no AWS client is built)."""
    return openapi_json(create_app(Services()))


def main() -> int:
    DOC.write_text(generate())
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
