"""This repository's CDK app over the construct library. ``build_app`` is the one place its
stacks are assembled."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bedrock_code_execution.lazy_exports import lazy_exports

# jsii prints a banner on every run while Node 20 is in use; it is not actionable here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from stacks.settings import Settings, SettingsError

if TYPE_CHECKING:
    from aws_cdk import App, Stage
    from aws_cdk import aws_lambda as lambda_

    from bedrock_code_execution.bundling import REPO_ROOT
    from stacks.app_stacks import AgentStack, CodeInterpreterStack

# The stacks and the bundling load the CDK on first use (PEP 562), so ``stacks.settings``
# alone (``make local``'s model settings, the runtime's tests) imports without it: no jsii
# runtime (a Node process) and ~3 CPU-s less.
_EXPORTS = {
    "AgentStack": "stacks.app_stacks",
    "CodeInterpreterStack": "stacks.app_stacks",
    "REPO_ROOT": "bedrock_code_execution.bundling",
}

__all__ = [
    "REPO_ROOT",
    "AgentStack",
    "AppStacks",
    "CodeInterpreterStack",
    "Settings",
    "SettingsError",
    "build_app",
]


@dataclass(frozen=True)
class AppStacks:
    """The stacks of one app."""

    code_interpreter: CodeInterpreterStack
    agent: AgentStack


def build_app(
    app: App | Stage,
    settings: Settings,
    *,
    root: Path | None = None,
    code: lambda_.Code | None = None,
) -> AppStacks:
    """Add both stacks to ``app``; the agent stack depends on the interpreter stack.

    ``code`` replaces the bundled Lambda asset, for tests that need the templates (roles,
    environment, state machine) but not the package; ``root`` is the checkout the assets
    come from (default: :data:`REPO_ROOT`).
    """
    from aws_cdk import Tags

    from bedrock_code_execution.bundling import REPO_ROOT
    from stacks.app_stacks import AgentStack, CodeInterpreterStack

    Tags.of(app).add("project", "bedrock-code-execution")
    interpreter = CodeInterpreterStack(
        app,
        f"{settings.stack_prefix}Interpreter",
        settings=settings,
        description="bedrock-code-execution: AgentCore code interpreter and its execution role",
        analytics_reporting=False,
    )
    agent = AgentStack(
        app,
        f"{settings.stack_prefix}Agent",
        settings=settings,
        code=code,
        source_root=REPO_ROOT if root is None else root,
        interpreter_id=interpreter.interpreter.code_interpreter_id,
        interpreter_arn=interpreter.interpreter.code_interpreter_arn,
        description="bedrock-code-execution: API, Lambda functions, job state machine, storage",
        analytics_reporting=False,
    )
    return AppStacks(code_interpreter=interpreter, agent=agent)


__getattr__ = lazy_exports(__name__, _EXPORTS)
