"""Redis persistence of work items and their audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio

from bot.github.auth import TOKEN_KEY
from bot.workflow import AuditEntry, WorkItem

ITEM_KEY = "aios:item:{key}"
"""JSON of one work item (`WorkItem.to_dict`), keyed `owner/repo#number`."""

AUDIT_KEY = "aios:audit:{key}"
"""Stream of the work item's transitions and rejected events: who, what, when, cost so far."""

INSTALLATION_ITEMS_KEY = "aios:installation:{installation_id}:items"
"""Set of the work-item keys of one installation, so uninstalling forgets them all."""

ITEM_LOCK_KEY = "aios:lock:item:{key}"
ITEM_LOCK_TIMEOUT_S = 120
"""A job that dies holding an item's lock frees it after this long."""


def item_key(repo: str, number: int) -> str:
    return f"{repo}#{number}"


async def load_item(client: redis.asyncio.Redis, repo: str, number: int) -> WorkItem | None:
    raw = await client.get(ITEM_KEY.format(key=item_key(repo, number)))
    return None if raw is None else WorkItem.from_dict(json.loads(raw))


async def save_item(
    client: redis.asyncio.Redis, item: WorkItem, audit: AuditEntry | None = None
) -> None:
    """Store the item, and append its audit entry, in one transaction."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(ITEM_KEY.format(key=item.key), json.dumps(item.to_dict(), sort_keys=True))
        pipe.sadd(INSTALLATION_ITEMS_KEY.format(installation_id=item.installation_id), item.key)
        if audit is not None:
            entry = {**audit.to_dict(), "cost_usd": f"{item.cost_usd:.4f}"}
            pipe.xadd(AUDIT_KEY.format(key=item.key), entry)  # type: ignore[arg-type]
        await pipe.execute()


async def append_audit(client: redis.asyncio.Redis, key: str, audit: AuditEntry) -> None:
    """Record an event that changed nothing (a rejection), so the trail is complete."""
    await client.xadd(AUDIT_KEY.format(key=key), audit.to_dict())  # type: ignore[arg-type]


async def audit_entries(
    client: redis.asyncio.Redis, repo: str, number: int
) -> list[dict[str, str]]:
    entries = await client.xrange(AUDIT_KEY.format(key=item_key(repo, number)))
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


@asynccontextmanager
async def item_lock(client: redis.asyncio.Redis, repo: str, number: int) -> AsyncIterator[None]:
    """Serialise the jobs that change one work item (load, transition, save, upserts)."""
    lock = client.lock(
        ITEM_LOCK_KEY.format(key=item_key(repo, number)),
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
            pipe.delete(ITEM_KEY.format(key=key), AUDIT_KEY.format(key=key))
        pipe.delete(members_key, TOKEN_KEY.format(installation_id=installation_id))
        await pipe.execute()
    return len(keys)
