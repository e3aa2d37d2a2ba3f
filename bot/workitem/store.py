"""Redis persistence of work items and their audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio

from bot.github.auth import token_keys
from bot.runtime.counters import AGENT_LOOPS_KEY, AGENT_OUTCOMES_KEY, OUTCOME_STATES
from bot.runtime.lease import leased_lock
from bot.workitem.audit import AuditEntry
from bot.workitem.item import WorkItem

ITEM_KEY = "aios:item:{key}"
"""JSON of one work item (`WorkItem.to_dict`), keyed `owner/repo#number`."""

AUDIT_KEY = "aios:audit:{key}"
"""Stream of the work item's transitions and rejected events: who, what, when, cost so far."""

PR_ITEM_KEY = "aios:pr:{repo}#{pr_number}"
"""The issue number of the work item whose pull request this is (commands, reviews on PRs)."""

INSTALLATION_ITEMS_KEY = "aios:installation:{installation_id}:items"
"""Set of the work-item keys of one installation, so uninstalling forgets them all."""

PENDING_KEY = "aios:pending-effects"
"""Sorted set of the work items whose last transition's effects are not all carried out,
scored by when the sweeper may take them next: the transition's time, then its last claim's."""

REPO_ITEMS_KEY = "aios:repo:{repo}:items"
"""Set of the work-item keys of one repository: what the Control Center and `aios report` list.
Items stored before this index existed are found through their installation's set."""

REPOS_KEY = "aios:repos"
"""Set of every repository with a work item (`aios report` without `--repo`)."""

ITEM_LOCK_KEY = "aios:lock:item:{key}"
PUBLISH_LOCK_KEY = "aios:lock:publish:{key}"
ITEM_LOCK_TIMEOUT_S = 120
"""How long a job waits for an item's lock (its holder may be writing to a paced GitHub);
one that died holding it frees it within `bot.runtime.lease.LEASE_S`."""


def item_key(repo: str, number: int) -> str:
    return f"{repo}#{number}"


async def load_item(client: redis.asyncio.Redis, repo: str, number: int) -> WorkItem | None:
    raw = await client.get(ITEM_KEY.format(key=item_key(repo, number)))
    return None if raw is None else WorkItem.from_dict(json.loads(raw))


async def item_for_pr(client: redis.asyncio.Redis, repo: str, pr_number: int) -> WorkItem | None:
    """The work item that opened pull request `pr_number`, or None for other PRs."""
    number = await client.get(PR_ITEM_KEY.format(repo=repo, pr_number=pr_number))
    if number is None:
        return None
    item = await load_item(client, repo, int(number))
    return item if item is not None and item.pr_number == pr_number else None


async def load_steerable(client: redis.asyncio.Redis, repo: str, number: int) -> WorkItem | None:
    """The work item of issue `number`, or of the pull request `number` when it is an agent PR."""
    return await load_item(client, repo, number) or await item_for_pr(client, repo, number)


async def save_item(
    client: redis.asyncio.Redis,
    item: WorkItem,
    audit: AuditEntry | None = None,
    *,
    pending_since: float | None = None,
    loop: str | None = None,
) -> None:
    """Store the item, and append its audit entry, in one transaction.

    `pending_since` (a Unix time) lists the item's pending effects for the sweeper; an item
    saved without pending effects leaves the list. `loop` names the bounded loop the
    transition went round (`rules.Counter`); it and an outcome the audit entry reaches are
    counted for `/metrics` in the same transaction, so a retried job never counts twice.
    """
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(ITEM_KEY.format(key=item.key), json.dumps(item.to_dict(), sort_keys=True))
        if item.pending is None:
            pipe.zrem(PENDING_KEY, item.key)
        elif pending_since is not None:
            pipe.zadd(PENDING_KEY, {item.key: pending_since})
        if item.pr_number is not None:
            pipe.set(PR_ITEM_KEY.format(repo=item.repo, pr_number=item.pr_number), item.number)
        pipe.sadd(INSTALLATION_ITEMS_KEY.format(installation_id=item.installation_id), item.key)
        pipe.sadd(REPO_ITEMS_KEY.format(repo=item.repo), item.key)
        pipe.sadd(REPOS_KEY, item.repo)
        if audit is not None:
            entry = {**audit.to_dict(), "cost_usd": f"{item.cost_usd:.4f}"}
            pipe.xadd(AUDIT_KEY.format(key=item.key), entry)  # type: ignore[arg-type]
            reached = audit.to_state
            if reached is not None and reached != audit.from_state and reached in OUTCOME_STATES:
                pipe.hincrby(AGENT_OUTCOMES_KEY, reached.value, 1)
        if loop is not None:
            pipe.hincrby(AGENT_LOOPS_KEY, loop, 1)
        await pipe.execute()


