"""Issue events: an AIOS label puts the agent team on the issue."""

from __future__ import annotations

import structlog
from gidgethub import routing, sansio

from bot.context import WorkerContext
from bot.github.permissions import can_steer
from bot.labels import role_for_label
from bot.payloads import IssueLabeled
from bot.queue import job_key

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
    if not permitted:
        log.info(
            "label added by a user without write permission; ignored",
            sender=labeled.sender.login,
            label=labeled.label,
        )
        return
    ctx.jobs.enqueue_agent_job(
        "bot.jobs.start_work_item",
        labeled.installation_id,
        labeled.repo.full_name,
        labeled.issue_number,
        role,
        labeled.sender.login,
        key=job_key("start", labeled.repo.full_name, labeled.issue_number, event.delivery_id),
        installation_id=labeled.installation_id,
        timeout=300,
    )
    log.info("work item queued", issue=labeled.issue_number, role=role, sender=labeled.sender.login)
