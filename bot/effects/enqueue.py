"""Effects that start agent work: each enqueues a catalog job, tracked so `/aios cancel` stops it.

Job keys carry the transition's timestamp: the same transition re-run enqueues nothing new,
a later one (a second fix round) gets jobs of its own.
"""

from __future__ import annotations

import structlog
from gidgethub.abc import GitHubAPI
from rq.job import Job

from bot.effects.done import NOTHING, Done
from bot.runtime import catalog
from bot.runtime.catalog import JobSpec
from bot.runtime.context import WorkerContext
from bot.runtime.queues import cancel_tracked, job_key, track
from bot.workitem.item import WorkItem

log = structlog.get_logger(__name__)


def _agent_job(ctx: WorkerContext, item: WorkItem, spec: JobSpec, kind: str) -> Done:
    job = ctx.jobs.enqueue(
        spec,
        item.installation_id,
        item.repo,
        item.number,
        key=job_key(kind, item.key, item.updated_at.isoformat()),
        installation_id=item.installation_id,
    )
    track(ctx.jobs.connection, item.key, job)
    return NOTHING


async def run_cto_triage(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    return _agent_job(ctx, item, catalog.RUN_TRIAGE, "triage")


async def run_qa_review(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    return _agent_job(ctx, item, catalog.RUN_QA_REVIEW, "qa")


async def run_fix(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    return _agent_job(ctx, item, catalog.RUN_FIX, "fix")


async def start_implementation(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    """One job per plan task, each depending on the one before (one branch, in order), then
    the hand-over once the last one is done."""
    stamp = item.updated_at.isoformat()
    previous: Job | None = None
    for index in range(len(item.plan.tasks) if item.plan else 0):
        previous = ctx.jobs.enqueue(
            catalog.RUN_TASK,
            item.installation_id,
            item.repo,
            item.number,
            index,
            key=job_key("task", item.key, stamp, index),
            installation_id=item.installation_id,
            depends_on=previous,
        )
        track(ctx.jobs.connection, item.key, previous)
    done = ctx.jobs.enqueue(
        catalog.FINISH_IMPLEMENTATION,
        item.installation_id,
        item.repo,
        item.number,
        key=job_key("implemented", item.key, stamp),
        depends_on=previous,
    )
    track(ctx.jobs.connection, item.key, done)
    return NOTHING


async def watch_ci(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    """Read CI at the new head now: no checks means green at once; a failure already known is
    fixed at once; otherwise the suites' completion events bring the verdict."""
    sha = item.pr.head_sha
    if not sha:
        return NOTHING
    ctx.jobs.enqueue(
        catalog.EVALUATE_CI,
        item.installation_id,
        item.repo,
        item.number,
        sha,
        key=job_key("ci", item.key, sha, "watch", item.updated_at.isoformat()),
    )
    return NOTHING


async def cancel_jobs(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    stopped = cancel_tracked(ctx.jobs.connection, item.key)
    log.info("work item jobs cancelled", jobs=len(stopped))
    return NOTHING


async def learn_from_pr(ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    """The PR ended: its facts and its lessons, once per pull request (not tracked: a cancel
    of the item must not stop the learning from it)."""
    if item.pr_number is None:
        return NOTHING
    ctx.jobs.enqueue(
        catalog.LEARN_FROM_PULL_REQUEST,
        item.installation_id,
        item.repo,
        item.number,
        item.pr_number,
        key=job_key("learn", item.key, item.pr_number),
        installation_id=item.installation_id,
    )
    return NOTHING
