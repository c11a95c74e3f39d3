"""Files: upload, ``container_upload`` into the container's ``inputs/``, files written by code
returned as ``file_id`` s and downloaded byte for byte; uploads cannot be downloaded."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types import beta as beta_types

from .conftest import MODEL, Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CSV = b"a,b\n1,2\n"


def test_upload_container_upload_download(server: Server) -> None:
    c = server.client()
    uploaded = c.beta.files.upload(file=("data.csv", CSV, "text/csv"))
    assert uploaded.id.startswith("file_") and uploaded.filename == "data.csv"
    assert (uploaded.size_bytes, uploaded.mime_type, uploaded.downloadable) == (
        8,
        "text/csv",
        False,
    )
    with server.replay("anthropic_uploaded_csv") as replay:
        r = c.beta.messages.create(
            model=MODEL,
            max_tokens=1024,
            betas=["files-api-2025-04-14"],
            tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Summarise the uploaded CSV."},
                        {"type": "container_upload", "file_id": uploaded.id},
                    ],
                }
            ],
        )
    assert "files-api" not in replay.exchanges[0].body.decode()
    [result] = [
        b for b in r.content if isinstance(b, beta_types.BetaBashCodeExecutionToolResultBlock)
    ]
    assert result.content.stdout == CSV.decode()
    [output] = result.content.content
    assert isinstance(output, beta_types.BetaBashCodeExecutionOutputBlock)
    assert c.beta.files.download(output.file_id).read() == CSV
    meta = c.beta.files.retrieve_metadata(output.file_id)
    assert (meta.filename, meta.downloadable, meta.size_bytes) == ("copy.csv", True, 8)
    # uploads are not downloadable, as in Anthropic's Files API
    with pytest.raises(anthropic.BadRequestError) as err:
        c.beta.files.download(uploaded.id)
    assert err.value.body["error"]["details"] == {"error_code": "file_not_downloadable"}
    assert type(err.value).__name__ == "FileNotDownloadableError"
    ids = {f.id for f in c.beta.files.list().data}
    assert {uploaded.id, output.file_id} <= ids
    # another owner sees none of it
    other = server.client("bob")
    with pytest.raises(anthropic.NotFoundError):
        other.beta.files.retrieve_metadata(uploaded.id)
    assert uploaded.id not in {f.id for f in other.beta.files.list().data}
    deleted = c.beta.files.delete(uploaded.id)
    assert deleted.id == uploaded.id
    with pytest.raises(anthropic.NotFoundError):
        c.beta.files.retrieve_metadata(uploaded.id)


def test_an_upload_that_is_not_multipart_is_400(server: Server) -> None:
    import httpx

    resp = httpx.post(
        f"{server.url}/v1/files",
        content=b"{}",
        headers={"x-api-key": server.keys["alice"], "content-type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
