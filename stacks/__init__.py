"""CDK stacks of bedrock-code-execution. ``build_app`` is the one place stacks are assembled."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# jsii prints a banner on every run while Node 20 is in use; it is not actionable here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from aws_cdk import App, Stage, Tags
from aws_cdk import aws_lambda as lambda_

from bedrock_code_execution.code_execution import AgentStack
from bedrock_code_execution.bundling import LambdaAsset, lambda_code_asset
from bedrock_code_execution.interpreter import CodeInterpreterStack
from bedrock_code_execution.runtime_env import STREAM_BOOTSTRAP
from bedrock_code_execution.props import Settings, SettingsError

__all__ = ["REPO_ROOT", "AppStacks", "Settings", "SettingsError", "build_app", "lambda_asset"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AppStacks:
    """The stacks of one app."""

    code_interpreter: CodeInterpreterStack
    agent: AgentStack


def lambda_asset(settings: Settings, root: Path = REPO_ROOT) -> LambdaAsset:
    """What goes into the Lambda code asset for these settings."""
    return LambdaAsset(
        code_root=root / "lambda",
        packages=tuple(
            p for p in (root / "lambda" / "code_exec", root / "sandbox_assets") if p.is_dir()
        ),
        build_dir=root / ".build",
        architecture=settings.lambda_architecture,
        python_version=settings.lambda_python_version,
        executables=(STREAM_BOOTSTRAP,),
    )


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
        code=code or lambda_code_asset(lambda_asset(settings, root)),
        interpreter_id=interpreter.interpreter.code_interpreter_id,
        interpreter_arn=interpreter.interpreter.code_interpreter_arn,
        description="bedrock-code-execution: API, Lambda functions, job state machine, storage",
        analytics_reporting=False,
    )
    return AppStacks(code_interpreter=interpreter, agent=agent)
