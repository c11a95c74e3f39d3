#!/usr/bin/env python3
"""CDK entry point: settings from cdk.json context -> stacks (+ cdk-nag AwsSolutions checks)."""

from __future__ import annotations

import os
import sys

# jsii prints a banner on every run while Node 20 is in use; it is not actionable here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk

from bedrock_code_execution.nag import add_checks
from stacks import Settings, SettingsError, build_app
from stacks.settings import check_context_keys


def main() -> None:
    app = cdk.App()
    try:
        check_context_keys(app.node.get_all_context())
        settings = Settings.from_context(app.node.try_get_context)
    except SettingsError as e:
        print(f"error: invalid deployment settings: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    build_app(app, settings)
    add_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
