"""RQ entry points. Thin: each opens a context, binds its log fields and calls the real code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from gidgethub import BadRequest, sansio
from rq import get_current_job

from bot.app.metrics import count_job_outcome
from bot.handlers import build_router
from bot.inbox import deliveries
from bot.jobs import ci as ci_watch
from bot.jobs import commands as command_runner
from bot.jobs import fix, steps
from bot.jobs import qa as qa_step
from bot.jobs.commands import CommandLine
from bot.redact import redact
from bot.runtime.context import WorkerContext, open_context
from bot.workitem import store
from bot.workitem.labels import LABELS
from bot.workitem.rules import Event

log = structlog.get_logger(__name__)


@asynccontextmanager
async def job_scope(function: str, **fields: Any) -> AsyncIterator[WorkerContext]:
    """Open the job's context with its log fields bound, and count how it ended."""
    job = get_current_job()
    job_id = job.id if job is not None else None
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job_id=job_id, job=function, **fields)
    async with open_context() as ctx:
        outcome = "failed"
        try:
            yield ctx
            outcome = "succeeded"
        finally:
            count_job_outcome(ctx.jobs.connection, function, outcome)
            structlog.contextvars.clear_contextvars()


async def route_delivery(entry_id: str, delivery_id: str) -> str:
    """Run one stored delivery through every handler that wants it, once."""
    async with job_scope("route_delivery", delivery_id=delivery_id) as ctx:
        if await deliveries.was_routed(ctx.redis, delivery_id):
            return "already routed"
        delivery = await deliveries.load(ctx.redis, entry_id)
        if delivery is None:
            log.warning("delivery body missing; nothing to route")
            return "missing"
        structlog.contextvars.bind_contextvars(
            installation_id=delivery.installation_id,
            github_event=delivery.event,
            action=delivery.action,
        )
        data = json.loads(delivery.body)
        if repository := data.get("repository"):
            structlog.contextvars.bind_contextvars(repo=repository.get("full_name"))
        event = sansio.Event(data, event=delivery.event, delivery_id=delivery.delivery_id)
        # Handlers only decide and enqueue with deterministic job ids, so a re-run after
        # a crash mid-dispatch enqueues nothing twice.
        await build_router().dispatch(event, ctx)
        await deliveries.mark_routed(ctx.redis, delivery)
        log.info("delivery routed")
        return "routed"


async def ensure_labels(installation_id: int, repo: str) -> int:
    """Create the AIOS labels a repository lacks; existing labels are left as they are."""
    async with job_scope("ensure_labels", installation_id=installation_id, repo=repo) as ctx:
        async with ctx.github(installation_id) as gh:
            existing = {
                str(label["name"]).lower()
                async for label in gh.getiter(
                    "/repos/{+repo}/labels{?per_page}", {"repo": repo, "per_page": 100}
                )
            }
            created = 0
            for label in LABELS:
                if label.name.lower() in existing:
                    continue
                try:
                    await gh.post(
                        "/repos/{+repo}/labels",
                        {"repo": repo},
                        data={
                            "name": label.name,
                            "color": label.color,
                            "description": label.description,
                        },
                    )
                    created += 1
                except BadRequest as exc:
                    # 422 already_exists: someone created it since we listed; theirs stays.
                    if exc.status_code != 422:
                        raise
        log.info("labels ensured", created=created)
        return created


async def start_work_item(
    installation_id: int, repo: str, issue_number: int, role: str, requested_by: str
) -> None:
    """A permitted AIOS label: 👀 on the issue, then the work item starts."""
    async with job_scope(
        "start_work_item", installation_id=installation_id, repo=repo, issue=issue_number
    ) as ctx:
        await steps.start(ctx, installation_id, repo, issue_number, role, requested_by)


async def report_event(
    installation_id: int, repo: str, issue_number: int, event: str, actor: str, detail: str
) -> None:
    """Something a person did (an answer, an approval, feedback) reaches the work item."""
    async with item_job("report_event", installation_id, repo, issue_number) as ctx:
        await steps.report(ctx, repo, issue_number, Event(event), actor, detail)


