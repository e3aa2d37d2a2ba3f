"""A small TCP proxy in front of a real Redis that can slow it down or swallow everything.

Faults are set on the running proxy: `hold_replies(seconds)` keeps every answer Redis sends,
on every connection, until that much time has passed, as a Redis blocked by `DEBUG SLEEP`, a
fork or a slow disk behaves (a long hold is a Redis that stopped answering); `connect_delay_s`
makes each new connection wait that long before it reaches Redis. `requests_bytes` counts what
clients sent, so a test can wait until a request is on its way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

TIMEOUT_S = 10.0


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.connect_delay_s = 0.0
        self.held_until = 0.0
        self.requests_bytes = 0
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def hold_replies(self, seconds: float) -> None:
        self.held_until = time.monotonic() + seconds

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_exc: object) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT_S)
        self._loop.close()

    def _call(self, coroutine: object) -> None:
        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            coroutine,  # type: ignore[arg-type]
            self._loop,
        )
        future.result(TIMEOUT_S)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the proxy is closing: nothing to report
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The injected fault itself, not a synchronisation: Redis answers this late.
        await asyncio.sleep(self.connect_delay_s)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, delayed=False),
                self._pipe(up_reader, writer, delayed=True),
            )
        finally:
            up_writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        while data := await source.read(65536):
            if delayed:
                # The fault again: a blocked Redis answers nothing until it is free.
                await asyncio.sleep(max(0.0, self.held_until - time.monotonic()))
            else:
                self.requests_bytes += len(data)
            sink.write(data)
            await sink.drain()
        sink.close()
