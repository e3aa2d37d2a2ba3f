"""Issue events: an AIOS label puts the agent team on the issue; closing it stops them."""

from __future__ import annotations

import structlog
from gidgethub import routing, sansio

from bot.handlers.payloads import Actor, IssueLabeled, IssueSnapshot, RepoRef, installation_id_of
from bot.handlers.steer import may_steer, report
from bot.runtime import catalog
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem import store
from bot.workitem.names import is_control_center, role_for_label
from bot.workitem.states import Event

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
    issue = event.data["issue"]
    if is_control_center(issue.get("body")) and Actor.of(issue.get("user")).is_bot:
        log.info("label on the Control Center itself; ignored", label=labeled.label)
        return
    if not await may_steer(ctx, labeled.installation_id, labeled.repo, labeled.sender):
        log.info(
            "label added by a user without write permission; ignored",
            sender=labeled.sender.login,
            label=labeled.label,
        )
        return
    # 👀 straight from the router: the maintainer sees AIOS noticed before any job runs.
    async with ctx.github(labeled.installation_id) as gh:
        await gh.post(
            "/repos/{+repo}/issues/{number}/reactions",
            {"repo": labeled.repo.full_name, "number": labeled.issue_number},
            data={"content": "eyes"},
        )
    if role == "qa":  # the QA agent reviews pull requests: the one fixing this issue, if any
        ctx.jobs.enqueue(
            catalog.REVIEW_LINKED_PULL_REQUEST,
            labeled.installation_id,
            labeled.repo.full_name,
            labeled.issue_number,
            labeled.sender.login,
            key=job_key(
                "qa-label", labeled.repo.full_name, labeled.issue_number, event.delivery_id
            ),
        )
        return
    # The issue's text as the maintainer saw it when labeling travels with the job: the
    # agents work from it, never from whatever the issue says when a job runs.
    text = labeled.issue
    ctx.jobs.enqueue(
        catalog.START_WORK_ITEM,
        labeled.installation_id,
        labeled.repo.full_name,
        labeled.issue_number,
        role,
        labeled.sender.login,
        text.title,
        text.body,
        text.author,
        text.updated_at,
        key=job_key("start", labeled.repo.full_name, labeled.issue_number, event.delivery_id),
    )
    log.info("work item queued", issue=labeled.issue_number, role=role, sender=labeled.sender.login)


@router.register("issues", action="edited")
async def note_issue_edit(event: sansio.Event, ctx: WorkerContext) -> None:
    """The issue's title or body changed while agents work on it: from someone with write
    access the new text counts, from anyone else it is ignored (and said so, once)."""
    data = event.data
    installation_id = installation_id_of(data)
    sender = Actor.of(data.get("sender"))
    changes = data.get("changes") or {}
    if installation_id is None or sender.is_bot or not ({"title", "body"} & set(changes)):
        return
    repo = RepoRef.of(data["repository"])
    number = int(data["issue"]["number"])
    if await store.load_item(ctx.redis, repo.full_name, number) is None:
        return  # no work item: the text is read when one starts
    permitted = await may_steer(ctx, installation_id, repo, sender)
    text = IssueSnapshot.of(data["issue"])
    ctx.jobs.enqueue(
        catalog.RECORD_ISSUE_EDIT,
        installation_id,
        repo.full_name,
        number,
        text.title,
        text.body,
        sender.login,
        permitted,
        text.updated_at,
        key=job_key("edit", event.delivery_id),
    )


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
