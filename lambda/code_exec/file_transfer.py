"""Files in and out of the sandbox.

* Input files (inline base64 or a key in the files bucket) are written into the
  sandbox under ``inputs/<name>`` before the turn.
* ``outputs/`` in the sandbox is an *outbox*: after each request the files the
  code left there (the name keeps its subdirectories) are copied to
  S3 under ``files/sessions/<session>/<run>/<name>``,
  removed from the sandbox (so the next request only returns what it made), and
  handed back as a presigned GET URL (a download, never rendered inline) with its name,
  size and media type, within the caps of :mod:`code_exec.outputs` (what is left
  behind is reported).
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
import posixpath
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from code_exec.disposition import content_disposition
from code_exec.exceptions import RequestValidationError, SandboxError
from code_exec.models import InputFile, OutputFile
from code_exec.outputs import Collected, OutputLimits, collect
from code_exec.sandbox import FileEntry, SandboxFile

__all__ = [
    "FILES_PREFIX",
    "INPUTS_DIR",
    "OUTPUTS_DIR",
    "FileStore",
    "media_type",
]

logger = logging.getLogger(__name__)

INPUTS_DIR = "inputs"
OUTPUTS_DIR = "outputs"
FILES_PREFIX = "files/"  # the only prefix the functions may read/write files under (IAM)


def media_type(name: str) -> str:
    """The media type for a file name (``application/octet-stream`` when unknown)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _safe_name(name: str, field: str) -> str:
    norm = posixpath.normpath(name)
    if name.startswith("/") or norm.startswith("..") or "/../" in f"/{norm}/" or norm == ".":
        raise RequestValidationError(
            "file name must be a relative path inside inputs/ (no '..', no leading '/')",
            field=field,
        )
    return norm


@contextmanager
def _bad_key(key: str, field: str) -> Iterator[None]:
    """An S3 read of a missing or forbidden object is the caller's bad ``s3_key`` (400)."""
    try:
        yield
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound", "AccessDenied", "403"):
            raise RequestValidationError(
                f"no object {key!r} in the files bucket", field=field
            ) from e
        raise


class _NoOutbox(Exception):
    """The sandbox has no ``outputs/``: nothing to collect."""


class FileStore:
    """Moves files between callers, S3 and the sandbox. ``s3`` is a boto3 S3 client.

    ``limits`` bound what is collected from ``outputs/`` (:class:`~code_exec.outputs.OutputLimits`).
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        url_expiry_seconds: int = 3600,
        limits: OutputLimits | None = None,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._expiry = url_expiry_seconds
        self.limits = limits or OutputLimits()

    # --- inputs ---------------------------------------------------------------------------

    def check_inputs(self, files: Sequence[InputFile], *, field: str = "files") -> None:
        """Validate each input file's shape without reading anything from S3.

        Raises:
            RequestValidationError: naming ``files.<i>.<attr>`` for a bad entry.
        """
        for i, f in enumerate(files):
            self._checked(f, f"{field}.{i}")

    def check_objects_exist(self, files: Sequence[InputFile], *, field: str = "files") -> None:
        """Fail now, not when a job runs, on an ``s3_key`` that is not there (HEAD, no body).

        Raises:
            RequestValidationError: naming ``files.<i>.s3_key``.
        """
        for i, f in enumerate(files):
            if f.s3_key is not None:
                with _bad_key(f.s3_key, f"{field}.{i}.s3_key"):
                    self._s3.head_object(Bucket=self._bucket, Key=f.s3_key)

    def load_inputs(self, files: Sequence[InputFile], *, field: str = "files") -> list[SandboxFile]:
        """Resolve each input file to its bytes (one S3 read per ``s3_key``), validating it.

        Raises:
            RequestValidationError: naming ``files.<i>.<attr>`` for a bad entry.
        """
        out: list[SandboxFile] = []
        for i, f in enumerate(files):
            where = f"{field}.{i}"
            name, data = self._checked(f, where)
            if data is None:
                key = f.s3_key or ""
                with _bad_key(key, f"{where}.s3_key"):
                    data = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            out.append(SandboxFile(path=f"{INPUTS_DIR}/{name}", data=data))
        return out

    @staticmethod
    def _checked(f: InputFile, where: str) -> tuple[str, bytes | None]:
        """The file's safe name, and its bytes when inline (None: it is in S3)."""
        name = _safe_name(f.name, f"{where}.name")
        if (f.content_base64 is None) == (f.s3_key is None):
            raise RequestValidationError(
                "give exactly one of content_base64 or s3_key", field=where
            )
        if f.content_base64 is not None:
            try:
                return name, base64.b64decode(f.content_base64, validate=True)
            except (binascii.Error, ValueError) as e:
                raise RequestValidationError(
                    "content_base64 is not valid base64", field=f"{where}.content_base64"
                ) from e
        key = f.s3_key or ""
        if not key.startswith(FILES_PREFIX) or ".." in key.split("/"):
            raise RequestValidationError(
                f"s3_key must name an object under {FILES_PREFIX} in the files bucket",
                field=f"{where}.s3_key",
            )
        return name, None

    def write_inputs(self, sandbox: Any, session_id: str, files: Sequence[SandboxFile]) -> None:
        if files:
            sandbox.write_files(session_id, list(files))

    # --- outputs --------------------------------------------------------------------------

    def collect_outputs(self, sandbox: Any, session_id: str, *, key_prefix: str) -> Collected:
        """Copy the files in the sandbox's ``outputs/`` to S3, within the output limits.

        Returns the files (presigned URLs) and what was not collected, and why
        (:mod:`code_exec.outputs`: the outbox is attacker-controlled).
        """
        try:
            top = self._outbox(sandbox, session_id)
        except _NoOutbox:
            return Collected()
        prefix = key_prefix.rstrip("/")

        def store(name: str, data: bytes) -> OutputFile:
            key = f"{prefix}/{name}"
            mt = media_type(name)
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=mt)
            url = self.download_url(key, name)
            return OutputFile(name=name, size=len(data), media_type=mt, url=url, s3_key=key)

        return collect(
            sandbox,
            session_id,
            OUTPUTS_DIR,
            limits=self.limits,
            key_of=lambda name: f"{prefix}/{name}",
            store=store,
            top=top,
        )

    def download_url(self, key: str, name: str) -> str:
        """A presigned GET of ``key``, a download named after ``name``: never rendered inline
        on the bucket's domain (an ``.html``, an ``.svg`` written by the code)."""
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(posixpath.basename(name)),
            },
            ExpiresIn=self._expiry,
        )
        return url

    def _outbox(self, sandbox: Any, session_id: str) -> list[FileEntry]:
        """The entries of ``outputs/``; :class:`_NoOutbox` when the code removed it (or
        there never was one)."""
        try:
            entries: list[FileEntry] = sandbox.list_entries(session_id, OUTPUTS_DIR)
            return entries
        except SandboxError:
            if any(self._is_outputs(p) for p in sandbox.list_files(session_id, "")):
                raise
            raise _NoOutbox from None

    def prepare(self, sandbox: Any, session_id: str) -> None:
        """Create ``inputs/`` and ``outputs/`` in a new session's workspace."""
        sandbox.execute_command(session_id, f"mkdir -p {INPUTS_DIR} {OUTPUTS_DIR}")

    @staticmethod
    def _is_outputs(path: str) -> bool:
        return path.rstrip("/").split("/")[-1] == OUTPUTS_DIR
