"""A Redis lock held on a short lease that its holder renews: a dead holder frees it soon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from redis.exceptions import LockError

from bot import redis_locks

LEASE_S = 10.0
"""How long a lock outlives a holder that died (SIGKILL, OOM): the waiters' worst case."""


@asynccontextmanager
async def leased_lock(
    client: redis.asyncio.Redis, name: str, *, wait_s: float, lease_s: float = LEASE_S
) -> AsyncIterator[None]:
    """Hold `name` while the block runs, waiting up to `wait_s` for it.

    The lock expires `lease_s` after its last renewal; the holder renews it every third of
    that while the block runs, so a slow block keeps it and a killed one loses it quickly
    (a fixed two-minute timeout kept every other job of the item waiting that long).

    Raises:
        redis.exceptions.LockError: when the lock stays taken for `wait_s`.
    """
    lock = client.lock(name, timeout=lease_s, blocking_timeout=wait_s)
    if not await redis_locks.acquire(lock):
        raise LockError(f"{name} stayed locked for {wait_s:.0f} s")
    renewal = asyncio.create_task(_renew(lock, lease_s / 3))
    try:
        yield
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        with contextlib.suppress(LockError):
            await lock.release()


async def _renew(lock: redis.asyncio.lock.Lock, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await lock.reacquire()
