"""Local AgentCore Code Interpreter data plane: same REST-JSON + event-stream protocol
as botocore's ``bedrock-agentcore`` model, backed by bubblewrap + ipykernel.

Run it with ``python -m emulators.code_interpreter --port 0`` (prints its URL first).
"""

from __future__ import annotations

from .backend import CodeInterpreterBackend, Fault
from .config import EmulatorConfig
from .server import EmulatorServer, create_server

__all__ = ["CodeInterpreterBackend", "EmulatorConfig", "EmulatorServer", "Fault", "create_server"]
