"""Serve an aiohttp app on 127.0.0.1:<free port> from a background thread with its own loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 2.0


class LoopbackServer:
    """Sync tests, async tests (on their own loop) and child processes can all reach the app.

    Cleanup work belongs in the app's `on_cleanup` signal, which runs on the server loop.
    """

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.origin = ""  # http://127.0.0.1:<port> once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # handed to start() through the future
                ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="loopback-server", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=TIMEOUT_S)
        except BaseException:
            self._thread.join(timeout=TIMEOUT_S)
            loop.close()
            self._loop = self._thread = None
            raise

    async def _listen(self) -> None:
        # At stop, a request still running (a worker killed mid-call) gets a short grace,
        # not aiohttp's 60 s: the test is over and stop() must return within TIMEOUT_S.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.origin = f"http://{host}:{port}"

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the server loop from any thread."""
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("start() the server first")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            self.submit(self._runner.cleanup()).result(timeout=TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=TIMEOUT_S)
        self._loop.close()
        self._loop = self._thread = self._runner = None
