"""The frame of a job that works on one work item: its deadline, its checkpoints, its failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rq import get_current_job

from bot import engine
from bot.jobs import checkpoints
from bot.redact import redact
from bot.runtime.catalog import BY_NAME, QueueName
from bot.runtime.context import WorkerContext
from bot.runtime.scope import job_scope, stop_before_timeout
from bot.workitem import store


@asynccontextmanager
async def item_scope(
    function: str, installation_id: int, repo: str, number: int
) -> AsyncIterator[WorkerContext]:
    """A job of one work item. What a failure means, by kind:

    - The worker or its horse is killed (a deploy, the OOM killer, a crashed host): RQ's
      abandoned-job handling runs the job again (`Retry`, up to the catalog's `retries`),
      and its agent continues from the last checkpoint, so the retry costs the step that
      was cut short, not the run. That is the failure retries are for. Killed on its last
      attempt too, the job never gets back here: `bot.jobs.lost` fails the item.
    - The job runs out of time: its agent stops itself a minute before RQ's own timeout
      (whose alarm would land in the event loop, past this frame, and leave the item
      working for good) and the job fails the item with the reason; anything else still
      running twenty seconds before the timeout is cancelled here and does the same. The
      agent's last checkpoint stands, and the job ends without error, so RQ does not run
      it again: a retry would hit the same wall after another hour of spend. `/aios retry`
      is the maintainer's call, and continues from the checkpoint.
    - Anything else raises: RQ retries while it may, and the last failed attempt fails
      the item with the error.
    """
    async with job_scope(function, installation_id=installation_id, repo=repo, issue=number) as ctx:
        try:
            async with (
                asyncio.timeout_at(stop_before_timeout(part=1 / 3)) as limit,
                checkpoints.kept_until_done(ctx.redis),
            ):
                yield ctx
        except Exception as exc:
            job = get_current_job()
            if isinstance(exc, TimeoutError) and limit.expired():
                why = _out_of_time(function, job.timeout if job is not None else None)
            elif job is None or not job.retries_left:
                why = redact(f"{function} failed: {type(exc).__name__}: {exc}")
            else:
                raise
            item = await store.load_item(ctx.redis, repo, number)
            if item is not None:
                await engine.fail(ctx, item, why)
            if not limit.expired():
                raise


def _out_of_time(function: str, timeout: int | None) -> str:
    spec = BY_NAME.get(function)
    setting = ", `AIOS_AGENT_TIMEOUT_S`" if spec and spec.queue is QueueName.AGENTS else ""
    return (
        f"{function} ran out of time ({timeout} s per attempt{setting}); its agent's work so "
        "far is kept, and `/aios retry` continues from its last checkpoint"
    )
