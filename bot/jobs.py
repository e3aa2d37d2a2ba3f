"""RQ entry points. Thin: each opens a context, binds its log fields and calls the real code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from gidgethub import BadRequest, sansio
from rq import get_current_job

from bot import deliveries, store
from bot.agents.roster import load_roster
from bot.context import WorkerContext, open_context
from bot.github.comments import upsert_marked_comment
from bot.handlers import build_router
from bot.labels import LABELS
from bot.metrics import count_job_outcome
from bot.progress import Note, Persona, ProgressView, Step, progress_marker, render_progress

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
) -> int:
    """Acknowledge a labeled issue: 👀 on it and the work item's progress comment.

    Returns the progress comment id. Running it twice leaves one reaction (GitHub keeps
    one per user and content) and one comment (found again by its hidden marker).
    """
    async with job_scope(
        "start_work_item", installation_id=installation_id, repo=repo, issue=issue_number
    ) as ctx:
        async with ctx.github(installation_id) as gh:
            await gh.post(
                "/repos/{+repo}/issues/{number}/reactions",
                {"repo": repo, "number": issue_number},
                data={"content": "eyes"},
            )
            async with store.item_lock(ctx.redis, repo, issue_number):
                item = await store.load_item(ctx.redis, repo, issue_number) or store.WorkItemRecord(
                    installation_id=installation_id,
                    repo=repo,
                    number=issue_number,
                    role=role,
                    requested_by=requested_by,
                )
                item.progress_comment_id = await upsert_marked_comment(
                    gh,
                    repo,
                    issue_number,
                    marker=progress_marker(repo, issue_number),
                    body=_queued_progress_body(item),
                    known_id=item.progress_comment_id,
                )
                await store.save_item(
                    ctx.redis, item, actor=requested_by, what=f"labeled for {role}"
                )
        log.info("work item started", role=role, comment_id=item.progress_comment_id)
        return item.progress_comment_id


def _queued_progress_body(item: store.WorkItemRecord) -> str:
    role = load_roster().get(item.role)
    persona = Persona(name=role.name, emoji=role.emoji, role=role.title)
    first_step = "Triage and plan" if item.role == "cto" else f"{role.title}: take the issue"
    now = datetime.now(UTC)
    return render_progress(
        ProgressView(
            repo=item.repo,
            number=item.number,
            state="queued",
            started_at=datetime.fromtimestamp(item.created_at, UTC),
            now=now,
            team=(persona,),
            steps=(Step(first_step), Step("Your approval")),
            narration=Note(
                persona, f"on it as soon as a worker is free (asked by @{item.requested_by})"
            ),
            mentions=frozenset({item.requested_by.lower()}),
        )
    )
