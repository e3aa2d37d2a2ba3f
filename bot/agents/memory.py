"""What the agents learned about a repository: memories with a source, accepted, used, expired.

A memory comes from a maintainer (`/aios remember`, accepted at once) or is distilled from
review feedback on an agent's pull request (proposed, with a link to the comment it came
from, until a maintainer ticks "accept" in the Control Center or `memory.auto_accept` is on).
Accepted memories enter every agent's prompt for the repository; each use refreshes the
memory, and one unused for `memory.expire_after_days` expires (proposed ones too).

Storage: one Redis hash per repository (memory id → JSON), a counter for ids, and a hash of
last uses kept apart so that marking a memory used can never bring a forgotten one back.
Ids are stable: `/aios forget 3` and the Control Center's boxes name the same memory even
after others were forgotten. AIOS 0.2 kept a plain list of strings; it is moved into the
hash (ids 1…n in list order, so its numbers stay right) on first read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import redis.asyncio

MEMORY_KEY = "aios:memory:{repo}"
"""Hash: memory id → the memory as JSON."""
MEMORY_IDS_KEY = "aios:memory:{repo}:ids"
"""Counter of the repository's memory ids."""
MEMORY_USED_KEY = "aios:memory:{repo}:used"
"""Hash: memory id → when an agent last had it in its prompt (ISO 8601)."""
LEGACY_MEMORIES_KEY = "aios:memories:{repo}"
"""AIOS 0.2's list of memory texts, migrated on first read."""

MAX_MEMORIES = 50
"""Accepted memories per repository; each one is in every prompt."""
MAX_PROPOSED = 20
"""Proposed memories waiting for a maintainer; more proposals are dropped until some go."""
MAX_MEMORY_CHARS = 500
DEFAULT_EXPIRE_AFTER_DAYS = 28

PROPOSED = "proposed"
ACCEPTED = "accepted"


class MemoryProblem(ValueError):
    """A memory that cannot be stored or found; the message is fit to reply with."""


def utcnow() -> datetime:
    """The memories' clock (tests move it to see a memory expire)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Memory:
    id: int
    text: str
    state: str
    """`proposed` (waits for a maintainer) or `accepted` (in every agent's prompt)."""
    created_at: datetime
    created_by: str
    """Who taught it: a login for `/aios remember`, `aios` for a distilled one."""
    source_url: str | None = None
    """The review comment (or command) it came from."""
    source: str = ""
    """A few words on where it came from, e.g. "@bob's review of #12"."""
    accepted_by: str | None = None
    last_used_at: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.state == ACCEPTED

    def expires_at(self, expire_after_days: int) -> datetime:
        """Unused since it was made (or last used) for `expire_after_days`: it expires then."""
        return (self.last_used_at or self.created_at) + timedelta(days=expire_after_days)

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data.pop("last_used_at")
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes, last_used: str | None) -> Memory:
        data = json.loads(raw)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        used = datetime.fromisoformat(last_used) if last_used else None
        return cls(**data, last_used_at=used)


@dataclass(frozen=True)
class Candidate:
    """A memory distilled from review feedback, before it is stored."""

    text: str
    source_url: str | None
    source: str


def _keys(repo: str) -> tuple[str, str, str]:
    return (
        MEMORY_KEY.format(repo=repo),
        MEMORY_IDS_KEY.format(repo=repo),
        MEMORY_USED_KEY.format(repo=repo),
    )


def _clean(text: str) -> str:
    return " ".join(text.split())


async def _migrate(client: redis.asyncio.Redis, repo: str, now: datetime) -> None:
    legacy = LEGACY_MEMORIES_KEY.format(repo=repo)
    if not await client.exists(legacy):
        return
    texts = [t.decode() for t in await client.lrange(legacy, 0, -1)]
    memories, ids, _used = _keys(repo)
    async with client.pipeline(transaction=True) as pipe:
        for number, text in enumerate(texts, start=1):
            memory = Memory(number, text, ACCEPTED, now, "a maintainer", source="/aios remember")
            pipe.hsetnx(memories, str(number), memory.to_json())
        pipe.set(ids, len(texts), nx=True)
        pipe.delete(legacy)
        await pipe.execute()


async def list_memories(
    client: redis.asyncio.Redis, repo: str, *, now: datetime | None = None
) -> list[Memory]:
    """Every memory of the repository, proposed and accepted, by id."""
    await _migrate(client, repo, now or utcnow())
    memories, _ids, used = _keys(repo)
    raw, last_used = await client.hgetall(memories), await client.hgetall(used)
    found = [
        Memory.from_json(value, (last_used.get(key) or b"").decode() or None)
        for key, value in raw.items()
    ]
    return sorted(found, key=lambda memory: memory.id)


async def _add(client: redis.asyncio.Redis, repo: str, memory: Memory) -> Memory:
    memories, ids, _used = _keys(repo)
    number = int(await client.incr(ids))
    memory = replace(memory, id=number)
    await client.hset(memories, str(number), memory.to_json())
    return memory


