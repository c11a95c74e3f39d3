"""Apps with non-default settings, synthesized (with cdk-nag) in the same process as the default
app, once per run (tests/stacks/conftest.py): CDK's built-in CloudFormation validation starts
its engine once per process, so one process for all of them starts it once.

Each uses a tiny stand-in code asset, so no dependency bundling runs; the default app's real
asset is covered by test_stacks_wiring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["KEY_ARN", "VARIANTS", "read_variant", "synth_variant"]

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# name -> (stack name prefix, context overrides)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    # test_stacks_variants: API key, arm64, Python 3.13, other retention, direct and global
    # models, an alarm email, an account that manages its own API Gateway CloudWatch role.
    "variant": (
        "V",
        {
            "requireApiKey": "true",
            "lambdaArchitecture": "arm64",
            "lambdaPythonVersion": "3.13",
            "logRetentionDays": "7",
            "reservedConcurrency": "3",
            "sandboxModelIds": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "allowedModelIds": "anthropic.claude-3-haiku-20240307-v1:0",
            "alarmEmail": "ops@example.com",
            "apiGatewayCloudWatchRole": "false",
        },
    ),
    # test_stacks_operations: long-lived sessions, a faster sweep with a longer grace, and a
    # CMK for the alarm topic.
    "custom": (
        "O",
        {
            "sessionTtlSeconds": str(30 * 86400),
            "sessionTimeoutSeconds": "28800",
            "filesExpirationDays": "7",
            "sweepIntervalMinutes": "2",
            "sweepGraceSeconds": "600",
            "alarmTopicKmsKeyArn": KEY_ARN,
        },
    ),
}

_ERROR = "synth-error.json"


def synth_variant(outdir: Path, prefix: str, context: dict[str, Any]) -> None:
    """Both stacks (``<prefix>Interpreter``, ``<prefix>Agent``) for ``context``, with cdk-nag,
    into ``outdir``; what failed the synth (cdk-nag findings) goes next to the templates."""
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from bedrock_code_execution.nag import add_checks
    from stacks.app_stacks import AgentStack, CodeInterpreterStack
    from stacks.settings import Settings

    code_dir = outdir.parent / f"{outdir.name}.code"
    code_dir.mkdir(parents=True)
    (code_dir / "handler.py").write_text("def api_handler(event, context):\n    return {}\n")
    app = cdk.App(outdir=str(outdir), context=context)
    settings = Settings.from_context(app.node.try_get_context)
    interpreter = CodeInterpreterStack(app, f"{prefix}Interpreter", settings=settings)
    AgentStack(
        app,
        f"{prefix}Agent",
        settings=settings,
        code=lambda_.Code.from_asset(str(code_dir)),
        interpreter_id=interpreter.interpreter.code_interpreter_id,
        interpreter_arn=interpreter.interpreter.code_interpreter_arn,
    )
    add_checks(app)
    error = None
    try:
        app.synth()
    except RuntimeError as e:  # cdk-nag findings fail the synth; the templates are written
        error = str(e)
    (outdir / _ERROR).write_text(json.dumps(error))


def read_variant(outdir: Path, prefix: str) -> dict[str, Any]:
    """The synth error (or None), the validation report and both templates (as JSON)."""
    report = outdir / "validation-report.json"
    return {
        "error": json.loads((outdir / _ERROR).read_text()),
        "report": json.loads(report.read_text()) if report.exists() else {},
        "agent": json.loads((outdir / f"{prefix}Agent.template.json").read_text()),
        "interpreter": json.loads((outdir / f"{prefix}Interpreter.template.json").read_text()),
        "stack": f"{prefix}Agent",
    }
