"""A skill upload, checked: its files under one top directory and a root ``SKILL.md`` whose
YAML frontmatter gives the skill's ``name`` and ``description``.

An upload is what ``client.beta.skills.create(files=...)`` sends: one multipart part per file,
each named by its path (``my-skill/SKILL.md``, ``my-skill/scripts/run.py``), or one zip.
Everything in it is the caller's and is bounded before it is read: the total size
(:data:`MAX_UPLOAD_BYTES`, Anthropic's limit for all files together), the number of files, the
paths (relative, no ``..``) and, in a zip, the sizes its entries declare before any is
inflated. The frontmatter follows Anthropic's rules: ``name`` is at most 64 lowercase letters,
digits and hyphens, without XML tags or the reserved words ``anthropic`` and ``claude``;
``description`` is non-empty, at most 1024 characters, without XML tags. A version is stored
as one zip (:func:`to_zip`): one S3 object to place, and what ``.../content`` downloads.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass

from code_exec.exceptions import RequestValidationError

__all__ = ["MAX_FILES", "MAX_UPLOAD_BYTES", "SkillBundle", "bundle", "from_zip", "to_zip"]

MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # all files of one upload together
MAX_FILES = 500
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_RESERVED = ("anthropic", "claude")
_XML = re.compile(r"<[^>]*>")
_IGNORED = ("__MACOSX/", ".DS_Store")


@dataclass(frozen=True)
class SkillBundle:
    """A checked upload: the skill's slug and description, and its files by path relative to
    the top directory (``SKILL.md``, ``scripts/run.py``)."""

    name: str
    description: str
    directory: str
    files: dict[str, bytes]

    @property
    def size_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())


def _bad(message: str, field: str = "files") -> RequestValidationError:
    return RequestValidationError(message, field=field)


def _clean(path: str) -> tuple[str, ...]:
    """The components of a relative upload path (400 for absolute paths or ``..``)."""
    raw = path.replace("\\", "/")
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if raw.startswith("/") or not parts or ".." in parts or len(raw) > 1024:
        raise _bad(f"file path {path[:200]!r} must be relative, without '..'")
    return parts


def bundle(files: list[tuple[str, bytes]]) -> SkillBundle:
    """Check the uploaded ``(path, bytes)`` pairs (a single ``.zip`` is unpacked first).

    Raises:
        RequestValidationError: naming ``files`` (paths, sizes, SKILL.md) or the frontmatter
            field (``name``, ``description``) at fault.
    """
    if not files:
        raise _bad("upload the skill's files (a SKILL.md at the root of one directory)")
    if len(files) == 1 and (
        files[0][0].lower().endswith(".zip") or files[0][1][:4] == b"PK\x03\x04"
    ):
        return from_zip(files[0][1])
    if len(files) > MAX_FILES:
        raise _bad(f"a skill holds at most {MAX_FILES} files")
    if sum(len(b) for _, b in files) > MAX_UPLOAD_BYTES:
        raise _bad(f"a skill upload is at most {MAX_UPLOAD_BYTES} bytes in all")
    return _checked([(_clean(p), b) for p, b in files if not _ignored(p)])


def _ignored(path: str) -> bool:
    return any(part in path for part in _IGNORED)


def from_zip(data: bytes) -> SkillBundle:
    """The skill in a zip (its entries' declared sizes are checked before any is read)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir() and not _ignored(i.filename)]
    except zipfile.BadZipFile as e:
        raise _bad("the zip cannot be read") from e
    if len(entries) > MAX_FILES:
        raise _bad(f"a skill holds at most {MAX_FILES} files")
    if sum(i.file_size for i in entries) > MAX_UPLOAD_BYTES:
        raise _bad(f"a skill is at most {MAX_UPLOAD_BYTES} bytes in all, unpacked")
    pairs = []
    for info in entries:
        parts = _clean(info.filename)
        with archive.open(info) as f:
            body = f.read(info.file_size + 1)
        if len(body) > info.file_size:
            raise _bad(f"zip entry {info.filename[:200]!r} is larger than it declares")
        pairs.append((parts, body))
    return _checked(pairs)


def _checked(pairs: list[tuple[tuple[str, ...], bytes]]) -> SkillBundle:
    """One top directory (or none) with SKILL.md at its root; the frontmatter checked."""
    tops = {parts[0] for parts, _ in pairs if len(parts) > 1}
    at_root = any(len(parts) == 1 for parts, _ in pairs)
    if len(tops) == 1 and not at_root:
        directory = tops.pop()
        files = {"/".join(parts[1:]): body for parts, body in pairs}
    elif any(parts == ("SKILL.md",) for parts, _ in pairs):  # a zip of the directory's content
        directory = ""
        files = {"/".join(parts): body for parts, body in pairs}
    elif len(tops) > 1:
        raise _bad("all files must be in the same top-level directory")
    else:
        files = {}
    if "SKILL.md" not in files:
        raise _bad("the skill needs a SKILL.md at the root of its directory")
    name, description = frontmatter(files["SKILL.md"])
    return SkillBundle(name, description, directory or name, files)


def frontmatter(data: bytes) -> tuple[str, str]:
    """``name`` and ``description`` from SKILL.md's YAML frontmatter (checked)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad("SKILL.md must be UTF-8 text") from e
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (s.strip() for s in lines[1:]):
        raise _bad("SKILL.md must start with YAML frontmatter between '---' lines")
    end = [s.strip() for s in lines[1:]].index("---") + 1
    import yaml  # here: only a skill upload parses YAML, not every API cold start

    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as e:
        raise _bad("SKILL.md's frontmatter is not valid YAML") from e
    if not isinstance(meta, dict):
        raise _bad("SKILL.md's frontmatter must be a mapping with name and description")
    name, description = meta.get("name"), meta.get("description")
    if not isinstance(name, str) or not name:
        raise _bad("SKILL.md's frontmatter needs a name", "name")
    if len(name) > 64 or not _NAME.match(name):
        raise _bad("name must be at most 64 lowercase letters, numbers and hyphens", "name")
    if any(word in name for word in _RESERVED):
        raise _bad(f"name cannot contain the reserved words {', '.join(_RESERVED)}", "name")
    if not isinstance(description, str) or not description.strip():
        raise _bad("SKILL.md's frontmatter needs a non-empty description", "description")
    if len(description) > 1024:
        raise _bad("description must be at most 1024 characters", "description")
    if _XML.search(description):
        raise _bad("description cannot contain XML tags", "description")
    return name, description.strip()


def to_zip(skill: SkillBundle) -> bytes:
    """The version as stored and downloaded: its files under ``<name>/`` (fixed timestamps)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(skill.files):
            info = zipfile.ZipInfo(
                posixpath.join(skill.name, path), date_time=(1980, 1, 1, 0, 0, 0)
            )
            info.external_attr = 0o644 << 16
            archive.writestr(info, skill.files[path], compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
