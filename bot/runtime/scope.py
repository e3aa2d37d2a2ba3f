"""The frame every job runs in: its context opened, its log fields bound, its outcome counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from rq import get_current_job

from bot.github import pacing
from bot.github.sessions import pacing_scope
from bot.runtime.catalog import BY_NAME, QueueName
from bot.runtime.context import WorkerContext, open_context
from bot.runtime.control import Stop, reschedule_of
from bot.runtime.counters import count_job_outcome, count_job_retry

QUICK_JOB_WRITE_WAIT_S = 0.1
"""The longest a short job waits for its installation's write turn before it starts; a longer
wait reschedules it for when the turn comes, so one installation's burst never holds the
worker the others need. Once started it writes in place: it may have changed a work item,
and only its first run reports that change (the engine resumes effects for the same report).
Agent jobs always write in place: they hold their worker for minutes anyway, and running
them again would pay for the model twice."""


class HorseKilled(Exception):
    """The work horse running a job died by a signal: what `AgentWorker` tells the job's
    failure callback, which RQ does not call for a killed horse itself."""


STOP_MARGIN_S = 60.0
"""How long before RQ's timeout an agent stops itself (a fifth of the timeout, for short
ones): time for its job to record why and say so on GitHub."""


def stop_before_timeout(part: float = 1.0) -> float | None:
    """The event-loop time `part` of the margin before the running RQ job's timeout; None
    when there is no limit. Agents stop a whole margin early, their job a third of it.

    RQ enforces a job's timeout with SIGALRM, whose exception surfaces wherever the event
    loop happens to be, past every handler of the job; stopping a little earlier, by
    cancelling the job's own work, lets the job end cleanly and report it.
    """
    job = get_current_job()
    if job is None or not job.timeout or job.timeout < 0 or job.started_at is None:
        return None
    margin = min(STOP_MARGIN_S, max(1.0, job.timeout / 5)) * part
    elapsed = (datetime.now(UTC) - job.started_at).total_seconds()
    return asyncio.get_running_loop().time() + job.timeout - margin - elapsed


@asynccontextmanager
async def job_scope(function: str, **fields: Any) -> AsyncIterator[WorkerContext]:
    """Open the job's context with its log fields bound, and count how it ended.

    A job given a `repo` gets tokens for that repository only, with its catalog entry's
    permissions; the route job scopes itself once it has read the delivery's repository.
    A job is counted once, when it ends for good (`aios_job_outcomes`); an attempt after
    which it runs again (RQ's retry, or a reschedule) is counted apart (`aios_job_retries`).
    """
    job = get_current_job()
    job_id = job.id if job is not None else None
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job_id=job_id, job=function, **fields)
    async with open_context() as ctx:
        spec = BY_NAME.get(function)
        if spec is not None and fields.get("repo"):
            ctx.scope_to(str(fields["repo"]), spec.permissions)
        outcome, retry = "failed", ""
        try:
            if job is not None and job.origin == QueueName.QUICK:
                await _wait_for_write_turn(ctx, fields.get("installation_id"))
            yield ctx
            outcome = "succeeded"
        except BaseException as exc:
            if reschedule := reschedule_of(exc):
                retry = f"rescheduled:{reschedule.reason}"
            elif isinstance(exc, Stop):
                outcome = exc.outcome
            elif isinstance(exc, Exception) and job is not None and job.retries_left:
                retry = "error"
            raise
        finally:
            if retry:
                count_job_retry(ctx.jobs.connection, function, retry)
            else:
                count_job_outcome(ctx.jobs.connection, function, outcome)
            await ctx.github_calls.flush(ctx.redis)
            structlog.contextvars.clear_contextvars()


async def _wait_for_write_turn(ctx: WorkerContext, installation_id: object) -> None:
    """Raise `WriteDeferred` before the job does anything when its installation's next
    write turn is further away than a short job may wait."""
    if not isinstance(installation_id, int):
        return
    scope = pacing_scope(installation_id)
    policy = ctx.github_policy
    wait = await pacing.next_turn_in(
        ctx.redis,
        scope,
        now=time.time(),
        spacing_s=policy.write_spacing_s,
        burst=policy.write_burst,
    )
    if wait > QUICK_JOB_WRITE_WAIT_S:
        raise pacing.WriteDeferred(scope, wait)
