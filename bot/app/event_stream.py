"""Server-sent events (text/event-stream) parsed incrementally, as the WHATWG HTML spec says."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOM = "\ufeff".encode()
_EOL = re.compile(rb"\r\n?|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    type: str
    """The `event:` field, "message" when the server sent none."""
    data: str
    last_event_id: str
    """The id of this event or, when it had none, of the last event that had one."""


class EventStreamParser:
    """Bytes of one stream in, complete events out; an event cut off by the end of the
    stream is never dispatched (the spec drops it, so half a payload is never acted on).

    The last event id and the server's `retry:` outlive a connection (`reconnected`), as an
    EventSource keeps them to resume with `Last-Event-ID`.
    """

    def __init__(self, *, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""
        self.retry_ms: int | None = None
        self.oversized = 0
        """Events dropped for exceeding `max_event_bytes` since the parser was made."""
        self._reset_connection()

    def reconnected(self) -> None:
        """A new connection starts: what was half received on the last one is gone."""
        self._reset_connection()

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        buffer = self._buffer
        buffer += chunk
        if self._at_start:
            if len(buffer) < len(_BOM) and _BOM.startswith(bytes(buffer)):
                return []
            if buffer.startswith(_BOM):
                del buffer[: len(_BOM)]
            self._at_start = False
        # Lines end in CRLF, LF or CR; a CR that ended the last chunk may be half of a CRLF.
        start = 1 if self._after_cr and buffer[:1] == b"\n" else 0
        self._after_cr = False
        events: list[ServerSentEvent] = []
        while (end := _EOL.search(buffer, max(start, self._scanned))) is not None:
            line = buffer[start : end.start()].decode("utf-8", errors="replace")
            start, self._scanned = end.end(), 0
            self._after_cr = start == len(buffer) and end.group() == b"\r"
            if (event := self._process(line)) is not None:
                events.append(event)
        del buffer[:start]  # once per chunk: cutting each line off the front would be quadratic
        self._scanned = len(buffer)
        if len(buffer) + self._data_bytes > self.max_event_bytes:
            # A line still growing past the limit: drop it and the rest of its event.
            buffer.clear()
            self._scanned = 0
            self._skip_event()
        return events

    def _reset_connection(self) -> None:
        # An id read in an event that never completed does not count (the spec's "last
        # event ID buffer" takes effect only when an event is dispatched).
        self._id_buffer = self.last_event_id
        self._buffer = bytearray()
        self._scanned = 0
        self._at_start = True
        self._after_cr = False
        self._clear_event()

    def _clear_event(self) -> None:
        self._type = ""
        self._data: list[str] = []
        self._data_bytes = 0
        self._skipping = False

    def _skip_event(self) -> None:
        if not self._skipping:
            self.oversized += 1
        self._data, self._data_bytes, self._skipping = [], 0, True

    def _process(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: servers send them to keep the connection alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and not self._skipping:
            self._data.append(value)
            self._data_bytes += len(value) + 1
            if self._data_bytes > self.max_event_bytes:
                self._skip_event()
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        skipped, data, kind = self._skipping, self._data, self._type
        self._clear_event()
        self.last_event_id = self._id_buffer
        if skipped or not data:
            return None
        return ServerSentEvent(kind or "message", "\n".join(data), self.last_event_id)
