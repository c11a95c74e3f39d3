"""botocore's event-stream reader, fed whole messages: linear in a message's size.

botocore's ``EventStreamBuffer`` appends every chunk the connection yields to one ``bytes``
(``self._data += data``): a message arriving in n chunks is copied n times, so its cost
grows with the square of its size. A ``readFiles`` reply carrying a file at the per-file cap
(16 MiB, ~22 MB of base64) in urllib3's 64 KiB chunks costs ~0.6 s of CPU that way, and
several seconds in smaller chunks. :class:`WholeMessageBuffer` keeps the chunks aside and
hands botocore the bytes of a message once it is complete; botocore still parses and checks
every prelude, header, payload and checksum, and raises its own errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.eventstream import EventStreamBuffer, EventStreamMessage

__all__ = ["WholeMessageBuffer", "read_whole_messages"]

_PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC (4 bytes each)


class WholeMessageBuffer(EventStreamBuffer):  # type: ignore[misc]
    """An ``EventStreamBuffer`` that joins a message's chunks once, when they are all in."""

    _data: bytes  # botocore's: the bytes it parses messages from

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._pending = 0  # bytes in self._chunks

    def add_data(self, data: bytes) -> None:
        """Keep the chunk aside until :meth:`next` needs it."""
        self._chunks.append(data)
        self._pending += len(data)

    def next(self) -> EventStreamMessage:
        """The next whole message (botocore's parsing), joining the chunks kept aside only
        when they complete the prelude or the message it announced."""
        prelude = self._prelude
        need = _PRELUDE_LENGTH if prelude is None else prelude.total_length
        if self._chunks and len(self._data) + self._pending >= need:
            self._data = b"".join([self._data, *self._chunks])
            self._chunks.clear()
            self._pending = 0
        return super().next()


def read_whole_messages(stream: Any) -> Any:
    """Have botocore's ``EventStream`` ``stream`` read through a :class:`WholeMessageBuffer`.

    Anything else (a stub's list of events) is returned as given.
    """
    raw = getattr(stream, "_raw_stream", None)
    if raw is None or not hasattr(stream, "_event_generator"):
        return stream
    stream._event_generator = _messages(raw)
    return stream


def _messages(raw: Any) -> Iterator[EventStreamMessage]:
    """botocore's ``EventStream._create_raw_event_generator``, with the buffer above."""
    buffer = WholeMessageBuffer()
    for chunk in raw.stream():
        buffer.add_data(chunk)
        yield from buffer
