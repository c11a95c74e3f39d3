"""LangChain's ``ChatAnthropic`` pointed at the deployment (``base_url``), asked for a chart of
five months of sales with the code execution tool: the PNG comes back as a ``file_id`` whose
bytes are exactly the file the sandbox wrote."""

from __future__ import annotations

import hashlib
import re

import pytest

from .conftest import MODEL, Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

PROMPT = (
    "Create a bar chart of these monthly sales: Jan 12500, Feb 15800, Mar 14200, Apr 18900, "
    "May 21300."
)


def test_chat_anthropic_makes_a_chart_that_downloads_byte_for_byte(server: Server) -> None:
    from langchain_anthropic import ChatAnthropic

    llm = ChatAnthropic(
        model=MODEL,
        base_url=server.url,
        api_key=server.keys["alice"],
        max_retries=0,
        max_tokens=2048,
    ).bind_tools([{"type": "code_execution_20250825", "name": "code_execution"}])
    with server.replay("anthropic_sales_chart"):
        message = llm.invoke(PROMPT)
    blocks = [b for b in message.content if isinstance(b, dict)]
    [result] = [b for b in blocks if b.get("type") == "bash_code_execution_tool_result"]
    stdout = result["content"]["stdout"]
    written = re.search(r"sha256 ([0-9a-f]{64})", stdout).group(1)  # what the sandbox wrote
    [output] = result["content"]["content"]
    assert output["type"] == "bash_code_execution_output"
    png = server.client().beta.files.download(output["file_id"]).read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert hashlib.sha256(png).hexdigest() == written
    assert message.response_metadata["container"]["id"].startswith("container_")
