"""The steps of the issue → pull request flow that jobs run: start, triage, tasks, hand-over."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog
from gidgethub.abc import GitHubAPI

from bot import engine
from bot.agents.roster import load_roster
from bot.config.load import policy_snapshot, read_repo_config, report_config_problems
from bot.github.permissions import can_steer
from bot.jobs.agent_run import checkout, run_role
from bot.runtime.context import WorkerContext
from bot.workitem.rules import Event, State, WorkItem

log = structlog.get_logger(__name__)

MAX_COMMENTS = 50
"""Comments of an issue the CTO reads: the latest ones, when a thread is longer."""


async def start(
    ctx: WorkerContext, installation_id: int, repo: str, number: int, role: str, requested_by: str
) -> None:
    """A permitted label (the router already reacted 👀): the work item starts, or restarts."""
    async with ctx.github(installation_id) as gh:
        issue, config = await asyncio.gather(
            gh.getitem("/repos/{+repo}/issues/{number}", {"repo": repo, "number": number}),
            read_repo_config(gh, repo),
        )
        if config.errors:
            await report_config_problems(gh, repo, number, config)
    title = str(issue.get("title") or f"issue {number}")

    def create() -> WorkItem:
        item = WorkItem.new(
            repo,
            number,
            installation_id,
            title=title,
            created_by=requested_by,
            at=datetime.now(UTC),
            roles=(role,),
        )
        return replace(item, extra=policy_snapshot(config))

    if role == "cto":
        await engine.apply(ctx, repo, number, Event.LABELED_CTO, actor=requested_by, create=create)
        return
    from bot.briefs.cto import IssueView, direct_plan

    view = IssueView(repo, number, title, str(issue.get("body") or ""), _login(issue.get("user")))

    def with_plan(item: WorkItem) -> WorkItem:
        return replace(item, plan=direct_plan(role, view).to_dict())

    await engine.apply(
        ctx, repo, number, Event.LABELED_ROLE, actor=requested_by, create=create, update=with_plan
    )


async def triage(ctx: WorkerContext, installation_id: int, repo: str, number: int) -> None:
    """The CTO reads the issue and the repository, then asks or plans."""
    from bot.briefs.cto import (
        PlanFormatError,
        Questions,
        cto_task,
        parse_cto_decision,
    )

    item = await engine.update_item(ctx, repo, number, lambda i: i)
    if item is None:
        return
    async with ctx.github(installation_id) as gh:
        issue_view, comments = await read_issue(ctx, gh, item)
    feedback = item.extra.get("plan_feedback")
    previous = _plan_or_none(item)
    async with checkout(ctx, item) as workspace:
        result = await run_role(
            ctx,
            item,
            "cto",
            cto_task(
                issue_view,
                comments,
                feedback=feedback,
                previous_plan=previous,
                # Our own comments are skipped when reading the issue: say what was asked.
                asked=Questions(tuple(asked)) if (asked := item.extra.get("questions")) else None,
            ),
            workspace.path,
            task_kind="plan",
        )
    if not result.ok:
        await fail(ctx, item, f"the CTO agent stopped: {result.summary}")
        return
    try:
        decision = parse_cto_decision(result.summary)
    except PlanFormatError as exc:
        await fail(ctx, item, f"the CTO's answer was not a plan or questions: {exc}")
        return
    if isinstance(decision, Questions):

        def ask(current: WorkItem) -> WorkItem:
            asked = list(decision.questions)
            return replace(current, extra={**current.extra, "questions": asked})

        await engine.apply(ctx, repo, number, Event.TRIAGE_ASKED_QUESTIONS, actor="cto", update=ask)
        return

    def with_plan(current: WorkItem) -> WorkItem:
        extra = {k: v for k, v in current.extra.items() if k != "plan_feedback"}
        return replace(current, plan=decision.to_dict(), extra=extra)

    await engine.apply(ctx, repo, number, Event.PLAN_PROPOSED, actor="cto", update=with_plan)


async def task(
    ctx: WorkerContext, installation_id: int, repo: str, number: int, index: int
) -> None:
    """Plan task `index`: its role's agent works on the item's branch and leaves a handoff note."""
    from bot.briefs.cto import Plan, role_task

    item = await engine.update_item(ctx, repo, number, lambda i: i)
    if item is None or item.state is not State.IMPLEMENTING:
        return  # failed or cancelled meanwhile: the tasks after it do not run
    if int(item.extra.get("tasks_done", 0)) > index:
        return  # a re-run after this task was recorded: nothing to redo
    plan = Plan.from_dict(item.plan or {})
    role = plan.tasks[index].role
    async with ctx.github(installation_id) as gh:
        issue_view, _comments = await read_issue(ctx, gh, item)
    handoffs = [(r, n) for r, n in item.extra.get("handoffs", [])]
    async with checkout(ctx, item) as workspace:
        assert item.branch is not None
        await workspace.start_branch(number, item.title, name=item.branch)
        result = await run_role(
            ctx, item, role, role_task(issue_view, plan, index, handoffs), workspace.path
        )
        if not result.ok:
            await fail(ctx, item, f"the {role} agent stopped: {result.summary}")
            return
        sha = await workspace.commit(
            f"{plan.tasks[index].title}\n\n{result.summary}",
            agent=load_roster().get(role).persona,
        )
        if sha is not None:
            await workspace.push()

    def record(current: WorkItem) -> WorkItem:
        notes = [*current.extra.get("handoffs", []), [role, result.summary]]
        extra = {**current.extra, "handoffs": notes, "tasks_done": index + 1, "narration": None}
        return replace(current, extra={k: v for k, v in extra.items() if v is not None})

    await engine.update_item(ctx, repo, number, record)


async def finish_implementation(
    ctx: WorkerContext, installation_id: int, repo: str, number: int
) -> None:
    """Every task ran: report it, which opens the draft PR and hands it over."""
    item = await engine.update_item(ctx, repo, number, lambda i: i)
    if item is None or item.state is not State.IMPLEMENTING:
        return
    tasks = (item.plan or {}).get("tasks", [])
    if int(item.extra.get("tasks_done", 0)) < len(tasks):
        return  # a task failed and reported it; nothing to hand over
    await engine.apply(ctx, repo, number, Event.IMPLEMENTATION_DONE, actor="aios")


async def report(
    ctx: WorkerContext, repo: str, number: int, event: Event, actor: str, detail: str
) -> engine.Outcome | None:
    """A person's action: record what the effects need (who approved, the feedback) with it."""

    from bot.jobs.fix import MORE_FEEDBACK, add_fix_request

    def note(item: WorkItem) -> WorkItem:
        if event is Event.APPROVED and item.state is State.AWAITING_PLAN_APPROVAL:
            return replace(item, extra={**item.extra, "approved_by": actor})
        if event is Event.PLAN_FEEDBACK:
            return replace(item, extra={**item.extra, "plan_feedback": detail})
        if event is Event.CHANGES_REQUESTED:
            return add_fix_request(item, actor, detail)
        return item

    outcome = await engine.apply(ctx, repo, number, event, actor=actor, detail=detail, update=note)
    if outcome is not None and not outcome.accepted:
        running_fix = outcome.item.state is State.IMPLEMENTING and outcome.item.pr_number
        if event is Event.CHANGES_REQUESTED and running_fix:
            # A fix round is running: keep the feedback, and run one more round after it.
            def later(item: WorkItem) -> WorkItem:
                noted = add_fix_request(item, actor, detail)
                return replace(noted, extra={**noted.extra, MORE_FEEDBACK: True})

            await engine.update_item(ctx, repo, number, later)
            log.info("feedback kept for the round after the running fix")
            return outcome
        log.info(
            "event not accepted", work_event=event.value, reason=getattr(outcome, "reason", "")
        )
    return outcome


