"""At start, point the App's webhook where this server takes deliveries (`PATCH /app/hook/config`).

`AIOS_PUBLIC_URL` used to matter only at registration: a tunnel that came back under a new
URL left GitHub sending deliveries to the old one, silently. Now `aios serve` compares the
App's webhook URL with its own and, when they differ, says what it changes and changes it.
"""

from __future__ import annotations

import asyncio

import gidgethub
import redis.asyncio
import structlog

from bot.app.webhook_proxy import shown
from bot.github.auth import AuthError
from bot.github.sessions import app_client
from bot.settings import Settings

log = structlog.get_logger(__name__)


def wanted_hook_url(settings: Settings) -> str | None:
    """Where GitHub should send deliveries: the proxy channel when there is one (the server
    itself is then unreachable), else /webhook under the public URL; None when unknown."""
    if settings.webhook_proxy_url is not None:
        return settings.webhook_proxy_url
    if settings.public_url is not None:
        return f"{settings.public_url}/webhook"
    return None


async def sync_hook_url(settings: Settings, client: redis.asyncio.Redis) -> str | None:
    """Set the App's webhook URL to `wanted_hook_url` when it differs.

    Returns:
        The URL it replaced, or None when nothing changed.

    Raises:
        gidgethub.GitHubException: GitHub refused or could not be reached.
    """
    wanted = wanted_hook_url(settings)
    if wanted is None or not settings.has_app_credentials:
        return None
    async with app_client(settings, client) as gh:
        config = await gh.getitem("/app/hook/config")
        current = str(config.get("url") or "")
        if current == wanted:
            return None
        log.info(
            f"App webhook URL changes: {shown(current) if current else '(none)'} → {shown(wanted)}"
        )
        await gh.patch("/app/hook/config", data={"url": wanted})
    return current


async def _sync_or_warn(settings: Settings, client: redis.asyncio.Redis) -> None:
    try:
        await sync_hook_url(settings, client)
    except (gidgethub.GitHubException, AuthError) as exc:
        # Serving goes on: deliveries may still arrive if the URL was right all along.
        log.warning(
            "could not check the App's webhook URL",
            error=str(exc),
            fix="on the App's settings page, set the webhook URL to "
            + ("WEBHOOK_PROXY_URL" if settings.webhook_proxy_url else "AIOS_PUBLIC_URL/webhook"),
        )


def start(settings: Settings, client: redis.asyncio.Redis) -> list[asyncio.Task[None]]:
    """The check as a background task, so a slow GitHub never delays serving."""
    if wanted_hook_url(settings) is None or not settings.has_app_credentials:
        return []
    return [asyncio.create_task(_sync_or_warn(settings, client), name="hook-config")]
