"""Jobs that bring people's actions to a work item: a label starts it, a report moves it."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from bot import engine
from bot.agents.budget import ceilings_from
from bot.briefs.cto import direct_plan
from bot.briefs.views import IssueView
from bot.config.load import read_repo_config, report_config_problems, settings_snapshot
from bot.effects.progress import publish_current
from bot.jobs.fix import with_fix_request
from bot.jobs.reading import login_of
from bot.jobs.scope import item_scope
from bot.runtime.context import WorkerContext
from bot.runtime.scope import job_scope
from bot.workitem.item import WorkItem
from bot.workitem.parts import IssueText
from bot.workitem.states import Event, State

log = structlog.get_logger(__name__)


async def start_work_item(
    installation_id: int,
    repo: str,
    issue_number: int,
    role: str,
    requested_by: str,
    title: str | None = None,
    body: str | None = None,
    author: str | None = None,
    as_of: str | None = None,
) -> None:
    """A permitted AIOS label (the router already reacted 👀): the work item starts, or restarts.

    `title`, `body`, `author`, `as_of`: the issue as the labeling webhook carried it, which
    the agents work from. Jobs queued before AIOS passed them read the issue instead.
    """
    async with job_scope(
        "start_work_item", installation_id=installation_id, repo=repo, issue=issue_number
    ) as ctx:
        number = issue_number
        async with ctx.github(installation_id) as gh:
            config = await read_repo_config(gh, repo)
            settings, lowered = settings_snapshot(config, ceilings_from(os.environ))
            warnings = [*config.warnings, *lowered]
            if config.errors or warnings:
                await report_config_problems(gh, repo, number, config.errors, warnings)
            if title is None or body is None or author is None:
                # A job queued before the label's payload travelled with it: read the issue.
                issue = await gh.getitem(
                    "/repos/{+repo}/issues/{number}", {"repo": repo, "number": number}
                )
                title, body = str(issue.get("title") or ""), str(issue.get("body") or "")
                author, as_of = login_of(issue.get("user")), str(issue.get("updated_at") or "")
        text = IssueText(title or f"issue {number}", body, author, as_of or "")

        def create() -> WorkItem:
            return WorkItem.new(
                repo,
                number,
                installation_id,
                title=text.title,
                created_by=requested_by,
                at=datetime.now(UTC),
                roles=(role,),
                settings=settings,
                issue=text,
            )

        def triggered(item: WorkItem) -> WorkItem:
            # A label on an item that restarts: the labeler approved the text as it is now.
            return replace(item, issue=text)

        if role == "cto":
            await engine.apply(
                ctx,
                repo,
                number,
                Event.LABELED_CTO,
                actor=requested_by,
                create=create,
                update=triggered,
            )
            return
        view = IssueView(repo, number, text.title, text.body, text.author)

        def with_plan(item: WorkItem) -> WorkItem:
            return replace(triggered(item), plan=direct_plan(role, view))

        await engine.apply(
            ctx,
            repo,
            number,
            Event.LABELED_ROLE,
            actor=requested_by,
            create=create,
            update=with_plan,
        )


async def record_issue_edit(
    installation_id: int,
    repo: str,
    issue_number: int,
    title: str,
    body: str,
    editor: str,
    permitted: bool,
    as_of: str,
) -> None:
    """The issue changed mid-work. Text from someone with write access replaces what the
    agents read; anyone else's edit is ignored and named once in the progress comment."""
    async with item_scope("record_issue_edit", installation_id, repo, issue_number) as ctx:
        noted = False

        def note(item: WorkItem) -> WorkItem:
            nonlocal noted
            current = item.issue
            if current is None or (as_of and current.as_of and as_of < current.as_of):
                return item  # an item from before AIOS kept the text, or an older edit
            if permitted:
                edited = replace(current, title=title, body=body, edited_by=editor, as_of=as_of)
                return replace(item, issue=edited)
            if editor in current.ignored_editors:
                return item
            noted = True
            ignored = replace(current, ignored_editors=(*current.ignored_editors, editor))
            return replace(item, issue=ignored)

        item = await engine.update_item(ctx, repo, issue_number, note)
        log.info("issue edit recorded", editor=editor, counted=permitted)
        if noted and item is not None:
            async with ctx.github(installation_id) as gh:
                await publish_current(gh, ctx.redis, repo, issue_number)


async def report_event(
    installation_id: int, repo: str, issue_number: int, event: str, actor: str, detail: str
) -> None:
    """Something a person did (an answer, an approval, feedback) reaches the work item."""
    async with item_scope("report_event", installation_id, repo, issue_number) as ctx:
        await report(ctx, repo, issue_number, Event(event), actor, detail)


async def report(
    ctx: WorkerContext, repo: str, number: int, event: Event, actor: str, detail: str
) -> engine.Outcome | None:
    """A person's action: record what the effects need (who approved, the feedback) with it."""

    def note(item: WorkItem) -> WorkItem:
        if event is Event.APPROVED and item.state is State.AWAITING_PLAN_APPROVAL:
            return replace(item, planning=replace(item.planning, approved_by=actor))
        if event is Event.PLAN_FEEDBACK:
            return replace(item, planning=replace(item.planning, feedback=detail))
        if event is Event.CHANGES_REQUESTED:
            return with_fix_request(item, actor, detail)
        return item

    outcome = await engine.apply(ctx, repo, number, event, actor=actor, detail=detail, update=note)
    if outcome is not None and not outcome.accepted:
        running_fix = outcome.item.state is State.IMPLEMENTING and outcome.item.pr_number
        if event is Event.CHANGES_REQUESTED and running_fix:
            # A fix round is running: keep the feedback, and run one more round after it.
            def later(item: WorkItem) -> WorkItem:
                noted = with_fix_request(item, actor, detail)
                return replace(noted, feedback=replace(noted.feedback, more=True))

            await engine.update_item(ctx, repo, number, later)
            log.info("feedback kept for the round after the running fix")
            return outcome
        log.info(
            "event not accepted", work_event=event.value, reason=getattr(outcome, "reason", "")
        )
    return outcome
