"""Clients for one job: authenticated as the App or as one installation, on a shared TLS context."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import certifi
import httpx2
import redis.asyncio

from bot.github.auth import AppCredentials, TokenCache
from bot.github.client import (
    AppAuth,
    GitHubClient,
    InstallationAuth,
    OnResponse,
    RetryPolicy,
    Sleep,
)
from bot.github.scopes import TokenScope
from bot.settings import Settings

HTTP_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)


@asynccontextmanager
async def app_client(
    settings: Settings,
    redis: redis.asyncio.Redis,
    *,
    policy: RetryPolicy | None = None,
    sleep: Sleep | None = None,
    on_response: OnResponse | None = None,
    http: httpx2.AsyncClient | None = None,
) -> AsyncIterator[GitHubClient]:
    """A client authenticated as the App (JWT): installations, hook deliveries, tokens.

    Raises:
        AuthError: the settings carry no App credentials.
    """
    creds = AppCredentials.from_settings(settings)
    async with _session(http) as session:
        yield GitHubClient(
            session,
            base_url=settings.github_api_url,
            auth=AppAuth(creds),
            policy=policy,
            sleep=sleep,
            redis=redis,
            write_scope="app",
            on_response=on_response,
        )


@asynccontextmanager
async def installation_client(
    settings: Settings,
    redis: redis.asyncio.Redis,
    installation_id: int,
    *,
    policy: RetryPolicy | None = None,
    sleep: Sleep | None = None,
    on_response: OnResponse | None = None,
    http: httpx2.AsyncClient | None = None,
    renew_before_s: int = 300,
    scope: TokenScope | None = None,
) -> AsyncIterator[GitHubClient]:
    """A client acting as one installation, its token shared with every worker via Redis.

    With `scope`, its token is good for that one repository and those permissions only.

    Raises:
        AuthError: the settings carry no App credentials.
    """
    creds = AppCredentials.from_settings(settings)
    async with _session(http) as session:
        # Minting is already one-at-a-time per installation (TokenCache's lock), so the
        # minter stays out of the write queue: a burst of mints must not wait 1 s each.
        minter = GitHubClient(
            session,
            base_url=settings.github_api_url,
            policy=policy,
            sleep=sleep,
            on_response=on_response,
        )
        tokens = TokenCache(redis, creds, minter, renew_before_s=renew_before_s)
        yield GitHubClient(
            session,
            base_url=settings.github_api_url,
            auth=InstallationAuth(tokens, installation_id, scope),
            policy=policy,
            sleep=sleep,
            redis=redis,
            write_scope=pacing_scope(installation_id),
            on_response=on_response,
        )


def pacing_scope(installation_id: int) -> str:
    """Whose writes are paced together: everything AIOS writes as one installation."""
    return f"installation:{installation_id}"


@asynccontextmanager
async def _session(http: httpx2.AsyncClient | None) -> AsyncIterator[httpx2.AsyncClient]:
    if http is not None:
        yield http  # the caller's pool: the caller closes it
        return
    async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT, verify=tls_context()) as session:
        yield session


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs 20-40 ms, and every job
    opens a client. Built in the worker before it forks, so work horses inherit it."""
    return ssl.create_default_context(cafile=certifi.where())
