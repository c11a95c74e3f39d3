"""``/v1/files`` metadata: one item per file, under its owner's partition.

The bytes live in S3 (the files bucket's lifecycle expires them); the item says whose the
file is, its name, type and size, and whether it may be downloaded (only files made by code
may, as in Anthropic's Files API). Keying by owner makes every read an owner check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from code_exec.store.base import TableBase

__all__ = ["FileRecord", "FileRecordStore"]


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    owner: str
    filename: str
    mime_type: str
    size_bytes: int
    s3_key: str
    downloadable: bool
    created_at: float


def _key(owner: str, file_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"FILES#{owner}"}, "sk": {"S": f"FILE#{file_id}"}}


def _record(item: dict[str, Any]) -> FileRecord:
    return FileRecord(
        file_id=item["sk"]["S"].removeprefix("FILE#"),
        owner=item["pk"]["S"].removeprefix("FILES#"),
        filename=item["filename"]["S"],
        mime_type=item["mime_type"]["S"],
        size_bytes=int(item["size_bytes"]["N"]),
        s3_key=item["s3_key"]["S"],
        downloadable=item["downloadable"]["BOOL"],
        created_at=float(item["created_at"]["N"]),
    )


class FileRecordStore(TableBase):
    """File items: put, get, list (newest first, a page at a time), delete."""

    def put_file(self, record: FileRecord, *, ttl_seconds: int) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(record.owner, record.file_id),
                "filename": {"S": record.filename},
                "mime_type": {"S": record.mime_type},
                "size_bytes": {"N": str(record.size_bytes)},
                "s3_key": {"S": record.s3_key},
                "downloadable": {"BOOL": record.downloadable},
                "created_at": {"N": repr(record.created_at)},
                "expires_at": {"N": str(int(record.created_at) + ttl_seconds)},
            },
        )

    def get_file(self, owner: str, file_id: str) -> FileRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_key(owner, file_id), ConsistentRead=True
        ).get("Item")
        if item is None or float(item.get("expires_at", {}).get("N", "0")) < self._clock():
            return None
        return _record(item)

    def list_files(
        self,
        owner: str,
        *,
        limit: int = 20,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> tuple[list[FileRecord], bool]:
        """One page of the owner's files, newest first, and whether there are more.

        File ids sort by creation time (:func:`code_exec.anthropic.ids.new_file_id`), so a
        page is one query read backwards from a cursor: ``after_id`` gives the files created
        before it, ``before_id`` those created after it (the page next to it). Reads at most
        ``limit + 1`` live items (and whatever expired items DynamoDB has not removed yet).
        """
        forward = before_id is not None and after_id is None
        cursor = before_id if forward else after_id
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :file)",
            "ExpressionAttributeValues": {":pk": {"S": f"FILES#{owner}"}, ":file": {"S": "FILE#"}},
            "ScanIndexForward": forward,
            "Limit": limit + 1,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = _key(owner, cursor)
        now = self._clock()
        live: list[FileRecord] = []
        while len(live) <= limit:
            resp = self._db.query(**kwargs)
            live += [
                _record(i)
                for i in resp.get("Items", [])
                if float(i.get("expires_at", {}).get("N", "0")) >= now
            ]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        page = live[:limit]
        if forward:
            page.reverse()
        return page, len(live) > limit

    def delete_file(self, owner: str, file_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=_key(owner, file_id))