async def run_command(
    installation_id: int,
    repo: str,
    issue_number: int,
    comment_id: int,
    name: str,
    argument: str,
    actor: str,
    error: str,
    line: int = 0,
) -> None:
    """One `/aios` command line of a comment by a permitted user."""
    async with job_scope("run_command", installation_id=installation_id, repo=repo) as ctx:
        await command_runner.run(
            ctx, installation_id, repo, issue_number, comment_id, name, argument, actor, error, line
        )


async def refuse_command(
    installation_id: int, repo: str, issue_number: int, comment_id: int, login: str
) -> None:
    """The one polite reply to a command from someone without write access."""
    async with job_scope("refuse_command", installation_id=installation_id, repo=repo) as ctx:
        await command_runner.refuse(ctx, installation_id, repo, issue_number, comment_id, login)


async def run_triage(installation_id: int, repo: str, issue_number: int) -> None:
    """The CTO agent triages the issue: questions or a plan."""
    async with item_job("run_triage", installation_id, repo, issue_number) as ctx:
        await steps.triage(ctx, installation_id, repo, issue_number)


async def run_task(installation_id: int, repo: str, issue_number: int, index: int) -> None:
    """One plan task, by its role's agent, on the work item's branch."""
    async with item_job("run_task", installation_id, repo, issue_number) as ctx:
        await steps.task(ctx, installation_id, repo, issue_number, index)


async def finish_implementation(installation_id: int, repo: str, issue_number: int) -> None:
    """All tasks done: the draft PR opens and goes to review."""
    async with item_job("finish_implementation", installation_id, repo, issue_number) as ctx:
        await steps.finish_implementation(ctx, installation_id, repo, issue_number)


async def evaluate_ci(installation_id: int, repo: str, issue_number: int, sha: str) -> None:
    """CI finished (or AIOS pushed): report the verdict on the head commit to the work item."""
    async with item_job("evaluate_ci", installation_id, repo, issue_number) as ctx:
        await ci_watch.evaluate(ctx, installation_id, repo, issue_number, sha)


async def run_qa_review(installation_id: int, repo: str, issue_number: int) -> None:
    """The QA agent reviews the work item's pull request."""
    async with item_job("run_qa_review", installation_id, repo, issue_number) as ctx:
        await qa_step.review_item(ctx, installation_id, repo, issue_number)


async def run_fix(installation_id: int, repo: str, issue_number: int) -> None:
    """A fix round: review threads, CI failures and fix requests, one push, replies."""
    async with item_job("run_fix", installation_id, repo, issue_number) as ctx:
        await fix.run_fix(ctx, installation_id, repo, issue_number)


async def review_pull_request(
    installation_id: int,
    repo: str,
    pr_number: int,
    command_number: int,
    comment_id: int,
    line: int,
) -> None:
    """`/aios review` on a pull request AIOS did not open."""
    async with job_scope("review_pull_request", installation_id=installation_id, repo=repo) as ctx:
        where = CommandLine(command_number, comment_id, line)
        await qa_step.review_pull_request(ctx, installation_id, repo, pr_number, where)


async def test_pull_request(
    installation_id: int,
    repo: str,
    pr_number: int,
    command_number: int,
    comment_id: int,
    line: int,
) -> None:
    """`/aios test`: the QA agent runs the tests on the pull request's head."""
    async with job_scope("test_pull_request", installation_id=installation_id, repo=repo) as ctx:
        where = CommandLine(command_number, comment_id, line)
        await qa_step.test_pull_request(ctx, installation_id, repo, pr_number, where)


@asynccontextmanager
async def item_job(
    function: str, installation_id: int, repo: str, number: int
) -> AsyncIterator[WorkerContext]:
    """A job of one work item: when its last attempt fails, the item fails with the reason."""
    async with job_scope(function, installation_id=installation_id, repo=repo, issue=number) as ctx:
        try:
            yield ctx
        except Exception as exc:
            job = get_current_job()
            if job is None or not job.retries_left:
                why = redact(f"{function} failed: {type(exc).__name__}: {exc}")
                item = await store.load_item(ctx.redis, repo, number)
                if item is not None:
                    await steps.fail(ctx, item, why)
            raise
