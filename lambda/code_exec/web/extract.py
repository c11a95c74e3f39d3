"""A fetched body -> the document Anthropic's ``web_fetch_result`` carries.

HTML becomes plain text with ``trafilatura`` (main content, tables kept, boilerplate such as
navigation dropped; its metadata gives the title); ``text/*`` and JSON are decoded as they
are; a PDF is passed through as an ``application/pdf`` document (base64), as Anthropic's web
fetch returns it. Anything else is ``unsupported_content_type``. The body is already bounded
in bytes by the fetcher; the text is bounded again here (:data:`MAX_TEXT_CHARS`).
"""

from __future__ import annotations

import base64
import logging
from email.message import Message

from code_exec.web.types import FetchedDocument, WebToolError

__all__ = ["MAX_TEXT_CHARS", "document", "html_to_text"]

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1_000_000
_HTML = {"text/html", "application/xhtml+xml"}
_TEXT_APPLICATION = {"application/json", "application/xml", "application/ld+json"}
_PDF = "application/pdf"
_SNIFF = 512


def document(url: str, content_type: str | None, body: bytes, retrieved_at: str) -> FetchedDocument:
    """The document for ``body`` served as ``content_type`` (sniffed when missing)."""
    media, charset = _media_type(content_type)
    if media in ("", "application/octet-stream"):
        media = _sniff(body)
    if media == _PDF:
        if not body.startswith(b"%PDF-"):
            raise WebToolError("unsupported_content_type", "served as PDF, but is not one")
        data = base64.b64encode(body).decode("ascii")
        return FetchedDocument(url, None, _PDF, None, data, retrieved_at)
    if media in _HTML:
        title, text = html_to_text(body)
        return FetchedDocument(url, title, "text/plain", text[:MAX_TEXT_CHARS], None, retrieved_at)
    if media.startswith("text/") or media in _TEXT_APPLICATION or media.endswith("+json"):
        text = _decode(body, charset)
        return FetchedDocument(url, None, "text/plain", text[:MAX_TEXT_CHARS], None, retrieved_at)
    raise WebToolError("unsupported_content_type", f"{media[:60]} is neither text nor PDF")


def html_to_text(body: bytes) -> tuple[str | None, str]:
    """``(title, text)`` of an HTML page: trafilatura's main-content text with tables, or,
    when it finds no main content, all the page's text."""
    import trafilatura  # lazy: lxml and friends load only when a page is fetched

    extracted = trafilatura.bare_extraction(
        body,
        include_tables=True,
        include_comments=False,
        include_links=False,
        favor_recall=True,
        with_metadata=True,
    )
    title = getattr(extracted, "title", None) if extracted is not None else None
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text:
        text = trafilatura.html2txt(body) or ""
    return (str(title) if title else None), str(text)


def _decode(body: bytes, charset: str | None) -> str:
    """``body`` in its declared charset; UTF-8 when none is declared or it is unknown."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    media = message.get_content_type().lower() if "/" in content_type else ""
    return media, (str(charset) if isinstance(charset, str) else None)


def _sniff(body: bytes) -> str:
    head = body[:_SNIFF].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return _PDF
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    try:
        body[:_SNIFF].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"
