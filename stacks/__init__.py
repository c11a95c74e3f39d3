"""This repository's CDK app over the construct library. ``build_app`` is the one place its
stacks are assembled."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# jsii prints a banner on every run while Node 20 is in use; it is not actionable here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from aws_cdk import App, Stage, Tags
from aws_cdk import aws_lambda as lambda_

from bedrock_code_execution.bundling import REPO_ROOT
from stacks.app_stacks import AgentStack, CodeInterpreterStack
from stacks.settings import Settings, SettingsError

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
    root: Path = REPO_ROOT,
    code: lambda_.Code | None = None,
) -> AppStacks:
    """Add both stacks to ``app``; the agent stack depends on the interpreter stack.

    ``code`` replaces the bundled Lambda asset, for tests that need the templates (roles,
    environment, state machine) but not the package.
    """
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
        source_root=root,
        interpreter_id=interpreter.interpreter.code_interpreter_id,
        interpreter_arn=interpreter.interpreter.code_interpreter_arn,
        description="bedrock-code-execution: API, Lambda functions, job state machine, storage",
        analytics_reporting=False,
    )
    return AppStacks(code_interpreter=interpreter, agent=agent)
