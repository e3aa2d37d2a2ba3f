"""Item locks on a renewed lease: a live holder keeps the lock, a dead one loses it soon."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from redis.exceptions import LockError

from bot.runtime.lease import leased_lock

NAME = "aios:test:lease"


async def test_a_holder_slower_than_its_lease_keeps_the_lock(aredis: redis.asyncio.Redis) -> None:
    entered = asyncio.Event()

    async def slow_holder() -> None:
        async with leased_lock(aredis, NAME, wait_s=1, lease_s=0.3):
            entered.set()
            await asyncio.sleep(1.2)  # four leases long: only renewal keeps the lock

    holder = asyncio.create_task(slow_holder())
    await entered.wait()
    with pytest.raises(LockError, match="stayed locked"):
        async with leased_lock(aredis, NAME, wait_s=0.7, lease_s=0.3):
            pass
    await holder
    async with leased_lock(aredis, NAME, wait_s=0.1, lease_s=0.3):
        assert await aredis.exists(NAME)  # released by its holder: free at once
    assert not await aredis.exists(NAME)


async def test_a_lock_whose_holder_died_is_free_after_one_lease(
    aredis: redis.asyncio.Redis,
) -> None:
    # What a SIGKILLed job leaves: the key with its last lease, and nobody renewing it.
    await aredis.set(NAME, "a-dead-holders-token", px=400)
    async with leased_lock(aredis, NAME, wait_s=5, lease_s=0.3):
        assert await aredis.get(NAME) != b"a-dead-holders-token"
