"""What maintainers taught AIOS about a repository (`/aios remember`), fed to every agent."""

from __future__ import annotations

import redis.asyncio

MEMORIES_KEY = "aios:memories:{repo}"
"""List of one repository's memories, oldest first; `/aios forget <n>` counts from 1."""

MAX_MEMORIES = 50
MAX_MEMORY_CHARS = 500


class MemoryProblem(ValueError):
    """A memory that cannot be stored or found; the message is fit to reply with."""


async def list_memories(client: redis.asyncio.Redis, repo: str) -> list[str]:
    return [m.decode() for m in await client.lrange(MEMORIES_KEY.format(repo=repo), 0, -1)]


async def remember(client: redis.asyncio.Redis, repo: str, text: str) -> int:
    """Store a memory; returns its number."""
    text = " ".join(text.split())
    if not text:
        raise MemoryProblem("there is nothing to remember: `/aios remember <what to keep in mind>`")
    if len(text) > MAX_MEMORY_CHARS:
        raise MemoryProblem(f"a memory is at most {MAX_MEMORY_CHARS} characters")
    key = MEMORIES_KEY.format(repo=repo)
    if await client.llen(key) >= MAX_MEMORIES:
        raise MemoryProblem(
            f"this repository has {MAX_MEMORIES} memories; `/aios forget` some first"
        )
    return int(await client.rpush(key, text))


async def forget(client: redis.asyncio.Redis, repo: str, number: int) -> str:
    """Delete memory `number` (from 1); returns its text."""
    key = MEMORIES_KEY.format(repo=repo)
    memories = await list_memories(client, repo)
    if not 1 <= number <= len(memories):
        raise MemoryProblem(f"there is no memory {number}; `/aios status` lists them")
    # LSET to a tombstone then LREM removes exactly that position, even among equal texts.
    tombstone = "\x00forgotten"
    async with client.pipeline(transaction=True) as pipe:
        pipe.lset(key, number - 1, tombstone)
        pipe.lrem(key, 1, tombstone)
        await pipe.execute()
    return memories[number - 1]
