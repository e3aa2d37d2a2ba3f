"""GET /: a small status page for the person running AIOS (never a secret on it)."""

from __future__ import annotations

import redis
from aiohttp import web

from bot.app.setup.context import SetupContext
from bot.app.setup.model import describe_model
from bot.app.setup.pages import e
from bot.app.web import REDIS_KEY, WORKERS_SET


class StatusPage:
    def __init__(self, ctx: SetupContext) -> None:
        self.ctx = ctx

    async def show(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        if ctx.app is None:
            app = "not registered: <a href='/setup'>register it at /setup</a>"
        else:
            restart = " (registered just now; restart to use it)" if ctx.registered_now else ""
            app = (
                f"<a href='{e(ctx.app.html_url)}'>{e(ctx.app.slug or ctx.app.name)}</a> "
                f"(App ID {e(ctx.app.app_id)}){restart}"
            )
        if ctx.public_url:
            webhook = f"<code>{e(ctx.public_url)}/webhook</code>"
        else:
            webhook = (
                "none: no public URL is set (AIOS_PUBLIC_URL or --public-url), so GitHub "
                "cannot deliver events to this server"
            )
        body = ctx.pages.body(
            "status",
            app=app,
            webhook=webhook,
            model=e(describe_model(ctx)),
            workers=e(await _workers(request)),
        )
        return ctx.pages.page(200, "AIOS status", body)


async def _workers(request: web.Request) -> str:
    client = request.app.get(REDIS_KEY)
    if client is None:
        return "unknown (no Redis in this process)"
    try:
        alive = await client.scard(WORKERS_SET)
    except redis.RedisError as exc:
        return f"unknown: Redis unreachable ({type(exc).__name__})"
    if alive == 0:
        return "none alive: agents wait until a worker runs (aios serve starts them)"
    return f"{alive} alive"
