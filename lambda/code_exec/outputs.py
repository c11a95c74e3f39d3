"""Bounded collection of the sandbox's outbox (``outputs/``).

Everything a cell leaves in ``outputs/`` is attacker-controlled: its size, its count, its
depth, its names and what kind of file it is (a link to ``/dev/zero``, a FIFO). So the
outbox is listed level by level (never recursively: a cell can nest directories a thousand
deep), at most :attr:`OutputLimits.max_depth` deep and :attr:`OutputLimits.max_dirs`
directories wide, and files are chosen from the sizes the listing already returns
(``listFiles`` gives each file's ``size``; in the emulator a symlink's own ``lstat`` size)
before anything is read. Chosen files are read ONE at a time, so the Lambda holds at most
one file's bytes; a file that cannot be read (the sandbox refuses symlinks, devices and
FIFOs) is skipped, not fatal. What is not collected is reported (:class:`SkippedFile`, and
logged with the total), never silently lost. Every file that was looked at is removed from
the sandbox afterwards, collected or not: the next request starts with an empty outbox, and
whatever a listing cap left unseen is handled by the next request, a bounded batch each time.
"""

from __future__ import annotations

import logging
import posixpath
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from code_exec.exceptions import (
    SandboxError,
    SandboxReplyError,
    SandboxResourceNotFoundError,
    SandboxValidationError,
)
from code_exec.models import OutputFile, SkippedFile, SkipReason
from code_exec.sandbox.invoke_events import FileEntry

__all__ = ["S3_KEY_MAX_BYTES", "Collected", "OutputLimits", "collect"]

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
S3_KEY_MAX_BYTES = 1024  # S3 refuses longer keys (KeyTooLongError)
_REMOVE_BATCH = 500  # paths per removeFiles call
# A failed read of ONE file: the sandbox refused it (a link, a device, a FIFO, gone since
# the listing), or its answer was too large to read (it grew after the listing). Anything
# else (throttling, the session gone) fails the collection.
_PER_FILE = (SandboxError, SandboxResourceNotFoundError, SandboxValidationError, SandboxReplyError)


@dataclass(frozen=True)
class OutputLimits:
    """What one request collects from ``outputs/`` at most (the sandbox-output caps).

    The defaults keep a 1 GB Lambda safe: one file's bytes in memory at a time (a read's
    event is decoded from base64, so a file costs a few times its size at the peak). One
    file must also fit one event-stream message, which botocore refuses over 24 MB: 16 MiB
    is 21.3 MB in base64.
    """

    max_files: int = 100  # files collected (each is an S3 PUT and, on /v1, a record)
    max_file_bytes: int = 16 * MiB  # one file
    max_total_bytes: int = 100 * MiB  # all files of one request
    max_depth: int = 8  # directory levels below outputs/ that are listed
    max_dirs: int = 64  # directories listed (one listFiles call each)
    max_entries: int = 2_000  # listing entries looked at (and removed afterwards)
    max_reported: int = 50  # skipped files named in the result (all are counted in the log)


@dataclass
class Collected:
    """Files copied out (in listing order), and what was left behind and why."""

    files: list[OutputFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    skipped_total: int = 0

    def skip(self, name: str, reason: SkipReason, size: int | None, limits: OutputLimits) -> None:
        self.skipped_total += 1
        if len(self.skipped) < limits.max_reported:
            self.skipped.append(SkippedFile(name=name[:1024], size=size, reason=reason))


# (relative name, bytes) -> the stored file; raises on a failed upload
Store = Callable[[str, bytes], OutputFile]


def collect(
    sandbox: Any,
    session_id: str,
    root: str,
    *,
    limits: OutputLimits,
    key_of: Callable[[str], str],
    store: Store,
    top: list[FileEntry] | None = None,
) -> Collected:
    """Copy what ``root`` holds out of the sandbox within ``limits`` (see the module doc).

    ``key_of(name)`` is the S3 key a file would get (names whose key S3 would refuse are
    skipped before anything is read); ``store(name, data)`` uploads one file. ``top``: the
    entries of ``root`` when the caller has listed it already.
    """
    out = Collected()
    files, seen = _walk(sandbox, session_id, root, limits, out, top)
    total = 0
    for entry in files:
        name = _relative(entry.path, root)
        size = entry.size
        if len(key_of(name).encode("utf-8")) > S3_KEY_MAX_BYTES:
            out.skip(name, "name_too_long", size, limits)
        elif size is not None and size > limits.max_file_bytes:
            out.skip(name, "file_too_large", size, limits)
        elif len(out.files) >= limits.max_files:
            out.skip(name, "too_many_files", size, limits)
        elif size is not None and total + size > limits.max_total_bytes:
            out.skip(name, "total_too_large", size, limits)
        else:
            data = _read_one(sandbox, session_id, entry.path)
            if data is None:
                out.skip(name, "unreadable", size, limits)
            elif len(data) > limits.max_file_bytes or total + len(data) > limits.max_total_bytes:
                out.skip(name, "file_too_large", len(data), limits)  # grew after the listing
            else:
                total += len(data)
                out.files.append(store(name, data))
            del data
    for start in range(0, len(seen), _REMOVE_BATCH):
        sandbox.remove_files(session_id, seen[start : start + _REMOVE_BATCH])
    if out.skipped_total:
        logger.warning(
            "outputs of %s: %d collected, %d not collected (first: %s)",
            session_id,
            len(out.files),
            out.skipped_total,
            [(s.name[:80], s.reason) for s in out.skipped[:5]],
        )
    return out


def _walk(
    sandbox: Any,
    session_id: str,
    root: str,
    limits: OutputLimits,
    out: Collected,
    top: list[FileEntry] | None,
) -> tuple[list[FileEntry], list[str]]:
    """Files under ``root``, breadth first within the limits; and every file path seen."""
    files: list[FileEntry] = []
    seen: list[str] = []
    queue: deque[tuple[str, int]] = deque([(root, 0)])
    listed = looked_at = 0
    while queue:
        directory, depth = queue.popleft()
        if listed >= limits.max_dirs:
            out.skip(_relative(directory, root) + "/", "too_many_directories", None, limits)
            continue
        listed += 1
        if depth == 0 and top is not None:
            entries = top
        else:
            entries = sandbox.list_entries(session_id, directory)
        for entry in entries:
            if looked_at >= limits.max_entries:
                out.skip(_relative(directory, root) + "/", "listing_truncated", None, limits)
                return files, seen
            looked_at += 1
            if not entry.is_dir:
                files.append(entry)
                seen.append(entry.path)
            elif depth + 1 > limits.max_depth:
                out.skip(_relative(entry.path, root) + "/", "too_deep", None, limits)
            else:
                queue.append((entry.path, depth + 1))
    return files, seen


def _read_one(sandbox: Any, session_id: str, path: str) -> bytes | None:
    """One file's bytes; None when the sandbox refuses to read it (see ``_PER_FILE``)."""
    try:
        [f] = sandbox.read_files(session_id, [path])
    except SandboxError as e:
        if type(e) not in _PER_FILE:
            raise
        logger.info("output %s not readable: %s", path[:200], e.message[:200])
        return None
    data: bytes = f.data
    return data


def _relative(path: str, root: str) -> str:
    """``a/b.png`` for ``outputs/a/b.png`` in whatever form the sandbox lists it."""
    p = path.strip().rstrip("/")
    marker = f"{root.rstrip('/')}/"
    if p.startswith(marker):
        return p[len(marker) :]
    if f"/{marker}" in p:
        return p.split(f"/{marker}", 1)[1]
    return posixpath.basename(p)
