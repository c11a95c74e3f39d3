"""The runtime fixtures (moto, the emulator, the real API handler), for the example's tool."""

from __future__ import annotations

from tests.runtime.conftest import (  # noqa: F401  (fixtures, registered by import)
    aws,
    handler,
    sandbox_api,
    sandbox_env,
    stack_env,
)
