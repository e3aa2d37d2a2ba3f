"""A smee.io channel on 127.0.0.1: deliveries POSTed to it are relayed as server-sent events.

Built after probot/smee.io's server: `POST /<channel>` parses the JSON body and relays
`{...headers (lower-cased), body, query, timestamp}`; `GET /<channel>` with
`Accept: text/event-stream` streams `ready`, then every relayed delivery, each with an id.
Unlike smee.io, ids grow across connections and the stream opens with `retry:`, so a test
sees whether a client resumes with Last-Event-ID and honours the server's retry time.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.testbed.loopback import LoopbackServer

CHANNEL = "aiosTestChannel7Qx"
RETRY_MS = 20
"""Short, so a test's reconnect is prompt; smee.io sends none (clients then wait ~1 s)."""


def js_json(value: Any) -> str:
    """`JSON.stringify` as smee.io's Node server writes it: compact, UTF-8, no ASCII escaping."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Connection:
    """One subscriber: what it asked with, and the frames waiting to be written to it."""

    accept: str
    last_event_id: str | None
    frames: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    sent_ids: list[int] = field(default_factory=list)
    closed: bool = False


class SmeeChannel:
    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self._next_id = 0
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get(f"/{CHANNEL}", self._subscribe)
        app.router.add_post(f"/{CHANNEL}", self._relay)
        app.on_shutdown.append(self._hang_up_all)
        self._server = LoopbackServer(app)

    @property
    def url(self) -> str:
        return f"{self._server.origin}/{CHANNEL}"

    def __enter__(self) -> SmeeChannel:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def relay(self, headers: dict[str, str], body: bytes) -> None:
        """Relay a delivery as smee.io does with what GitHub POSTs to it (from any thread)."""
        self._server.submit(self._publish(_relayed(headers, body))).result(timeout=5)

    def publish_raw(self, frame: bytes) -> None:
        """Write bytes as they are to every open connection (a frame cut off, a comment)."""
        self._server.submit(self._write_all(frame)).result(timeout=5)

    def drop(self) -> None:
        """Close every open connection, as a restarting server or a lost network does."""
        self._server.submit(self._hang_up_all()).result(timeout=5)

    def open_connections(self) -> int:
        return len(self._open())

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        connection = Connection(
            accept=request.headers.get("Accept", ""),
            last_event_id=request.headers.get("Last-Event-ID"),
        )
        if connection.accept != "text/event-stream":
            return web.Response(
                text="<html>the channel's web page</html>", content_type="text/html"
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n".encode() + self._frame({}, "ready", connection))
        self.connections.append(connection)
        try:
            while (frame := await connection.frames.get()) is not None:
                await response.write(frame)
        finally:
            connection.closed = True
        # Closing the transport, not ending the chunked body: the connection is lost, not
        # finished, as when a relay restarts mid-stream.
        if request.transport is not None:
            request.transport.close()
        return response

    async def _relay(self, request: web.Request) -> web.Response:
        relayed = _relayed(dict(request.headers), await request.read())
        relayed["query"] = dict(request.query)
        await self._publish(relayed)
        return web.Response(status=200)

    async def _publish(self, relayed: dict[str, Any]) -> None:
        for connection in self._open():
            await connection.frames.put(self._frame(relayed, None, connection))

    async def _write_all(self, frame: bytes) -> None:
        for connection in self._open():
            await connection.frames.put(frame)

    async def _hang_up_all(self, _app: object = None) -> None:
        for connection in self._open():
            connection.closed = True
            await connection.frames.put(None)

    def _open(self) -> list[Connection]:
        return [c for c in self.connections if not c.closed]

    def _frame(self, data: dict[str, Any], event: str | None, connection: Connection) -> bytes:
        self._next_id += 1
        connection.sent_ids.append(self._next_id)
        kind = f"event: {event}\n" if event else ""
        return f"id: {self._next_id}\n{kind}data: {js_json(data)}\n\n".encode()


def _relayed(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    return {
        **{name.lower(): value for name, value in headers.items()},
        "body": json.loads(body),
        "query": {},
        "timestamp": int(time.time() * 1000),
    }