async def fail(ctx: WorkerContext, item: WorkItem, why: str) -> None:
    log.warning("work item failed", why=why)
    await engine.apply(ctx, item.repo, item.number, Event.JOB_FAILED, actor="aios", detail=why)


async def read_issue(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> tuple[Any, list[Any]]:
    """The issue and its comments, each comment marked permitted or not (untrusted context)."""
    from bot.briefs.cto import CommentView, IssueView

    owner, name = item.repo.split("/")
    issue = await gh.getitem(
        "/repos/{+repo}/issues/{number}", {"repo": item.repo, "number": item.number}
    )
    view = IssueView(
        item.repo,
        item.number,
        str(issue.get("title") or ""),
        str(issue.get("body") or ""),
        _login(issue.get("user")),
    )
    comments: list[CommentView] = []
    async for comment in gh.getiter(
        "/repos/{+repo}/issues/{number}/comments{?per_page}",
        {"repo": item.repo, "number": item.number, "per_page": 100},
    ):
        user = comment.get("user") or {}
        if user.get("type") == "Bot":
            continue  # our own comments (plan, questions, progress) and other bots'
        login = _login(user)
        permitted = login == view.author or await can_steer(
            gh, ctx.redis, owner=owner, repo=name, login=login, user_type=user.get("type")
        )
        comments.append(CommentView(login, str(comment.get("body") or ""), permitted))
    return view, comments[-MAX_COMMENTS:]


def _plan_or_none(item: WorkItem) -> Any:
    from bot.briefs.cto import Plan

    return Plan.from_dict(item.plan) if item.plan else None


def _login(user: Any) -> str:
    return str((user or {}).get("login") or "")