async def remember(
    client: redis.asyncio.Redis,
    repo: str,
    text: str,
    *,
    by: str = "a maintainer",
    source_url: str | None = None,
    now: datetime | None = None,
) -> Memory:
    """A maintainer's memory (`/aios remember`): accepted at once."""
    text = _clean(text)
    if not text:
        raise MemoryProblem("there is nothing to remember: `/aios remember <what to keep in mind>`")
    if len(text) > MAX_MEMORY_CHARS:
        raise MemoryProblem(f"a memory is at most {MAX_MEMORY_CHARS} characters")
    now = now or utcnow()
    known = await list_memories(client, repo, now=now)
    if sum(m.accepted for m in known) >= MAX_MEMORIES:
        raise MemoryProblem(
            f"this repository has {MAX_MEMORIES} memories; `/aios forget` some first"
        )
    source = "/aios remember" if by == "a maintainer" else f"@{by}'s /aios remember"
    memory = Memory(0, text, ACCEPTED, now, by, source_url, source, accepted_by=by)
    return await _add(client, repo, memory)


async def propose(
    client: redis.asyncio.Redis,
    repo: str,
    candidates: Iterable[Candidate],
    *,
    auto_accept: bool = False,
    now: datetime | None = None,
) -> list[Memory]:
    """Store distilled memories: proposed (or accepted with `auto_accept`), never a text the
    repository already has, never past the caps. Returns the ones stored."""
    now = now or utcnow()
    known = await list_memories(client, repo, now=now)
    texts = {_clean(m.text).lower() for m in known}
    accepted = sum(m.accepted for m in known)
    proposed = len(known) - accepted
    stored = []
    for candidate in candidates:
        text = _clean(candidate.text)[:MAX_MEMORY_CHARS]
        if not text or text.lower() in texts:
            continue
        if (auto_accept and accepted >= MAX_MEMORIES) or (
            not auto_accept and proposed >= MAX_PROPOSED
        ):
            break
        state = ACCEPTED if auto_accept else PROPOSED
        memory = Memory(
            0,
            text,
            state,
            now,
            "aios",
            candidate.source_url,
            candidate.source,
            accepted_by="memory.auto_accept" if auto_accept else None,
        )
        stored.append(await _add(client, repo, memory))
        texts.add(text.lower())
        accepted += auto_accept
        proposed += not auto_accept
    return stored


async def _get(client: redis.asyncio.Redis, repo: str, number: int) -> Memory:
    memories, _ids, used = _keys(repo)
    await _migrate(client, repo, utcnow())
    raw = await client.hget(memories, str(number))
    if raw is None:
        raise MemoryProblem(f"there is no memory {number}; `/aios status` lists them")
    last = await client.hget(used, str(number))
    return Memory.from_json(raw, last.decode() if last else None)


async def accept(client: redis.asyncio.Redis, repo: str, number: int, *, by: str) -> Memory:
    """A maintainer accepted proposed memory `number`: from now on every agent has it."""
    memory = await _get(client, repo, number)
    if memory.accepted:
        return memory
    known = await list_memories(client, repo)
    if sum(m.accepted for m in known) >= MAX_MEMORIES:
        raise MemoryProblem(
            f"this repository has {MAX_MEMORIES} memories; `/aios forget` some first"
        )
    memory = replace(memory, state=ACCEPTED, accepted_by=by)
    memories, _ids, _used = _keys(repo)
    # HSET only where it still exists: a forget racing this accept wins.
    await client.eval(_SET_IF_PRESENT, 1, memories, str(number), memory.to_json())
    return memory


_SET_IF_PRESENT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


async def forget(client: redis.asyncio.Redis, repo: str, number: int) -> Memory:
    """Delete memory `number`; returns it."""
    memory = await _get(client, repo, number)
    memories, _ids, used = _keys(repo)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hdel(memories, str(number))
        pipe.hdel(used, str(number))
        await pipe.execute()
    return memory


async def expire(
    client: redis.asyncio.Redis,
    repo: str,
    *,
    expire_after_days: int = DEFAULT_EXPIRE_AFTER_DAYS,
    now: datetime | None = None,
) -> tuple[list[Memory], list[Memory]]:
    """Delete the memories unused for `expire_after_days`; returns (kept, expired)."""
    now = now or utcnow()
    known = await list_memories(client, repo, now=now)
    kept = [m for m in known if m.expires_at(expire_after_days) > now]
    gone = [m for m in known if m.expires_at(expire_after_days) <= now]
    if gone:
        memories, _ids, used = _keys(repo)
        async with client.pipeline(transaction=True) as pipe:
            pipe.hdel(memories, *(str(m.id) for m in gone))
            pipe.hdel(used, *(str(m.id) for m in gone))
            await pipe.execute()
    return kept, gone


async def memories_for_prompt(
    client: redis.asyncio.Redis,
    repo: str,
    *,
    expire_after_days: int = DEFAULT_EXPIRE_AFTER_DAYS,
    now: datetime | None = None,
) -> list[str]:
    """The accepted, unexpired memories an agent gets in its prompt; each is marked used now."""
    now = now or utcnow()
    kept, _gone = await expire(client, repo, expire_after_days=expire_after_days, now=now)
    in_use = [m for m in kept if m.accepted]
    if in_use:
        _memories, _ids, used = _keys(repo)
        await client.hset(used, mapping={str(m.id): now.isoformat() for m in in_use})
    return [m.text for m in in_use]
