"""The frame of a job that works on one work item: its last failed attempt fails the item."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rq import get_current_job

from bot import engine
from bot.jobs import checkpoints
from bot.redact import redact
from bot.runtime.context import WorkerContext
from bot.runtime.scope import job_scope
from bot.workitem import store


@asynccontextmanager
async def item_scope(
    function: str, installation_id: int, repo: str, number: int
) -> AsyncIterator[WorkerContext]:
    """A job of one work item: when its last attempt fails, the item fails with the reason."""
    async with job_scope(function, installation_id=installation_id, repo=repo, issue=number) as ctx:
        try:
            async with checkpoints.kept_until_done(ctx.redis):
                yield ctx
        except Exception as exc:
            job = get_current_job()
            if job is None or not job.retries_left:
                why = redact(f"{function} failed: {type(exc).__name__}: {exc}")
                item = await store.load_item(ctx.redis, repo, number)
                if item is not None:
                    await engine.fail(ctx, item, why)
            raise
