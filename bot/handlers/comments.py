"""Issue comments: `/aios` commands, answers to the CTO's questions, a ticked plan box."""

from __future__ import annotations

import structlog
from gidgethub import routing, sansio

from bot.commands import Command, parse_commands
from bot.handlers.payloads import Actor, RepoRef, installation_id_of
from bot.handlers.steer import may_steer, report
from bot.render.plan import plan_checkbox_ticked
from bot.runtime import catalog
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem import store
from bot.workitem.names import find_comment_marker
from bot.workitem.states import Event, State

router = routing.Router()
log = structlog.get_logger(__name__)


@router.register("issue_comment", action="created")
async def on_comment(event: sansio.Event, ctx: WorkerContext) -> None:
    """`/aios` commands (edits are not re-run: only new comments count), or an answer."""
    data = event.data
    sender = Actor.of(data.get("sender"))
    installation_id = installation_id_of(data)
    if sender.is_bot or installation_id is None:
        return
    repo = RepoRef.of(data["repository"])
    number = int(data["issue"]["number"])
    comment_id = int(data["comment"]["id"])
    entries = parse_commands(str(data["comment"].get("body") or ""))
    if entries:
        if not await may_steer(ctx, installation_id, repo, sender):
            log.info("command from a user without write permission", sender=sender.login)
            ctx.jobs.enqueue(
                catalog.REFUSE_COMMAND,
                installation_id,
                repo.full_name,
                number,
                comment_id,
                sender.login,
                key=job_key("refuse", comment_id),
            )
            return
        for entry in entries:
            name = entry.name.value if isinstance(entry, Command) else ""
            argument = entry.argument if isinstance(entry, Command) else ""
            error = "" if isinstance(entry, Command) else entry.reason
            ctx.jobs.enqueue(
                catalog.RUN_COMMAND,
                installation_id,
                repo.full_name,
                number,
                comment_id,
                name,
                argument,
                sender.login,
                error,
                entry.line,
                key=job_key("command", event.delivery_id, entry.line),
            )
        return
    if not await _awaits_answers(ctx, repo, number):
        return
    # Only write access resumes triage, whoever opened the issue: the author's answer
    # without it is read as untrusted context when someone with write access answers.
    if await may_steer(ctx, installation_id, repo, sender):
        report(ctx, event, installation_id, repo, number, Event.QUESTIONS_ANSWERED, sender.login)
    else:
        log.info("answer without write permission; read as context", sender=sender.login)


@router.register("issue_comment", action="edited")
async def on_plan_ticked(event: sansio.Event, ctx: WorkerContext) -> None:
    """A maintainer ticked "Approve this plan" in the plan comment."""
    data = event.data
    comment = data["comment"]
    body = str(comment.get("body") or "")
    marker = find_comment_marker(body)
    if marker is None or marker[0] != "plan" or Actor.of(comment.get("user")).type != "Bot":
        return
    before = ((data.get("changes") or {}).get("body") or {}).get("from")
    if not plan_checkbox_ticked(before, body):
        return
    sender = Actor.of(data.get("sender"))
    installation_id = installation_id_of(data)
    repo = RepoRef.of(data["repository"])
    if sender.is_bot or installation_id is None:
        return
    if not await may_steer(ctx, installation_id, repo, sender):
        log.info("plan box ticked by a user without write permission; ignored", sender=sender.login)
        return
    number = int(data["issue"]["number"])
    report(ctx, event, installation_id, repo, number, Event.APPROVED, sender.login)


async def _awaits_answers(ctx: WorkerContext, repo: RepoRef, number: int) -> bool:
    item = await store.load_item(ctx.redis, repo.full_name, number)
    return item is not None and item.state is State.CLARIFYING
