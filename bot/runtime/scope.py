"""The frame every job runs in: its context opened, its log fields bound, its outcome counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from rq import get_current_job

from bot.runtime.catalog import BY_NAME
from bot.runtime.context import WorkerContext, open_context
from bot.runtime.counters import count_job_outcome


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
    """
    job = get_current_job()
    job_id = job.id if job is not None else None
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job_id=job_id, job=function, **fields)
    async with open_context() as ctx:
        spec = BY_NAME.get(function)
        if spec is not None and fields.get("repo"):
            ctx.scope_to(str(fields["repo"]), spec.permissions)
        outcome = "failed"
        try:
            yield ctx
            outcome = "succeeded"
        finally:
            count_job_outcome(ctx.jobs.connection, function, outcome)
            structlog.contextvars.clear_contextvars()
