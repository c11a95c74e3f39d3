"""AWS event-stream framing (``application/vnd.amazon.eventstream``).

A message is: prelude (total length, headers length, CRC32 of those 8 bytes), headers,
payload, then a CRC32 of everything before it. Header values here are all strings
(type 7). botocore's ``EventStreamBuffer`` decodes what this encodes; the tests check it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from .exceptions import EmulatorError

__all__ = ["CONTENT_TYPE", "encode_message", "event_frame", "exception_frame"]

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Encode one event-stream message."""
    raw_headers = _encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", zlib.crc32(body) & 0xFFFFFFFF)


def event_frame(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message (e.g. the ``result`` event) with a JSON payload."""
    headers = {
        ":event-type": event_type,
        ":message-type": "event",
        ":content-type": "application/json",
    }
    return encode_message(headers, json.dumps(payload).encode())


def exception_frame(error: EmulatorError) -> bytes:
    """An ``exception`` message for one of the stream's modelled exceptions."""
    if error.event_name is None:
        raise ValueError(f"{error.code} is not an event of CodeInterpreterStreamOutput")
    headers = {
        ":exception-type": error.event_name,
        ":message-type": "exception",
        ":content-type": "application/json",
    }
    return encode_message(headers, json.dumps(error.body()).encode())