_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, key in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], key) end
return due
"""


def claim_pending(
    client: redis.Redis, *, older_than_s: float, now: float, limit: int = 50
) -> list[str]:
    """The keys of items whose effects have been pending for `older_than_s`, claimed.

    Claiming moves an item's time to `now` in one step (a Lua script), so the sweepers of
    other workers pass it by, and one whose carrying out dies is found again as late.
    """
    due = client.eval(_CLAIM_DUE, 1, PENDING_KEY, now - older_than_s, now, limit)
    return [key.decode() for key in due]  # type: ignore[union-attr]


async def repo_item_keys(
    client: redis.asyncio.Redis, repo: str, installation_id: int | None = None
) -> list[str]:
    """Every work-item key of `repo`, sorted by issue number.

    With `installation_id`, items stored before the repository index existed are found in
    the installation's set and added to the index, so the next read needs only the index.
    """
    index = REPO_ITEMS_KEY.format(repo=repo)
    keys = {k.decode() for k in await client.smembers(index)}
    if installation_id is not None:
        members = await client.smembers(
            INSTALLATION_ITEMS_KEY.format(installation_id=installation_id)
        )
        older = {k.decode() for k in members} - keys
        older = {k for k in older if k.rpartition("#")[0] == repo}
        if older:
            await client.sadd(index, *older)
            await client.sadd(REPOS_KEY, repo)
            keys |= older
    return sorted(keys, key=lambda key: int(key.rpartition("#")[2]))


async def load_items(client: redis.asyncio.Redis, keys: list[str]) -> list[WorkItem]:
    """The stored items of `keys` (one round trip), skipping keys whose item is gone."""
    if not keys:
        return []
    stored = await client.mget([ITEM_KEY.format(key=key) for key in keys])
    return [WorkItem.from_dict(json.loads(raw)) for raw in stored if raw is not None]


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
    async with leased_lock(
        client, ITEM_LOCK_KEY.format(key=item_key(repo, number)), wait_s=ITEM_LOCK_TIMEOUT_S
    ):
        yield


@asynccontextmanager
async def publish_lock(client: redis.asyncio.Redis, key: str) -> AsyncIterator[None]:
    """One writer at a time for an item's progress comment and check run: two jobs finding
    no check run on a new head at once would each create one."""
    async with leased_lock(client, PUBLISH_LOCK_KEY.format(key=key), wait_s=ITEM_LOCK_TIMEOUT_S):
        yield


async def forget_installation(client: redis.asyncio.Redis, installation_id: int) -> int:
    """Delete the cached token and every work item of an uninstalled installation.

    Returns how many work items were forgotten.
    """
    members_key = INSTALLATION_ITEMS_KEY.format(installation_id=installation_id)
    tokens = await token_keys(client, installation_id)
    keys = [k.decode() for k in await client.smembers(members_key)]
    stored = await client.mget([ITEM_KEY.format(key=key) for key in keys]) if keys else []
    async with client.pipeline(transaction=True) as pipe:
        for key, raw in zip(keys, stored, strict=True):
            pipe.delete(ITEM_KEY.format(key=key), AUDIT_KEY.format(key=key))
            pipe.zrem(PENDING_KEY, key)
            pipe.srem(REPO_ITEMS_KEY.format(repo=key.rpartition("#")[0]), key)
            data = json.loads(raw) if raw else {}
            if data.get("pr_number") is not None:
                pipe.delete(PR_ITEM_KEY.format(repo=data["repo"], pr_number=data["pr_number"]))
        pipe.delete(members_key, *tokens)
        await pipe.execute()
    return len(keys)
