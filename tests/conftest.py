"""Shared fixtures: a real redis-server per test session, a clean database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from bot.app import embedded_redis

pytest_plugins = [
    "tests.fakes.plugin",
    "tests.serve_harness",
    "tests.routing_harness",
    "tests.agent_harness",
]


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[embedded_redis.EmbeddedRedis]:
    """A real redis-server on a free loopback port; CI installs the binary, so no skip."""
    server = embedded_redis.start(tmp_path_factory.mktemp("redis"), appendonly=False)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: embedded_redis.EmbeddedRedis) -> Iterator[str]:
    """The URL of an emptied database on the session's redis-server."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client on the emptied database."""
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "aios-data"
    path.mkdir()
    return path
