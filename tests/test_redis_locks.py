"""Redis locks taken so that a cancelled attempt leaves no key behind (bot.redis_locks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from redis.exceptions import LockError

from bot import redis_locks
from tests.cancelling_redis import CancelledAfterTheSet

KEY = "aios:test:lock"


@pytest.fixture
async def cancelling(redis_url: str) -> AsyncIterator[CancelledAfterTheSet]:
    client = CancelledAfterTheSet.on(redis_url, KEY)
    yield client
    await client.aclose()


async def test_an_attempt_cancelled_after_redis_set_the_key_deletes_it(
    cancelling: redis.asyncio.Redis, aredis: redis.asyncio.Redis
) -> None:
    attempt = asyncio.create_task(redis_locks.acquire(cancelling.lock(KEY, timeout=60)))
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert await aredis.exists(KEY) == 0


async def test_a_cancelled_attempt_leaves_another_holders_key_alone(
    cancelling: redis.asyncio.Redis, aredis: redis.asyncio.Redis
) -> None:
    holder = aredis.lock(KEY, timeout=60)
    assert await holder.acquire()
    # Its SET NX is refused (the holder has the key), and the task is cancelled right after.
    waiting = asyncio.create_task(
        redis_locks.acquire(cancelling.lock(KEY, timeout=60, blocking_timeout=30, sleep=0.01))
    )
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await holder.owned()


async def test_held_raises_when_the_lock_stays_taken_and_releases_after_the_block(
    aredis: redis.asyncio.Redis,
) -> None:
    holder = aredis.lock(KEY, timeout=60)
    assert await holder.acquire()
    with pytest.raises(LockError):
        async with redis_locks.held(aredis.lock(KEY, blocking_timeout=0.1, sleep=0.02)):
            pass
    await holder.release()
    async with redis_locks.held(aredis.lock(KEY, timeout=60, blocking_timeout=1)):
        assert await aredis.exists(KEY) == 1
    assert await aredis.exists(KEY) == 0
