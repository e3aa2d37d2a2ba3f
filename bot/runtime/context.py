"""The small typed context handed to handlers and jobs: settings, Redis, queue, GitHub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import httpx2
import redis
import redis.asyncio

from bot.github.auth import AppCredentials, TokenCache
from bot.github.client import GitHubClient, RetryPolicy
from bot.github.scopes import Permissions, TokenScope
from bot.github.sessions import app_client, installation_client
from bot.runtime import redis_clients
from bot.runtime.counters import GitHubCalls
from bot.runtime.queues import JobQueue
from bot.settings import Settings


@dataclass
class WorkerContext:
    """What a handler or job may use; built per job, so nothing outlives its event loop."""

    settings: Settings
    redis: redis.asyncio.Redis
    jobs: JobQueue
    github_calls: GitHubCalls = field(default_factory=GitHubCalls)
    """Every GitHub call of the job, by method and status; the job scope adds them to /metrics."""
    scope: TokenScope | None = None
    """The repository and permissions this job's tokens are minted for (`runtime.scope`)."""

    def scope_to(self, repo: str, permissions: Permissions) -> None:
        """From now on, this job's tokens name `repo` and `permissions`, nothing more."""
        self.scope = TokenScope.of(repo, permissions)

    @property
    def github_policy(self) -> RetryPolicy:
        """Retries and write pacing of this job's GitHub clients (the pace is a setting)."""
        return RetryPolicy(write_spacing_s=self.settings.github_write_spacing_s)

    def github_app(self) -> AbstractAsyncContextManager[GitHubClient]:
        """A client authenticated as the App itself (JWT)."""
        return app_client(
            self.settings,
            self.redis,
            policy=self.github_policy,
            on_response=self.github_calls.record,
        )

    def github(self, installation_id: int) -> AbstractAsyncContextManager[GitHubClient]:
        """A client authenticated as one installation, with a token of this job's scope."""
        return installation_client(
            self.settings,
            self.redis,
            installation_id,
            scope=self._required_scope(),
            policy=self.github_policy,
            on_response=self.github_calls.record,
        )

    async def installation_token(
        self, installation_id: int, *, extra: Permissions | None = None
    ) -> str:
        """A token of this job's scope (plus `extra`) for git, which takes it in an extra
        header, never a URL."""
        scope = self._required_scope()
        if extra:
            scope = scope.widened(extra)
        creds = AppCredentials.from_settings(self.settings)
        async with httpx2.AsyncClient() as http:
            minter = GitHubClient(
                http, base_url=self.settings.github_api_url, on_response=self.github_calls.record
            )
            return await TokenCache(self.redis, creds, minter).token(installation_id, scope)

    def _required_scope(self) -> TokenScope:
        if self.scope is None:
            # A job that never said which repository it works on gets no token at all,
            # rather than one good for every repository of the installation.
            raise RuntimeError("no token scope: call WorkerContext.scope_to(repo, permissions)")
        return self.scope


def redis_url_of(settings: Settings) -> str:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set; workers are started with the Redis they must use")
    return settings.redis_url


@asynccontextmanager
async def open_context(settings: Settings | None = None) -> AsyncIterator[WorkerContext]:
    """Open the clients a job needs and close them when it ends."""
    settings = settings or Settings.from_env()
    url = redis_url_of(settings)
    async_client = redis_clients.async_client(url)
    sync_client = redis_clients.sync_client(url)
    try:
        jobs = JobQueue(sync_client, agent_timeout_s=settings.agent_timeout_s)
        yield WorkerContext(settings=settings, redis=async_client, jobs=jobs)
    finally:
        await async_client.aclose()
        sync_client.close()
