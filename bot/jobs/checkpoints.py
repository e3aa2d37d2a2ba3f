"""Agent checkpoints in Redis: a run's conversation and work tree, per work item and step.

A retried job (its worker was killed, it failed, it ran out of time or its agent stopped and
a maintainer said `/aios retry`) finds the checkpoint of the step it repeats and continues
the agent's conversation instead of paying for it again. The checkpoint of a run that
finished lives until its job has done its work; one whose commit no longer matches the
checkout is dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis.asyncio
import structlog

from bot.agents.checkpoint import LoopState
from bot.workitem.item import WorkItem

log = structlog.get_logger(__name__)

KEY = "aios:checkpoint:{item}:{started}:{role}:{slot}"
"""Hash (`state` JSON, `base` commit, `snapshot` tar) of one agent step of one work item.
`started` is the item's creation time: a new work item on the same issue starts afresh."""

TTL_S = 7 * 24 * 3600
"""As long as finished jobs are kept: a `/aios retry` a week later still resumes."""

_finished: ContextVar[list[str] | None] = ContextVar("aios_checkpoints_finished", default=None)


@dataclass(frozen=True)
class Checkpoint:
    state: LoopState
    base: str
    """The commit the work tree was at when the run began: the snapshot applies to it."""
    snapshot: bytes


def key_for(item: WorkItem, role: str, slot: str) -> str:
    started = int(item.created_at.timestamp())
    return KEY.format(item=item.key, started=started, role=role, slot=slot)


def slot_of(task: str) -> str:
    """The default slot: the task's text, so a run of another task never resumes this one."""
    return hashlib.sha256(task.encode()).hexdigest()[:16]


async def load(client: redis.asyncio.Redis, key: str) -> Checkpoint | None:
    fields = await client.hgetall(key)
    if not fields:
        return None
    try:
        state = LoopState.from_dict(json.loads(fields[b"state"]))
        return Checkpoint(state, fields[b"base"].decode(), fields[b"snapshot"])
    except (KeyError, ValueError) as exc:
        log.warning("checkpoint unreadable; starting over", key=key, error=str(exc))
        await client.delete(key)
        return None


async def save(client: redis.asyncio.Redis, key: str, checkpoint: Checkpoint) -> None:
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(
            key,
            mapping={
                "state": json.dumps(checkpoint.state.to_dict()),
                "base": checkpoint.base,
                "snapshot": checkpoint.snapshot,
            },
        )
        pipe.expire(key, TTL_S)
        await pipe.execute()


async def forget(client: redis.asyncio.Redis, key: str) -> None:
    await client.delete(key)


def mark_finished(key: str) -> None:
    """The run of `key` finished: `kept_until_done` forgets it once the job is done."""
    finished = _finished.get()
    if finished is not None and key not in finished:
        finished.append(key)


@asynccontextmanager
async def kept_until_done(client: redis.asyncio.Redis) -> AsyncIterator[None]:
    """Forget the checkpoints of finished runs once the job's body ended without an exception.

    Until then they stay: a job killed after its agent finished, or failing in what it does
    with the answer (commit, push, the transition's effects), resumes with the answer in hand.
    A run that stopped early (budget, step limit, the model failing) keeps its checkpoint for
    `/aios retry`.
    """
    finished: list[str] = []
    token = _finished.set(finished)
    try:
        yield
        if finished:
            await client.delete(*finished)
    finally:
        _finished.reset(token)
