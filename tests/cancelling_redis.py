"""A Redis client whose task is cancelled right after Redis answered a SET of chosen keys:
the moment a cancellation leaves a key set that its caller never learned it owns."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio


class CancelledAfterTheSet(redis.asyncio.Redis):
    """Cancels the calling task once Redis has answered a SET of a key starting with
    `prefix`, before the caller reads the answer (a lock attempt's SET NX PX)."""

    prefix = ""

    @classmethod
    def on(cls, redis_url: str, prefix: str) -> CancelledAfterTheSet:
        client = cls.from_url(redis_url)
        client.prefix = prefix
        return client

    async def set(self, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        answer = await super().set(name, value, *args, **kwargs)
        if str(name).startswith(self.prefix):
            current = asyncio.current_task()
            assert current is not None
            current.cancel()
            await asyncio.sleep(0)  # where the cancellation lands
        return answer
