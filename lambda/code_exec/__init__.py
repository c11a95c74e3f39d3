"""bedrock-code-execution runtime: code execution and programmatic tool calling on Bedrock.

This package runs in Lambda (and locally against the code-interpreter emulator).
It never imports aws_cdk.
"""
