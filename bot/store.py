"""Redis persistence of work items and their audit trail."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio

from bot.github.auth import TOKEN_KEY

ITEM_KEY = "aios:item:{repo}#{number}"
"""JSON of one work item (an issue and, later, its pull request)."""

AUDIT_KEY = "aios:audit:{repo}#{number}"
"""Stream of the work item's transitions: who, what, when."""

INSTALLATION_ITEMS_KEY = "aios:installation:{installation_id}:items"
"""Set of the work-item keys of one installation, so uninstalling forgets them all."""

ITEM_LOCK_KEY = "aios:lock:item:{repo}#{number}"
ITEM_LOCK_TIMEOUT_S = 60


@dataclass
class WorkItemRecord:
    """What is stored for a work item; the workflow module owns its state transitions."""

    installation_id: int
    repo: str
    number: int
    state: str = "queued"
    role: str = ""
    requested_by: str = ""
    progress_comment_id: int | None = None
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> WorkItemRecord:
        return cls(**json.loads(raw))


def item_key(repo: str, number: int) -> str:
    return ITEM_KEY.format(repo=repo, number=number)


async def load_item(client: redis.asyncio.Redis, repo: str, number: int) -> WorkItemRecord | None:
    raw = await client.get(item_key(repo, number))
    return None if raw is None else WorkItemRecord.from_json(raw)


async def save_item(
    client: redis.asyncio.Redis, item: WorkItemRecord, *, actor: str, what: str
) -> None:
    """Store the item and append an audit entry in one transaction."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(item_key(item.repo, item.number), item.to_json())
        pipe.sadd(
            INSTALLATION_ITEMS_KEY.format(installation_id=item.installation_id),
            item_key(item.repo, item.number),
        )
        pipe.xadd(
            AUDIT_KEY.format(repo=item.repo, number=item.number),
            {"actor": actor, "what": what, "state": item.state, "at": f"{time.time():.3f}"},
        )
        await pipe.execute()


async def audit_entries(
    client: redis.asyncio.Redis, repo: str, number: int
) -> list[dict[str, str]]:
    entries = await client.xrange(AUDIT_KEY.format(repo=repo, number=number))
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


@asynccontextmanager
async def item_lock(client: redis.asyncio.Redis, repo: str, number: int) -> AsyncIterator[None]:
    """Serialise jobs that write the same work item's GitHub objects (comment upserts)."""
    lock = client.lock(
        ITEM_LOCK_KEY.format(repo=repo, number=number),
        timeout=ITEM_LOCK_TIMEOUT_S,
        blocking_timeout=ITEM_LOCK_TIMEOUT_S,
    )
    async with lock:
        yield


async def forget_installation(client: redis.asyncio.Redis, installation_id: int) -> int:
    """Delete the cached token and every work item of an uninstalled installation.

    Returns how many work items were forgotten.
    """
    members_key = INSTALLATION_ITEMS_KEY.format(installation_id=installation_id)
    keys = [k.decode() for k in await client.smembers(members_key)]
    async with client.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.delete(key, key.replace("aios:item:", "aios:audit:", 1))
        pipe.delete(members_key, TOKEN_KEY.format(installation_id=installation_id))
        await pipe.execute()
    return len(keys)
