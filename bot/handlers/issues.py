"""Issue events: an AIOS label puts the agent team on the issue."""

from __future__ import annotations

import structlog
from gidgethub import routing, sansio

from bot.github.permissions import can_steer
from bot.handlers.payloads import Actor, IssueLabeled, RepoRef, installation_id_of
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem import store
from bot.workitem.labels import role_for_label
from bot.workitem.rules import Event

router = routing.Router()
log = structlog.get_logger(__name__)


@router.register("issues", action="labeled")
async def start_on_label(event: sansio.Event, ctx: WorkerContext) -> None:
    labeled = IssueLabeled.of(event.data)
    role = role_for_label(labeled.label)
    if role is None:
        return
    if labeled.sender.is_bot:
        log.info("label added by a bot; ignored", sender=labeled.sender.login, label=labeled.label)
        return
    async with ctx.github(labeled.installation_id) as gh:
        permitted = await can_steer(
            gh,
            ctx.redis,
            owner=labeled.repo.owner,
            repo=labeled.repo.name,
            login=labeled.sender.login,
            user_type=labeled.sender.type,
        )
        if permitted:
            # 👀 straight from the router: the maintainer sees AIOS noticed before any job runs.
            await gh.post(
                "/repos/{+repo}/issues/{number}/reactions",
                {"repo": labeled.repo.full_name, "number": labeled.issue_number},
                data={"content": "eyes"},
            )
    if not permitted:
        log.info(
            "label added by a user without write permission; ignored",
            sender=labeled.sender.login,
            label=labeled.label,
        )
        return
    ctx.jobs.enqueue_quick_job(
        "bot.jobs.start_work_item",
        labeled.installation_id,
        labeled.repo.full_name,
        labeled.issue_number,
        role,
        labeled.sender.login,
        key=job_key("start", labeled.repo.full_name, labeled.issue_number, event.delivery_id),
        timeout=300,
    )
    log.info("work item queued", issue=labeled.issue_number, role=role, sender=labeled.sender.login)


@router.register("issues", action="closed")
async def stop_on_close(event: sansio.Event, ctx: WorkerContext) -> None:
    """A closed issue cancels its work item (unless its PR decides: see the workflow)."""
    data = event.data
    installation_id = installation_id_of(data)
    sender = Actor.of(data.get("sender"))
    if installation_id is None or sender.is_bot:
        return
    repo = RepoRef.of(data["repository"])
    number = int(data["issue"]["number"])
    if await store.load_item(ctx.redis, repo.full_name, number) is None:
        return
    report(ctx, event, installation_id, repo, number, Event.ISSUE_CLOSED, sender.login)


def report(
    ctx: WorkerContext,
    event: sansio.Event,
    installation_id: int,
    repo: RepoRef,
    number: int,
    what: Event,
    actor: str,
    detail: str = "",
) -> None:
    """Hand an event for a work item to a job (handlers decide, jobs act)."""
    ctx.jobs.enqueue_quick_job(
        "bot.jobs.report_event",
        installation_id,
        repo.full_name,
        number,
        what.value,
        actor,
        detail,
        key=job_key("event", event.delivery_id, what.value, number),
        timeout=300,
    )
