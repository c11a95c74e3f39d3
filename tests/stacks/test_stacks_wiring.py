"""Cross-stack wiring: Lambda environment names, the Lambda asset, and the IAM report."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.stacks.cfn import Synth, resources
from tests.stacks.conftest import REPO

pytestmark = pytest.mark.cdk

CONFIG = REPO / "lambda" / "code_exec" / "config.py"
MAX_UNZIPPED = 250 * 1024 * 1024


def _env_names_in_config() -> set[str]:
    """The ENV names, read by parsing config.py (stacks never import the runtime)."""
    tree = ast.parse(CONFIG.read_text())
    env = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ENV")
    return {
        t.id
        for n in env.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }


def test_runtime_env_keys_are_exactly_the_config_env_names() -> None:
    from code_exec.config import ENV  # the runtime's own view agrees with the parse

    from bedrock_code_execution.runtime_env import RuntimeWiring, runtime_environment
    from stacks.settings import Settings

    names = _env_names_in_config()
    assert names == set(ENV.ALL)
    env = runtime_environment(Settings(), RuntimeWiring("ci", "bucket", "table", "arn"))
    assert set(env) == names


def test_every_function_gets_exactly_that_environment(agent_template: dict) -> None:
    """The runtime's names, plus the exec wrapper on the streaming function alone."""
    names = _env_names_in_config()
    for fn in resources(agent_template, "AWS::Lambda::Function").values():
        variables = set(fn["Properties"]["Environment"]["Variables"])
        if fn["Properties"]["Handler"].endswith(".stream_handler"):
            assert variables == names | {"AWS_LAMBDA_EXEC_WRAPPER"}
        else:
            assert variables == names


def test_stacks_never_import_the_runtime() -> None:
    for path in [*(REPO / "stacks").glob("*.py"), *(REPO / "bedrock_code_execution").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                module = getattr(node, "module", None) or ""
                names = [module] + [a.name for a in node.names]
                assert not any(n.startswith("code_exec") for n in names), path


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_lambda_asset_has_code_and_deps_for_the_lambda_platform(synth: Synth) -> None:
    asset = synth.lambda_asset_dir()
    assert _size(asset) < MAX_UNZIPPED
    for required in (
        "code_exec/api/handler.py",
        "code_exec/config.py",
        "strands",
        "bedrock_agentcore",
        "aws_lambda_powertools",
        "pydantic_core",
        "boto3",
    ):
        assert (asset / required).exists(), required
    binaries = [p.name for p in (asset / "pydantic_core").glob("_pydantic_core*.so")]
    assert binaries and all("x86_64-linux-gnu" in b for b in binaries), binaries
    assert all("cpython-314" in b for b in binaries), binaries  # lambdaPythonVersion 3.14
    assert not list(asset.rglob("__pycache__"))
    # the streaming function's exec wrapper: in the asset at the path the stack names,
    # executable (the CDK CLI zips each file with its mode), a POSIX shell script
    wrapper = asset / "code_exec" / "streaming" / "bootstrap"
    assert wrapper.stat().st_mode & 0o777 == 0o755
    assert wrapper.read_bytes().startswith(b"#!/bin/sh\n")
    # What the runtime sends into the sandbox sits next to code_exec (see ptc_assets.py).
    repo_assets = {p.name for p in (REPO / "sandbox_assets").glob("*.py")}
    assert repo_assets <= {p.name for p in (asset / "sandbox_assets").glob("*.py")}


def test_iam_report_is_current(synth: Synth) -> None:
    from devtools.iam_report import render

    committed = (REPO / "docs" / "iam.md").read_text()
    assert render(synth.outdir) == committed, (
        "docs/iam.md is stale: run `make iam-report` and commit the result"
    )


def test_iam_report_lists_every_role(synth: Synth) -> None:
    from devtools.iam_report import render

    text = render(synth.outdir)
    for template in synth.templates.values():
        for logical_id in resources(template, "AWS::IAM::Role"):
            assert logical_id[:-8] in text
    assert "aws:SourceAccount" in text and "aws:SourceArn" in text
    # The interpreter ARN, imported by the agent stack, is named by the stack that owns it.
    assert f"${{{synth.interpreter_stack}/CodeInterpreter.CodeInterpreterArn}}" in text


def test_iam_report_lists_each_acknowledgment_with_a_reason(synth: Synth) -> None:
    from devtools.iam_report import collect_acknowledgments

    acks = collect_acknowledgments(synth.outdir)
    rules = {rule for _, rule, _ in acks}
    assert "AwsSolutions-IAM5[Resource::*]" in rules
    assert all(rule.startswith("AwsSolutions-") and len(reason) >= 20 for _, rule, reason in acks)


def test_the_cdk_cli_zips_assets_with_each_files_mode() -> None:
    """What keeps the exec wrapper executable after `cdk deploy`: the CLI's asset zipper
    (node_modules/aws-cdk, pinned in package.json) stores each file's own mode."""
    cli = (REPO / "node_modules" / "aws-cdk" / "lib" / "index.js").read_text()
    start = cli.index("function writeZipFile(")
    body = cli[start : cli.index("__name(writeZipFile", start)]
    assert re.search(r"(\w+)\s*\]\s*=\s*await Promise\.all\(\[.*\.stat\(", body), body
    assert re.search(r"addBuffer\(data, file, \{[^}]*mode:\s*\w+\.mode", body, re.S), body
