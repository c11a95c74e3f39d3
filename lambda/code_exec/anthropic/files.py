"""Anthropic's Files API over S3: uploads, files made by code, metadata and downloads.

Bytes go to the files bucket under ``files/anthropic/<owner>/<file id>/<name>`` (the bucket's
lifecycle expires them, as it does every other file); metadata to the table, under the
owner (:mod:`code_exec.store.file_records`). As in Anthropic's API, an uploaded file can be
given to code (``container_upload``: it lands in the container's ``inputs/``) but not
downloaded again; files the code writes under ``outputs/`` come back as ``file_id`` s that
can be downloaded.
"""

from __future__ import annotations

import logging
import posixpath
import uuid
from dataclasses import dataclass
from typing import Any

from code_exec.anthropic.containers import rfc3339
from code_exec.anthropic.errors import FileNotDownloadableError
from code_exec.anthropic.ids import new_file_id
from code_exec.exceptions import NotFoundError, RequestValidationError
from code_exec.sandbox import SandboxFile
from code_exec.store import FileRecord

__all__ = ["FILES_KEY_PREFIX", "AnthropicFiles", "Upload", "metadata"]

logger = logging.getLogger(__name__)

FILES_KEY_PREFIX = "files/anthropic"
_DAY = 86_400


@dataclass(frozen=True)
class Upload:
    filename: str
    mime_type: str
    data: bytes


def metadata(record: FileRecord) -> dict[str, Any]:
    """A file as ``GET /v1/files/{id}`` describes it."""
    return {
        "id": record.file_id,
        "type": "file",
        "filename": record.filename,
        "mime_type": record.mime_type,
        "size_bytes": record.size_bytes,
        "created_at": rfc3339(record.created_at),
        "downloadable": record.downloadable,
    }


def _safe_filename(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/")).strip()
    if not base or base in (".", "..") or len(base) > 255:
        raise RequestValidationError("the file needs a name (1-255 characters)", field="file")
    return base


class AnthropicFiles:
    """Files of API key owners. ``services`` gives ``s3``, ``store``, ``config``, ``clock``."""

    def __init__(self, services: Any) -> None:
        self.s = services

    def _ttl(self) -> int:
        return int(self.s.config.files_expiration_days) * _DAY

    def _put(
        self, owner: str, filename: str, mime: str, data: bytes, downloadable: bool
    ) -> FileRecord:
        file_id = new_file_id()
        key = f"{FILES_KEY_PREFIX}/{owner}/{file_id}/{filename}"
        self.s.s3.put_object(
            Bucket=self.s.config.files_bucket, Key=key, Body=data, ContentType=mime
        )
        record = FileRecord(
            file_id=file_id,
            owner=owner,
            filename=filename,
            mime_type=mime,
            size_bytes=len(data),
            s3_key=key,
            downloadable=downloadable,
            created_at=self.s.clock(),
        )
        self.s.store.put_file(record, ttl_seconds=self._ttl())
        return record

    def upload(self, owner: str, upload: Upload) -> FileRecord:
        """Store an uploaded file (not downloadable)."""
        from code_exec.file_transfer import media_type  # the sandbox side loads on first use

        name = _safe_filename(upload.filename)
        mime = upload.mime_type or media_type(name)
        return self._put(owner, name, mime, upload.data, downloadable=False)

    def get(self, owner: str, file_id: str) -> FileRecord:
        record = self.s.store.get_file(owner, file_id)
        if record is None:
            raise NotFoundError(f"file {file_id!r} not found", field="file_id")
        return record

    def list_files(
        self,
        owner: str,
        *,
        limit: int = 20,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/files``: one page of the owner's files, newest first, as Anthropic's
        list answers (``data``, ``has_more``, ``first_id``, ``last_id``)."""
        records, has_more = self.s.store.list_files(
            owner, limit=limit, after_id=after_id, before_id=before_id
        )
        data = [metadata(r) for r in records]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def delete(self, owner: str, file_id: str) -> None:
        self.get(owner, file_id)
        self.s.store.delete_file(owner, file_id)

    def content(self, owner: str, file_id: str) -> tuple[FileRecord, bytes]:
        """A downloadable file's bytes.

        Raises:
            FileNotDownloadableError: an uploaded file (400, ``file_not_downloadable``).
        """
        record = self.get(owner, file_id)
        if not record.downloadable:
            raise FileNotDownloadableError(
                f"file {file_id!r} cannot be downloaded: only files created by code execution "
                "can be downloaded",
                field="file_id",
            )
        body = self.s.s3.get_object(Bucket=self.s.config.files_bucket, Key=record.s3_key)
        return record, body["Body"].read()

    # --- the container side --------------------------------------------------------------

    def place(
        self,
        owner: str,
        file_ids: list[str],
        placed: dict[str, dict[str, Any]],
        sandbox: Any,
        session_id: str,
    ) -> None:
        """Write the ``container_upload`` files not yet in this container into its ``inputs/``.

        Each file is placed once per container: every turn resends the whole history, and a
        file the code has changed since must stay as the code left it. ``placed`` (the
        container record's, file id -> what the model is told of the file) gains the files
        written here, so a later turn reads neither their records nor their bytes.
        """
        from code_exec.file_transfer import INPUTS_DIR

        files, new = [], {}
        for file_id in dict.fromkeys(file_ids):
            if file_id in placed:
                continue
            record = self.get(owner, file_id)
            body = self.s.s3.get_object(Bucket=self.s.config.files_bucket, Key=record.s3_key)
            files.append(SandboxFile(f"{INPUTS_DIR}/{record.filename}", body["Body"].read()))
            new[file_id] = {
                "filename": record.filename,
                "mime_type": record.mime_type,
                "size_bytes": record.size_bytes,
            }
        if files:
            sandbox.write_files(session_id, files)
        placed.update(new)  # only once they are in the container

    @staticmethod
    def upload_text(placed: dict[str, Any]) -> str:
        """What the model reads for a ``container_upload`` block of a placed file."""
        from code_exec.file_transfer import INPUTS_DIR

        name = placed["filename"]
        return (
            f"[The user uploaded the file {name} ({placed['mime_type']}, "
            f"{placed['size_bytes']} bytes); it is at {INPUTS_DIR}/{name} in the container.]"
        )

    def collect(self, owner: str, container_id: str, sandbox: Any, session_id: str) -> list[str]:
        """Files the code left under ``outputs/``, as new downloadable files; their ids.

        Within the output limits (:mod:`code_exec.outputs`); what was left behind is logged.
        """
        prefix = f"{FILES_KEY_PREFIX}/{owner}/{container_id}/{uuid.uuid4().hex[:12]}"
        outputs = self.s.files.collect_outputs(sandbox, session_id, key_prefix=prefix)
        ids = []  # at most OutputLimits.max_files: one record each
        for out in outputs.files:
            record = FileRecord(
                file_id=new_file_id(),
                owner=owner,
                filename=posixpath.basename(out.name),
                mime_type=out.media_type,
                size_bytes=out.size,
                s3_key=out.s3_key,
                downloadable=True,
                created_at=self.s.clock(),
            )
            self.s.store.put_file(record, ttl_seconds=self._ttl())
            ids.append(record.file_id)
        return ids
