"""``GET /v1/files/{id}/content`` names the file in a ``content-disposition`` header that the
file's name cannot break: RFC 6266 ``attachment`` with an ASCII ``filename`` fallback and the
exact name as RFC 5987 ``filename*`` (the name comes from code in the sandbox, so it is
attacker-controlled: quotes, backslashes, CR/LF, non-ASCII)."""

from __future__ import annotations

import email
import email.utils
import urllib.parse

import httpx
import pytest
from code_exec.store.file_records import FileRecord

from .conftest import Server

HOSTILE = 'r\u00e9sum\u00e9 "final"\\\r\nx-injected: 1;.csv'


def _parsed(header: str) -> tuple[str, str, str]:
    """(disposition, ascii fallback, exact name) as a standards-following client reads the
    header with Python's email package: RFC 6266 says ``filename*`` wins over ``filename``."""
    msg = email.message_from_string(f"Content-Disposition: {header}\r\n\r\n")
    params = msg.get_params(header="content-disposition")
    assert params is not None
    (disposition, _), *rest = params
    [fallback] = [v for k, v in rest if k == "filename" and isinstance(v, str)]
    [extended] = [v for k, v in rest if k == "filename" and isinstance(v, tuple)]
    assert extended[0] == "UTF-8"
    return disposition, fallback, email.utils.collapse_rfc2231_value(extended)


@pytest.mark.parametrize(
    "name",
    ["report.csv", 'a "quoted" name.txt', "back\\slash.txt", "r\u00e9sum\u00e9.pdf", HOSTILE],
)
def test_the_header_gives_the_exact_name_and_a_safe_ascii_fallback(name: str) -> None:
    from code_exec.disposition import content_disposition

    header = content_disposition(name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.startswith("attachment; ")
    disposition, fallback, exact = _parsed(header)
    assert (disposition, exact) == ("attachment", name)
    assert fallback.isascii() and '"' not in fallback and "\\" not in fallback


def test_an_ascii_name_needs_no_extended_parameter() -> None:
    from code_exec.disposition import content_disposition

    assert content_disposition("chart.png") == (
        "attachment; filename=\"chart.png\"; filename*=UTF-8''chart.png"
    )


@pytest.mark.sandbox
def test_a_download_of_a_file_with_a_hostile_name(server: Server) -> None:
    services = server.handler.services
    key = "files/anthropic/alice/test/hostile.csv"
    services.s3.put_object(Bucket=services.config.files_bucket, Key=key, Body=b"a,b\n")
    services.store.put_file(
        FileRecord(
            file_id="file_hostile01",
            owner="alice",
            filename=HOSTILE,
            mime_type="text/csv",
            size_bytes=4,
            s3_key=key,
            downloadable=True,
            created_at=services.clock(),
        ),
        ttl_seconds=3600,
    )
    resp = httpx.get(
        f"{server.url}/v1/files/file_hostile01/content",
        headers={"x-api-key": server.keys["alice"]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.content == b"a,b\n"
    assert "x-injected" not in resp.headers
    header = resp.headers["content-disposition"]
    assert _parsed(header)[2] == HOSTILE
    star = header.split("filename*=", 1)[1]
    assert urllib.parse.unquote(star.removeprefix("UTF-8''")) == HOSTILE
