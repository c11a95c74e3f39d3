"""bedrock-code-execution as a CDK construct library.

Add :class:`CodeExecution` to a stack of your own app; its settings are one
:class:`CodeExecutionProps`, your PTC tool modules :class:`ToolModule` entries of its ``tools``::

    code_execution = CodeExecution(
        stack,
        "CodeExecution",
        props=CodeExecutionProps(tools=[ToolModule("tools/orders.py", placement="bridged")]),
    )
    orders_table.grant_read_data(code_execution.tools_grantable)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bedrock_code_execution.lazy_exports import lazy_exports

# jsii prints a banner on every run while Node 20 is in use; it is not actionable here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

if TYPE_CHECKING:
    from bedrock_code_execution.code_execution import CodeExecution
    from bedrock_code_execution.interpreter import SandboxInterpreter
    from bedrock_code_execution.nag import acknowledge, add_checks
    from bedrock_code_execution.props import CodeExecutionProps, PropsError
    from bedrock_code_execution.tools import ToolModule

# Each name loads its module on first use (PEP 562): the props, checks and bundling modules
# (``make local``, the runtime's tests) then import without the CDK (its jsii runtime, a Node
# process, and ~3 CPU-s of import).
_EXPORTS = {
    "CodeExecution": "bedrock_code_execution.code_execution",
    "CodeExecutionProps": "bedrock_code_execution.props",
    "PropsError": "bedrock_code_execution.props",
    "SandboxInterpreter": "bedrock_code_execution.interpreter",
    "ToolModule": "bedrock_code_execution.tools",
    "acknowledge": "bedrock_code_execution.nag",
    "add_checks": "bedrock_code_execution.nag",
}

__all__ = [
    "CodeExecution",
    "CodeExecutionProps",
    "PropsError",
    "SandboxInterpreter",
    "ToolModule",
    "acknowledge",
    "add_checks",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
