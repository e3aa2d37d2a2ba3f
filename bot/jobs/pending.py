"""The `carry_out_pending` job: effects a dead job left pending, carried out for it."""

from __future__ import annotations

from dataclasses import replace

import structlog

from bot import engine
from bot.redact import redact
from bot.runtime.scope import job_scope
from bot.workitem.store import item_key

log = structlog.get_logger(__name__)

TRIES_KEY = "aios:pending-tries:{key}"
MAX_TRIES = 5
"""Sweeps whose carrying out failed before the item gives up on its pending effects: an
effect that always fails (a comment GitHub refuses) must not be tried every minute forever."""


async def carry_out_pending(repo: str, issue_number: int) -> None:
    """What the item's last transition still owes (the sweeper claimed it for this job)."""
    async with job_scope("carry_out_pending", repo=repo, issue=issue_number) as ctx:
        tries = TRIES_KEY.format(key=item_key(repo, issue_number))
        try:
            effects = await engine.carry_out_pending(ctx, repo, issue_number)
        except Exception as exc:
            if await ctx.redis.incr(tries) < MAX_TRIES:
                await ctx.redis.expire(tries, 24 * 3600)
                raise  # the sweeper finds the item again after another period
            await ctx.redis.delete(tries)
            cleared = await engine.update_item(
                ctx, repo, issue_number, lambda item: replace(item, pending=None)
            )
            if cleared is not None:
                why = redact(f"its effects failed {MAX_TRIES} times: {type(exc).__name__}: {exc}")
                await engine.fail(ctx, cleared, why)
            raise
        await ctx.redis.delete(tries)
        log.info("pending effects carried out", effects=[e.value for e in effects])
