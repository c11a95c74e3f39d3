"""``WholeMessageBuffer``: botocore's event-stream parsing, whatever the chunking, linear in a
message's size. Frames are the AWS binary format (``emulators.code_interpreter.eventstream``);
botocore's own ``EventStreamBuffer`` is the reference for what must be read."""

from __future__ import annotations

import json
import random
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer, InvalidPayloadLength
from code_exec.sandbox.event_buffer import WholeMessageBuffer

from emulators.code_interpreter.eventstream import encode_message, event_frame

FRAMES = [
    event_frame("result", {"content": [{"type": "text", "text": "a" * 5000}]}),
    event_frame("result", {"structuredContent": {"stdout": "two\n"}}),
    encode_message(
        {":message-type": "exception", ":exception-type": "ThrottlingException"},
        json.dumps({"message": "slow down"}).encode(),
    ),
    event_frame("result", {"isError": False}),
]
STREAM = b"".join(FRAMES)


def _read(buffer: EventStreamBuffer, chunks: list[bytes]) -> list[tuple[object, bytes]]:
    read = []
    for chunk in chunks:
        buffer.add_data(chunk)
        read += [(m.headers, m.payload) for m in buffer]
    return read


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(data[at : at + size])
        at += size
    return [*chunks, data[at:]] if at < len(data) else chunks


@pytest.mark.parametrize("size", [1, 3, 7, 12, 13, 4096, len(STREAM)])
def test_every_chunking_reads_the_messages_botocore_reads(size: int) -> None:
    expected = _read(EventStreamBuffer(), [STREAM])
    assert len(expected) == len(FRAMES)
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert _read(WholeMessageBuffer(), chunks) == expected


def test_random_splits_read_the_messages_botocore_reads() -> None:
    expected = _read(EventStreamBuffer(), [STREAM])
    rng = random.Random(7)
    for _ in range(50):
        sizes = [rng.choice([0, 1, 2, 11, 12, 500, 5000]) for _ in range(40)]
        assert _read(WholeMessageBuffer(), _split(STREAM, sizes)) == expected


def test_a_message_in_many_chunks_is_joined_once_when_whole() -> None:
    """botocore's buffer would hold (and copy) every chunk so far at each one; this one holds
    the first chunk (its prelude) until the message is complete."""
    message = event_frame("result", {"content": [{"type": "text", "text": "x" * 200_000}]})
    chunks = [message[i : i + 1024] for i in range(0, len(message), 1024)]
    buffer = WholeMessageBuffer()
    for chunk in chunks[:-1]:
        buffer.add_data(chunk)
        assert list(buffer) == []
        assert len(buffer._data) == 1024  # the prelude's chunk only: nothing joined yet
    buffer.add_data(chunks[-1])
    [read] = list(buffer)
    assert json.loads(read.payload)["content"][0]["text"] == "x" * 200_000
    assert buffer._data == b""


def test_a_prelude_past_botocores_limits_fails_at_once_as_botocores_does() -> None:
    """The message is not waited for: its prelude alone is rejected, with botocore's error."""
    huge = encode_message({":message-type": "event"}, b"")
    prelude = (30 * 2**20).to_bytes(4, "big") + huge[4:12]  # a 30 MB message (limit 24)
    prelude = prelude[:8] + zlib.crc32(prelude[:8]).to_bytes(4, "big")
    buffer = WholeMessageBuffer()
    buffer.add_data(prelude)
    with pytest.raises(InvalidPayloadLength):
        list(buffer)
