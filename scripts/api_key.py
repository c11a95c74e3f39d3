"""``make api-key``: mint, list and revoke the API keys of ``/v1/*``.

* ``make api-key NAME=...`` mints a key and prints it, once. Only the key's SHA-256 is stored
  (in the deployment's table, with its owner and name); the key itself is printed here and
  nowhere else, so keep it. Containers and files belong to the owner (``OWNER=``, by default
  the name): several keys of one owner share them.
* ``make api-key LIST=1`` lists every key: its id (the first 12 hex digits of its hash),
  status, owner, name and when it was minted; never a key. It scans the whole table.
* ``make api-key REVOKE=<id>`` revokes a key, named by its id (or any unambiguous prefix of
  its hash, at least 8 hex digits) or by the key itself. The authorizer refuses it within
  its cache period (:data:`code_exec.anthropic.authorizer.CACHE_SECONDS`, 30 s).

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from code_exec.anthropic.authorizer import CACHE_SECONDS
from code_exec.store import ApiKeyRecord, ApiKeyStore, hash_key, new_key
from code_exec.store.api_keys import KEY_PREFIX

__all__ = ["ID_LENGTH", "find", "main", "mint", "render", "stack_table"]

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_HASH_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")
ID_LENGTH = 12  # hex digits of the hash shown as a key's id


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


def render(records: list[ApiKeyRecord]) -> str:
    """The list as a table: id, status, owner, name, minted (UTC)."""
    rows = [("ID", "STATUS", "OWNER", "NAME", "MINTED")]
    for r in records:
        minted = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((r.key_hash[:ID_LENGTH], r.status, r.owner, r.name, minted))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def find(store: ApiKeyStore, ident: str) -> ApiKeyRecord:
    """The one key ``ident`` names: the key itself, or a prefix of its hash (>= 8 hex digits).

    Raises:
        SystemExit: nothing, or more than one key, matches; or ``ident`` is neither.
    """
    if ident.startswith(KEY_PREFIX):
        ident = hash_key(ident)
    prefix = ident.lower()
    if not _HASH_PREFIX.match(prefix):
        raise SystemExit(f"REVOKE {ident!r}: give a key id (at least 8 hex digits) or the key")
    matches = [r for r in store.list_api_keys() if r.key_hash.startswith(prefix)]
    if not matches:
        raise SystemExit(f"REVOKE {ident!r}: no API key has this id")
    if len(matches) > 1:
        ids = ", ".join(r.key_hash[:ID_LENGTH] for r in matches)
        raise SystemExit(f"REVOKE {ident!r}: {len(matches)} API keys match ({ids}); give more")
    return matches[0]


def _default_stack() -> str:
    prefix = json.loads(CDK_JSON.read_text())["context"].get("stackPrefix", "BedrockCodeExec")
    return f"{prefix}Agent"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mint (printed once), list or revoke the API keys of /v1/*."
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--name", help="mint a key: what it is for (kept with its hash)")
    action.add_argument("--list", action="store_true", help="list every key (never a key)")
    action.add_argument("--revoke", metavar="ID", help="revoke the key with this id (or key)")
    parser.add_argument("--owner", help="who a minted key acts for (default: the name)")
    parser.add_argument("--table", help="the table (default: the deployed stack's TableName)")
    parser.add_argument("--stack", default=None, help="the agent stack (default: from cdk.json)")
    args = parser.parse_args(argv)
    owner = args.owner or args.name
    if args.name is not None:
        for label, value in (("NAME", args.name), ("OWNER", owner)):
            if not _NAME.match(value):
                parser.error(f"{label} {value!r}: use letters, digits and . _ @ - (up to 128)")
    import boto3

    table = args.table or stack_table(
        boto3.client("cloudformation"), args.stack or _default_stack()
    )
    dynamodb = boto3.client("dynamodb")
    store = ApiKeyStore(dynamodb, table, ttl_seconds=0)
    if args.list:
        print(render(store.list_api_keys()))
        return 0
    if args.revoke is not None:
        try:
            found = find(store, args.revoke)
        except SystemExit as e:  # say why, then exit 2 as for any bad argument
            print(e.code, file=sys.stderr)
            raise SystemExit(2) from None
        record = store.revoke_api_key(found.key_hash)
        print(
            f"API key {record.key_hash[:ID_LENGTH]} ({record.name!r}, owner {record.owner!r}) "
            f"revoked (table {table}); it is refused within {CACHE_SECONDS:.0f} s.",
            file=sys.stderr,
        )
        return 0
    key = mint(dynamodb, table, name=args.name, owner=owner)
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
