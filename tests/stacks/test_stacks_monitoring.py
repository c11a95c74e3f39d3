"""Alarms, their topic and the dashboard: on the metrics the runtime really emits."""

from __future__ import annotations

import ast
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.stacks.cfn import resources
from tests.stacks.conftest import REPO

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

pytestmark = pytest.mark.cdk


RUNTIME = REPO / "lambda" / "code_exec"


@pytest.fixture(scope="module")
def agent(agent_template: dict[str, Any]) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(agent_template)


def _emitted_metric_names() -> set[str]:
    """Every ``metrics.add_metric(name="...")`` in the runtime's source (and ``_timed``'s)."""
    names = set()
    for path in RUNTIME.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == "add_metric":
                for kw in node.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                        names.add(kw.value.value)
            elif called == "_timed" and node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


def test_the_stacks_name_the_runtimes_namespace_service_and_metrics() -> None:
    from code_exec import observability

    from bedrock_code_execution.monitoring import (
        METRICS_NAMESPACE,
        METRICS_SERVICE,
        RUNTIME_METRICS,
    )

    assert (METRICS_NAMESPACE, METRICS_SERVICE) == (observability.NAMESPACE, observability.SERVICE)
    emitted = _emitted_metric_names()
    assert {"InputTokens", "CodeRuns", "JobsFailed"} <= emitted  # the parse finds them
    assert set(RUNTIME_METRICS) <= emitted, set(RUNTIME_METRICS) - emitted


def _alarms(agent_template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in resources(agent_template, "AWS::CloudWatch::Alarm").values()]


def test_every_alarm_notifies_the_topic(agent_template: dict[str, Any]) -> None:
    [topic_id] = resources(agent_template, "AWS::SNS::Topic")
    alarms = _alarms(agent_template)
    # 5xx rate, errors + throttles x 6 functions, jobs, sandbox starts, leaks, dead letters
    assert len(alarms) == 1 + 6 * 2 + 4
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_the_alarms_watch_what_breaks(agent: Template, agent_template: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    from bedrock_code_execution.monitoring import (
        API_5XX_RATE_THRESHOLD,
        METRICS_NAMESPACE,
        METRICS_SERVICE,
    )

    agent.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5XXError",
            "Statistic": "Average",
            "Threshold": API_5XX_RATE_THRESHOLD,
            "Dimensions": Match.array_with([Match.object_like({"Name": "Stage"})]),
        },
    )
    lambda_alarms = {
        (a["MetricName"], json.dumps(a["Dimensions"][0]["Value"]))
        for a in _alarms(agent_template)
        if a.get("Namespace") == "AWS/Lambda"
    }
    functions = resources(agent_template, "AWS::Lambda::Function")
    assert lambda_alarms == {
        (metric, json.dumps({"Ref": fid}))
        for fid in functions
        for metric in ("Errors", "Throttles")
    }
    for name in ("SandboxStartFailures", "LeakedSessionsStopped"):
        agent.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": METRICS_NAMESPACE,
                "MetricName": name,
                "Dimensions": [{"Name": "service", "Value": METRICS_SERVICE}],
                "Statistic": "Sum",
                "Threshold": 1,
            },
        )
    [jobs] = [a for a in _alarms(agent_template) if "Metrics" in a]
    math = [m for m in jobs["Metrics"] if "Expression" in m]
    assert [m["Expression"] for m in math] == ["failed + timedOut + aborted"]
    watched = {
        m["MetricStat"]["Metric"]["MetricName"] for m in jobs["Metrics"] if "MetricStat" in m
    }
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}


def test_the_topic_takes_tls_only_and_no_email_by_default(agent: Template) -> None:
    from aws_cdk.assertions import Match

    agent.resource_count_is("AWS::SNS::Subscription", 0)
    agent.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def _dashboard_body(agent_template: dict[str, Any]) -> str:
    [dashboard] = resources(agent_template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return "".join(p if isinstance(p, str) else "TOKEN" for p in parts)


def test_the_dashboard_shows_requests_latency_tokens_code_and_sessions(
    agent_template: dict[str, Any],
) -> None:
    from bedrock_code_execution.monitoring import RUNTIME_METRICS

    body = json.loads(_dashboard_body(agent_template))
    titles = [w["properties"].get("title") for w in body["widgets"]]
    for title in ("API requests", "API latency (ms)", "Model tokens", "Code runs"):
        assert title in titles
    text = json.dumps(body)
    assert '"stat": "p50"' in text and '"stat": "p95"' in text
    for name in RUNTIME_METRICS:
        assert f'"{name}"' in text, name
    assert '"Count"' in text and '"Latency"' in text  # API Gateway's own metrics
