"""bedrock-code-execution as a CDK construct library."""
