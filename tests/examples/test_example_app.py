"""The examples/ app, as a user would run it: a fresh CDK app with the construct and one custom
bridged tool reading the app's own DynamoDB table. It stays short, synthesizes with zero
cdk-nag findings (the app runs the AwsSolutions checks itself), passes cfn-lint, and wires
the tool: its module in the Lambda asset, its environment, and the table grant."""

from __future__ import annotations

import ast
import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.cfn import as_list, policy_statements, resources

pytestmark = pytest.mark.cdk

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "app.py"
TOOL = REPO / "examples" / "tools" / "orders.py"
WORKERS = ("ApiFunction", "StreamFunction", "JobFunction")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``examples/app.py`` run as ``__main__`` the way ``cdk synth --app`` runs it: no context,
    its own output directory, from another directory (the app finds its tool wherever it runs).

    It runs in this process, whose jsii runtime (and CDK's CloudFormation validation engine) the
    other CDK modules already started: a process of its own costs ~17 CPU-s more to start both.
    The output directory reaches its ``cdk.App()`` as an argument, as the settings tests do:
    the running jsii runtime does not see ``CDK_OUTDIR`` set now.
    """
    import aws_cdk

    outdir = tmp_path_factory.mktemp("example.out")
    real_app = aws_cdk.App
    error: str | None = None
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(aws_cdk, "App", lambda: real_app(context={}, outdir=str(outdir)))
        patched.chdir(tmp_path_factory.mktemp("elsewhere"))
        try:
            runpy.run_path(str(EXAMPLE), run_name="__main__")
        except (RuntimeError, SystemExit) as e:  # cdk-nag findings fail the synth
            error = f"{type(e).__name__}: {e}"
    report = outdir / "validation-report.json"
    return {
        "error": error,
        "outdir": outdir,
        "template": json.loads((outdir / "OrdersAgent.template.json").read_text()),
        "report": json.loads(report.read_text()) if report.exists() else {},
    }


def test_the_app_is_at_most_15_lines_of_code() -> None:
    """Lines of statements below the imports (the docstring and imports are not app code)."""
    tree = ast.parse(EXAMPLE.read_text())
    body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    body = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    lines = sum((n.end_lineno or n.lineno) - n.lineno + 1 for n in body)
    assert 0 < lines <= 15, lines


def test_it_synthesizes_with_zero_cdk_nag_findings(example: dict[str, Any]) -> None:
    assert example["error"] is None, example["error"][-4000:]
    findings = [
        f"{v['ruleName']} at {c['constructPath']}"
        for plugin in example["report"].get("pluginReports", [])
        for v in plugin.get("violations", [])
        for c in v.get("violatingConstructs", [])
    ]
    assert findings == []
    assert "AwsSolutions" in json.dumps(example["report"])  # the checks did run


def test_cfn_lint_has_no_errors(example: dict[str, Any]) -> None:
    from cfnlint.api import lint

    matches = lint(json.dumps(example["template"]), regions=["us-east-1"])
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(str(m) for m in errors)


def _logical_id(template: dict[str, Any], rtype: str, prefix: str) -> str:
    found = [k for k in resources(template, rtype) if k.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def test_the_tool_module_is_in_the_lambda_asset(example: dict[str, Any]) -> None:
    manifest = json.loads((example["outdir"] / "OrdersAgent.assets.json").read_text())
    dirs = [
        example["outdir"] / f["source"]["path"]
        for f in manifest["files"].values()
        if f["source"].get("packaging") == "zip"
    ]
    assert len(dirs) == 1
    assert (dirs[0] / "tool_modules" / "orders.py").read_bytes() == TOOL.read_bytes()
    assert (dirs[0] / "code_exec" / "ptc" / "assets.py").is_file()


def test_every_function_names_the_tool_module_and_workers_get_its_environment(
    example: dict[str, Any],
) -> None:
    template = example["template"]
    table = _logical_id(template, "AWS::DynamoDB::GlobalTable", "Orders")
    functions = resources(template, "AWS::Lambda::Function")
    assert len(functions) == 6
    for logical_id, fn in functions.items():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert json.loads(variables["PTC_TOOL_MODULES"]) == [
            {"path": "tool_modules/orders.py", "placement": "bridged"}
        ]
        if logical_id.startswith(tuple(f"CodeExecution{w}" for w in WORKERS)):
            assert variables["ORDERS_TABLE"] == {"Ref": table}
        else:
            assert "ORDERS_TABLE" not in variables


def test_the_table_grant_reaches_exactly_the_three_tool_running_roles(
    example: dict[str, Any],
) -> None:
    template = example["template"]
    table = _logical_id(template, "AWS::DynamoDB::GlobalTable", "Orders")
    reads = [
        (pid, s)
        for pid, s in policy_statements(template)
        if "dynamodb:GetItem" in as_list(s["Action"])
        and {"Fn::GetAtt": [table, "Arn"]} in as_list(s["Resource"])
    ]
    assert len(reads) == 1
    policy = template["Resources"][reads[0][0]]
    roles = sorted(re.sub(r"[0-9A-F]{8}$", "", r["Ref"]) for r in policy["Properties"]["Roles"])
    assert roles == sorted(f"CodeExecution{w}Role" for w in WORKERS)
    assert not any(a.startswith(("dynamodb:Put", "dynamodb:Delete")) for a in reads[0][1]["Action"])


def test_the_construct_creates_its_own_interpreter_and_the_app_its_own_output(
    example: dict[str, Any],
) -> None:
    from aws_cdk.assertions import Match, Template

    t = Template.from_json(example["template"])
    t.resource_count_is("AWS::BedrockAgentCore::CodeInterpreterCustom", 1)
    t.has_output("ApiUrl", {"Value": Match.any_value()})
    # the RestApi's own Endpoint output is not added to the user's stack
    assert list(example["template"]["Outputs"]) == ["ApiUrl"]


def test_the_readme_section_shows_the_example_as_it_is() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Use it in your own CDK app", 1)[1].split("\n## ", 1)[0]
    app = EXAMPLE.read_text()
    assert app[app.index("from pathlib import Path") :] in section
