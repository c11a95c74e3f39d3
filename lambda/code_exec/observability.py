"""Powertools Logger, Tracer and Metrics, created once for the Lambda entry points.

Tracing is off outside Lambda (Powertools disables it when no Lambda runtime is
detected, and ``POWERTOOLS_TRACE_DISABLED=1`` forces it off), so tests and local
mode never need X-Ray.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["NAMESPACE", "SERVICE", "MetricUnit", "logger", "metrics", "tracer"]

SERVICE = "bedrock-code-execution"
NAMESPACE = "BedrockCodeExecution"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
