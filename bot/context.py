"""The small typed context handed to handlers and jobs: settings, Redis, queue, GitHub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import redis
import redis.asyncio

from bot.github.client import GitHubClient, app_client, installation_client
from bot.queue import JobQueue
from bot.settings import Settings


@dataclass
class WorkerContext:
    """What a handler or job may use; built per job, so nothing outlives its event loop."""

    settings: Settings
    redis: redis.asyncio.Redis
    jobs: JobQueue

    def github_app(self) -> AbstractAsyncContextManager[GitHubClient]:
        """A client authenticated as the App itself (JWT)."""
        return app_client(self.settings, self.redis)

    def github(self, installation_id: int) -> AbstractAsyncContextManager[GitHubClient]:
        """A client authenticated as one installation (cached installation token)."""
        return installation_client(self.settings, self.redis, installation_id)


def redis_url_of(settings: Settings) -> str:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set; workers are started with the Redis they must use")
    return settings.redis_url


@asynccontextmanager
async def open_context(settings: Settings | None = None) -> AsyncIterator[WorkerContext]:
    """Open the clients a job needs and close them when it ends."""
    settings = settings or Settings.from_env()
    url = redis_url_of(settings)
    async_client = redis.asyncio.Redis.from_url(url)
    sync_client = redis.Redis.from_url(url)
    try:
        yield WorkerContext(settings=settings, redis=async_client, jobs=JobQueue(sync_client))
    finally:
        await async_client.aclose()
        sync_client.close()
