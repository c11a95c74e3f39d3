"""This repository's app: two stacks, thin over the construct library.

The code interpreter lives in a stack of its own (its lifecycle is the sandbox's); everything
else is one :class:`~bedrock_code_execution.CodeExecution` in the agent stack, given that
interpreter. Each construct has the id ``Default``, which CDK leaves out of logical ids, so the
templates keep the logical ids the stacks had before the construct library existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from bedrock_code_execution import CodeExecution, SandboxInterpreter
from bedrock_code_execution.bundling import REPO_ROOT
from bedrock_code_execution.interpreter import InterpreterIds
from stacks.settings import Settings

__all__ = ["AgentStack", "CodeInterpreterStack"]


class CodeInterpreterStack(Stack):
    """The code interpreter and its execution role (:class:`SandboxInterpreter`), plus outputs.

    Attributes:
        interpreter: the code interpreter.
        execution_role: the role the sandbox runs with.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        sandbox = SandboxInterpreter(self, "Default", settings=settings)
        self.interpreter = sandbox.interpreter
        self.execution_role = sandbox.execution_role
        CfnOutput(self, "CodeInterpreterId", value=self.interpreter.code_interpreter_id)
        CfnOutput(self, "CodeInterpreterArn", value=self.interpreter.code_interpreter_arn)
        CfnOutput(self, "ExecutionRoleArn", value=self.execution_role.role_arn)


class AgentStack(Stack):
    """Everything that runs the agent (:class:`CodeExecution`) on a given interpreter, plus
    outputs.

    Attributes:
        code_execution: the construct.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        code: lambda_.Code | None,
        interpreter_id: str,
        interpreter_arn: str,
        source_root: Path = REPO_ROOT,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        interpreter = InterpreterIds(interpreter_id, interpreter_arn)
        ce = CodeExecution(
            self,
            "Default",
            props=settings,
            interpreter=interpreter,
            code=code,
            source_root=source_root,
        )
        self.code_execution = ce
        CfnOutput(self, "ApiUrl", value=ce.api_url)
        CfnOutput(self, "FilesBucketName", value=ce.files_bucket.bucket_name)
        CfnOutput(self, "TableName", value=ce.table.table_name)
        CfnOutput(self, "JobStateMachineArn", value=ce.state_machine.state_machine_arn)
        CfnOutput(self, "AlarmTopicArn", value=ce.alarm_topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.stack_name)
        if ce.agent_api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=ce.agent_api.api_key.key_id)
