"""Your own CDK app: code execution for Amazon Bedrock, with one tool reading your own table.

Run from the repository root: ``npx cdk synth --app ".venv/bin/python examples/app.py"``.
"""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb

from bedrock_code_execution import CodeExecution, CodeExecutionProps, ToolModule, add_checks

app = cdk.App()
stack = cdk.Stack(app, "OrdersAgent")
key = dynamodb.Attribute(name="order_id", type=dynamodb.AttributeType.STRING)
pitr = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
orders = dynamodb.TableV2(
    stack, "Orders", partition_key=key, point_in_time_recovery_specification=pitr
)
env = {"ORDERS_TABLE": orders.table_name}  # what the tool reads, set where it runs
tool = ToolModule(Path(__file__).parent / "tools/orders.py", placement="bridged", environment=env)
code_execution = CodeExecution(stack, "CodeExecution", props=CodeExecutionProps(tools=[tool]))
orders.grant_read_data(code_execution.tools_grantable)  # the bridged tool reads your table
cdk.CfnOutput(stack, "ApiUrl", value=code_execution.api_url)
add_checks(app)  # cdk-nag AwsSolutions: synth fails on any unacknowledged finding
app.synth()
