"""``make api-key NAME=...``: mint an API key for ``/v1/*`` and print it, once.

Only the key's SHA-256 is stored (in the deployment's table, with its owner and name); the
key itself is printed here and nowhere else, so keep it. Containers and files belong to the
owner (``OWNER=``, by default the name): several keys of one owner share them.

The table is the deployed stack's ``TableName`` output (CloudFormation, stack
``<stackPrefix>Agent`` from cdk.json), or ``--table``. AWS credentials and region come from
the environment, as for any boto3 script; ``AWS_ENDPOINT_URL_DYNAMODB`` points it elsewhere
(``make local`` prints a key of its own).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from code_exec.store import ApiKeyStore, new_key

__all__ = ["main", "mint", "stack_table"]

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def stack_table(cloudformation: Any, stack_name: str) -> str:
    """The ``TableName`` output of the deployed agent stack."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "TableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name} has no TableName output; is it this project's stack?")


def mint(dynamodb: Any, table: str, *, name: str, owner: str) -> str:
    """Store a new key's hash for ``owner``; return the key."""
    key = new_key()
    ApiKeyStore(dynamodb, table, ttl_seconds=0).put_api_key(key, owner=owner, name=name)
    return key


def _default_stack() -> str:
    prefix = json.loads(CDK_JSON.read_text())["context"].get("stackPrefix", "BedrockCodeExec")
    return f"{prefix}Agent"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mint an API key for /v1/* (printed once).")
    parser.add_argument("--name", required=True, help="what the key is for (kept with its hash)")
    parser.add_argument("--owner", help="who the key acts for (default: the name)")
    parser.add_argument("--table", help="the table (default: the deployed stack's TableName)")
    parser.add_argument("--stack", default=None, help="the agent stack (default: from cdk.json)")
    args = parser.parse_args(argv)
    owner = args.owner or args.name
    for label, value in (("NAME", args.name), ("OWNER", owner)):
        if not _NAME.match(value):
            parser.error(f"{label} {value!r}: use letters, digits and . _ @ - (up to 128)")
    import boto3

    table = args.table or stack_table(
        boto3.client("cloudformation"), args.stack or _default_stack()
    )
    key = mint(boto3.client("dynamodb"), table, name=args.name, owner=owner)
    print(key)
    print(
        f"API key {args.name!r} for owner {owner!r} (table {table}). It is shown only now: only "
        "its SHA-256 is stored.\n"
        '  anthropic.Anthropic(base_url="<ApiUrl output>", api_key="<the key above>")',
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
