"""REST API: the buffered routes on the API Lambda, the streamed routes on the streaming Lambda
(response transfer mode ``STREAM``); IAM auth on the API's own routes, an API key checked by a
Lambda REQUEST authorizer on Anthropic's ``/v1/*`` routes."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bedrock_code_execution.nag import acknowledge

__all__ = [
    "BINARY_MEDIA_TYPES",
    "GATEWAY_ERRORS",
    "KEY_PREFIX",
    "KEY_ROUTES",
    "ROUTES",
    "STAGE_NAME",
    "STREAM_ROUTES",
    "AgentApi",
    "iam_route_arns",
]

STAGE_NAME = "prod"
# (method, path) of every route the API Lambda serves with IAM (SigV4) auth.
ROUTES = (
    ("POST", "/invoke"),
    ("POST", "/jobs"),
    ("GET", "/jobs/{id}"),
    ("POST", "/sessions/{id}/execute"),
    ("DELETE", "/sessions/{id}"),
)
# Anthropic's API (what the Anthropic SDK calls) served by the API Lambda, authorized by API
# key like every method under KEY_PREFIX.
KEY_ROUTES = (
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{id}"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{id}"),
    ("DELETE", "/v1/files/{id}"),
    ("GET", "/v1/files/{id}/content"),
    ("POST", "/v1/skills"),
    ("GET", "/v1/skills"),
    ("GET", "/v1/skills/{id}"),
    ("DELETE", "/v1/skills/{id}"),
    ("POST", "/v1/skills/{id}/versions"),
    ("GET", "/v1/skills/{id}/versions"),
    ("GET", "/v1/skills/{id}/versions/{version}"),
    ("DELETE", "/v1/skills/{id}/versions/{version}"),
    ("GET", "/v1/skills/{id}/versions/{version}/content"),
)
# (method, path) of every route the streaming Lambda serves (the runtime's
# ``code_exec.api.streamed.ROUTES``; a test asserts they agree). Auth follows the path: IAM,
# or the API-key authorizer under KEY_PREFIX.
STREAM_ROUTES = (("POST", "/invoke/stream"), ("POST", "/v1/messages"))
# Methods under this prefix are Anthropic's API, authorized by API key (the authorizer).
KEY_PREFIX = "/v1/"
# File uploads arrive base64-encoded to the function; downloads (the SDK asks with
# ``Accept: application/binary``) leave as bytes.
BINARY_MEDIA_TYPES = ("multipart/form-data", "application/binary")
# API Gateway's own refusals, in a body that is both Anthropic's error envelope and the API's
# ({"error": {"code", "message"}}): (status, Anthropic error type, message, code).
GATEWAY_ERRORS = {
    "UNAUTHORIZED": (401, "authentication_error", "invalid x-api-key", "Unauthorized"),
    "ACCESS_DENIED": (403, "permission_error", "access denied", "AccessDenied"),
}


class AgentApi(Construct):
    """API Gateway REST API in front of the API Lambda and the streaming Lambda.

    The API's own methods use IAM (SigV4) authorization; with ``require_api_key`` each also
    needs an API Gateway API key from a usage plan. Anthropic's ``/v1/*`` methods are
    authorized by ``authorizer`` (a Lambda REQUEST authorizer reading ``x-api-key`` or
    ``Authorization: Bearer``); its results are not cached by API Gateway, because a cached
    REQUEST authorizer needs identity sources and refuses any request missing one, and the
    SDK sends one header or the other. JSON POST bodies must be objects (request validator +
    model); path ids must be present.

    The streamed methods use a Lambda proxy integration with response transfer mode
    ``STREAM``: API Gateway calls ``InvokeWithResponseStream`` (integration URI
    ``2021-11-15/functions/<arn>/response-streaming-invocations``) and relays the response
    as it comes, for up to ``stream_timeout`` (at most 15 minutes) instead of 29 seconds.

    Stage access logs and execution logs need the account's API Gateway CloudWatch role
    (``AWS::ApiGateway::Account``, one per account and region). With ``cloud_watch_role``
    this construct creates that role and sets it; without, the account must already have
    one (setting it from a second stack would replace the first stack's role).

    Args:
        name: the REST API's name (the ``ApiName`` of its CloudWatch metrics).
        handler: the buffered routes' function.
        stream_handler: the streamed routes' function (:data:`STREAM_ROUTES`).
        stream_timeout: how long a streamed method may run (integration timeout).
        authorizer_function: the REQUEST authorizer of every method under :data:`KEY_PREFIX`.

    Attributes:
        api: the REST API.
        access_logs: the stage's JSON access-log group.
        api_key: the API key, when required.
        authorizer: the ``/v1/*`` REQUEST authorizer.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handler: lambda_.IFunction,
        stream_handler: lambda_.IFunction,
        stream_timeout: Duration,
        authorizer_function: lambda_.IFunction,
        require_api_key: bool,
        cloud_watch_role: bool,
        throttle_rate_limit: int,
        throttle_burst_limit: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            # Also the ApiName dimension of its metrics: unique per deployment, so the
            # alarms and dashboard of two deployments in one account never mix.
            rest_api_name=name,
            description="bedrock-code-execution: code execution and PTC for Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=cloud_watch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if cloud_watch_role else None,
            api_key_source_type=apigw.ApiKeySourceType.HEADER if require_api_key else None,
            binary_media_types=list(BINARY_MEDIA_TYPES),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM,
                api_key_required=require_api_key,
            ),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        body_validator = self.api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True
        )
        params_validator = self.api.add_request_validator(
            "ParamsValidator", validate_request_body=False, validate_request_parameters=True
        )
        json_object = self.api.add_model(
            "JsonObject",
            content_type="application/json",
            model_name="JsonObject",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="JsonObject",
                type=apigw.JsonSchemaType.OBJECT,
            ),
        )
        buffered = apigw.LambdaIntegration(handler, allow_test_invoke=False)
        streamed = apigw.LambdaIntegration(
            stream_handler,
            allow_test_invoke=False,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=stream_timeout,
        )
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "KeyAuthorizer",
            handler=authorizer_function,
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )
        # No identity sources (CDK renders an empty string): the property is left out, which is
        # what an uncached REQUEST authorizer without one is (IdentitySource is optional then).
        cfn_authorizer = self.authorizer.node.default_child
        assert isinstance(cfn_authorizer, apigw.CfnAuthorizer)
        cfn_authorizer.add_property_deletion_override("IdentitySource")
        key_auth: dict[str, Any] = {
            "authorization_type": apigw.AuthorizationType.CUSTOM,
            "authorizer": self.authorizer,
            "api_key_required": False,
        }
        routes = [(m, p, buffered) for m, p in (*ROUTES, *KEY_ROUTES)] + [
            (m, p, streamed) for m, p in STREAM_ROUTES
        ]
        for method, path, integration in routes:
            resource = self.api.root.resource_for_path(path)
            params = {"method.request.path.id": True} if "{id}" in path else None
            auth = key_auth if path.startswith(KEY_PREFIX) else {}
            if method == "POST" and path != "/v1/files":  # uploads are multipart/form-data
                resource.add_method(
                    method,
                    integration,
                    request_validator=body_validator,
                    request_models={"application/json": json_object},
                    request_parameters=params,
                    **auth,
                )
            else:
                resource.add_method(
                    method,
                    integration,
                    request_validator=params_validator,
                    request_parameters=params,
                    **auth,
                )
        for kind, (status, error_type, message, code) in GATEWAY_ERRORS.items():
            body = {
                "type": "error",
                "error": {"type": error_type, "message": message, "code": code},
                "request_id": "$context.requestId",
            }
            self.api.add_gateway_response(
                f"{kind.title().replace('_', '')}Response",
                type=getattr(apigw.ResponseType, kind),
                status_code=str(status),
                templates={"application/json": json.dumps(body)},
            )

        self.api_key: apigw.IApiKey | None = None
        if require_api_key:
            self.api_key = self.api.add_api_key("ApiKey")
            plan = self.api.add_usage_plan(
                "UsagePlan",
                throttle=apigw.ThrottleSettings(
                    rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit
                ),
            )
            plan.add_api_stage(stage=self.api.deployment_stage)
            plan.add_api_key(self.api_key)

        if cloud_watch_role:
            acknowledge(
                self.api,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-level CloudWatch role needs exactly this AWS managed "
                "policy to write execution logs.",
            )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "Every method requires SigV4 (IAM) auth or an API key checked by the Lambda "
            "authorizer, and the stage is throttled; attach a regional WAF web ACL in accounts "
            "that require one.",
        )
        for method, path, _ in routes:
            node = self.api.root.resource_for_path(path).node.find_child(method)
            acknowledge(
                node,
                "AwsSolutions-COG4",
                "Anthropic SDK callers authenticate with an API key (x-api-key or Bearer), "
                "checked against hashed keys by the Lambda REQUEST authorizer."
                if path.startswith(KEY_PREFIX)
                else "Callers authenticate with IAM (SigV4); a Cognito user pool is not part of "
                "this deployment.",
            )


def iam_route_arns(api: apigw.RestApi) -> list[str]:
    """``execute-api`` ARNs of the IAM-authorized routes in the stage (``{id}`` -> ``*``)."""
    return [
        api.arn_for_execute_api(
            method, "/".join("*" if p.startswith("{") else p for p in path.split("/")), STAGE_NAME
        )
        for method, path in (*ROUTES, *STREAM_ROUTES)
        if not path.startswith(KEY_PREFIX)
    ]
