"""The frame every job runs in: its context opened, its log fields bound, its outcome counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from rq import get_current_job

from bot.runtime.catalog import BY_NAME
from bot.runtime.context import WorkerContext, open_context
from bot.runtime.counters import count_job_outcome


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
