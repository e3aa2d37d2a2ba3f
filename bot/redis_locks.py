"""Taking a Redis lock so that an interruption leaves nothing behind.

redis-py's `Lock.acquire` sends `SET NX PX` and then reads the reply. A task cancelled in
between (a progress writer closed as its agent finishes, a job's deadline) has set the key
without learning so: nobody owns it, nobody releases it, and every other taker waits for it
to expire. Seen as a minute's stall of every GitHub write of an installation.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError


async def acquire(lock: Lock) -> bool:
    """`lock.acquire()` with the lock's own timeouts; an interrupted attempt deletes the key
    if Redis set it for this attempt, then lets the interruption through."""
    token = uuid.uuid4().hex.encode()
    try:
        return bool(await lock.acquire(token=token))
    except BaseException:
        with contextlib.suppress(RedisError):
            await asyncio.shield(_delete_if_holding(lock, token))
        raise


@asynccontextmanager
async def held(lock: Lock) -> AsyncIterator[None]:
    """`async with lock`, taken with `acquire`: LockError when it stays taken for the lock's
    `blocking_timeout`, and the release's LockError when it expired while held."""
    if not await acquire(lock):
        raise LockError("Unable to acquire lock within the time specified")
    try:
        yield
    finally:
        await lock.release()


async def _delete_if_holding(lock: Lock, token: bytes) -> None:
    with contextlib.suppress(LockError):
        await lock.do_release(token)
