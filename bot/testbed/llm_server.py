"""The scripted model over real HTTP: a loopback server other processes reach by URL."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from bot.testbed.llm import ScriptedModel, error_body


class LoopbackLLM:
    """Serves a `ScriptedModel` over real HTTP on 127.0.0.1 from a background thread."""

    def __init__(self, model: ScriptedModel) -> None:
        self.model = model
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        hang = self.model.take_hang(request.path, raw)
        if hang is not None:
            await hang.wait(request)
            return web.json_response(
                error_body("anthropic", "api_error", "released by the test"),
                status=500,
                headers={"x-should-retry": "false"},
            )
        status, body, headers = self.model.handle(request.path, dict(request.headers), raw)
        return web.json_response(body, status=status, headers=headers)

    async def _list_models(self, request: web.Request) -> web.Response:
        status, body, headers = self.model.list_models(request.path, dict(request.headers))
        return web.json_response(body, status=status, headers=headers)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        app.router.add_get("/{tail:.*}", self._list_models)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> LoopbackLLM:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback LLM did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
