"""Verify a deployment: a probe stack and the integ-test assertions run against a real account.

``integ/integ_deployment.py`` (run by ``integ-runner``, ``make integ``) deploys the app's
stacks plus :class:`ProbeStack`, then :func:`add_assertions` checks, in order:

1. every configured model id resolves (``bedrock:GetInferenceProfile`` for inference
   profiles, ``bedrock:GetFoundationModel`` for foundation models);
2. ``POST /invoke/stream`` streams an SSE turn (``start`` ... ``result``);
3. ``POST /v1/messages`` answers the Anthropic SDK's request with a key minted for the run;
4. an unknown container answers 404 and a busy one 409 through the streaming function;
5. code in the sandbox calls Bedrock with the interpreter's execution role (its trust policy);
6. the sweeper, run last, finds no leaked session to stop and fails no stop.

Checks 2-5 need code (SigV4, SSE, a minted key): the probe function (``integ/probe``) runs
one per invocation, and the assertion expects ``{"ok": true, "check": <name>}``. Not part of
``app.py``: only the integ app imports this module (``aws-cdk.integ-tests-alpha``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import integ_tests_alpha as integ
from constructs import Construct

from bedrock_code_execution.functions import FunctionSpec, ServiceFunction
from stacks.app_stacks import AgentStack
from stacks.settings import Settings

__all__ = ["PROBE_CHECKS", "PROBE_DIR", "ProbeStack", "add_assertions"]

PROBE_DIR = Path(__file__).resolve().parent.parent / "integ" / "probe"
# The probe's checks, in the order they run (integ/probe/probe.py CHECKS).
PROBE_CHECKS = ("invoke_stream", "messages", "containers", "sandbox_bedrock")
# integ-tests' assertion provider invokes the probe synchronously from a function with a
# 120 s timeout: each check ends before that.
PROBE_TIMEOUT = Duration.seconds(110)
# The one named session the probe uses (deleted before and after its check), so its role
# names exact routes, no wildcard.
PROBE_SESSION = "integ-probe"


class ProbeStack(Stack):
    """The probe function, allowed exactly what its checks do.

    Attributes:
        probe: the function (``integ/probe/probe.py``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        agent: AgentStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        api = agent.code_execution.api
        models = {v: k for k, v in reversed(settings.anthropic_models.items())}
        self.probe = ServiceFunction(
            self,
            "Probe",
            spec=FunctionSpec(
                "probe.handler", "Checks the deployment (integ test)", PROBE_TIMEOUT, 256
            ),
            code=lambda_.Code.from_asset(str(PROBE_DIR)),
            python_version=settings.lambda_python_version,
            architecture=settings.lambda_architecture,
            environment={
                "API_URL": api.url,
                "TABLE_NAME": agent.code_execution.table.table_name,
                "ANTHROPIC_MODEL": models.get(settings.model_id, settings.model_id),
                "SANDBOX_MODEL_ID": settings.sandbox_model_id,
                "PROBE_SESSION": PROBE_SESSION,
            },
            log_retention_days=settings.log_retention_days,
            reserved_concurrency=None,
        )
        role = self.probe.role
        stage = api.deployment_stage
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CallIamRoutes",
                actions=["execute-api:Invoke"],
                resources=[
                    api.arn_for_execute_api("POST", "/invoke/stream", stage.stage_name),
                    api.arn_for_execute_api(
                        "POST", f"/sessions/{PROBE_SESSION}/execute", stage.stage_name
                    ),
                    api.arn_for_execute_api(
                        "DELETE", f"/sessions/{PROBE_SESSION}", stage.stage_name
                    ),
                ],
            )
        )
        table = agent.code_execution.table.table_arn
        for sid, actions, leading in (
            ("MintProbeKeys", ["dynamodb:PutItem", "dynamodb:DeleteItem"], "APIKEY#*"),
            ("HoldProbeContainer", ["dynamodb:UpdateItem"], "CONTAINER#*"),
        ):
            role.add_to_policy(
                iam.PolicyStatement(
                    sid=sid,
                    actions=actions,
                    resources=[table],
                    conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [leading]}},
                )
            )


def _probe_ok(check: str) -> integ.ExpectedResult:
    return integ.ExpectedResult.object_like(
        {"Payload": integ.Match.serialized_json({"ok": True, "check": check})}
    )


def add_assertions(
    test: integ.IntegTest, *, settings: Settings, agent: AgentStack, probe: ProbeStack
) -> list[integ.IApiCall]:
    """The checks of the module docstring, chained to run one after another; returned in
    order."""
    calls: list[integ.IApiCall] = []
    model_ids = dict.fromkeys((*settings.allowed_model_ids, *settings.sandbox_model_ids))
    for model_id in model_ids:
        if settings.model_target(model_id).is_profile:
            call = test.assertions.aws_api_call(
                "Bedrock", "getInferenceProfile", {"inferenceProfileIdentifier": model_id}
            )
            call.expect(integ.ExpectedResult.object_like({"inferenceProfileId": model_id}))
        else:
            call = test.assertions.aws_api_call(
                "Bedrock", "getFoundationModel", {"modelIdentifier": model_id}
            )
            call.expect(integ.ExpectedResult.object_like({"modelDetails": {"modelId": model_id}}))
        calls.append(call)
    for check in PROBE_CHECKS:
        call = test.assertions.invoke_function(
            function_name=probe.probe.function.function_name,
            payload=json.dumps({"check": check}),
        )
        call.expect(_probe_ok(check))
        calls.append(call)
    sweep = test.assertions.invoke_function(
        function_name=agent.code_execution.sweeper_function.function.function_name
    )
    sweep.expect(
        integ.ExpectedResult.object_like(
            {
                "Payload": integ.Match.serialized_json(
                    integ.Match.object_like({"stopped": [], "failed": []})
                )
            }
        )
    )
    calls.append(sweep)
    for before, after in itertools.pairwise(calls):
        before.next(after)
    return calls
