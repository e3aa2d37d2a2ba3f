"""The command jobs: one `/aios` line from a comment acknowledged, carried out, answered once."""

from __future__ import annotations

from dataclasses import dataclass

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.agents import memory as memories
from bot.agents.ledger import RedisLedger
from bot.commands import CommandName, render_help
from bot.config.repo_wide import load_repo_wide
from bot.github.comments import upsert_marked_comment
from bot.jobs.budget import raise_budget
from bot.jobs.intake import report
from bot.redact import redact
from bot.render.markdown import format_cost, neutralize
from bot.runtime import catalog, refresh
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.runtime.scope import job_scope
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.names import reply_marker
from bot.workitem.states import Event, State

EVENTS = {
    CommandName.APPROVE: Event.APPROVED,
    CommandName.PLAN: Event.PLAN_FEEDBACK,
    CommandName.RETRY: Event.RETRY,
    CommandName.CANCEL: Event.CANCEL,
    CommandName.FIX: Event.CHANGES_REQUESTED,
    CommandName.REVIEW: Event.REVIEW_REQUESTED,
}
"""Commands that report an event to the work item; its progress comment shows the result."""


@dataclass(frozen=True)
class CommandLine:
    """Where a command was written: the issue or PR, the comment, the line (for the reply)."""

    number: int
    comment_id: int
    line: int


REFUSAL = (
    "Sorry @{login}, only people with write access to this repository can steer AIOS. "
    "A maintainer can run the command for you."
)


async def reply(
    gh: GitHubAPI, repo: str, number: int, comment_id: int, text: str, *, line: int = 0
) -> None:
    """One answer per command line, edited in place if the job runs again."""
    marker = reply_marker(comment_id, line)
    await upsert_marked_comment(gh, repo, number, marker=marker, body=f"{marker}\n{redact(text)}")


async def answer_line(gh: GitHubAPI, repo: str, where: CommandLine, text: str) -> None:
    await reply(gh, repo, where.number, where.comment_id, text, line=where.line)


async def acknowledge(gh: GitHubAPI, repo: str, comment_id: int) -> None:
    await gh.post(
        "/repos/{+repo}/issues/comments/{comment_id}/reactions",
        {"repo": repo, "comment_id": comment_id},
        data={"content": "+1"},
    )


async def refuse_command(
    installation_id: int, repo: str, issue_number: int, comment_id: int, login: str
) -> None:
    """The one polite reply to a command from someone without write access."""
    async with job_scope("refuse_command", installation_id=installation_id, repo=repo) as ctx:
        async with ctx.github(installation_id) as gh:
            text = REFUSAL.format(login=neutralize(login))
            await reply(gh, repo, issue_number, comment_id, text)


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
    """One `/aios` command line of a comment by a permitted user.

    `name` is a `CommandName` value, or "" with `error` set for a line that did not parse.
    """
    async with job_scope("run_command", installation_id=installation_id, repo=repo) as ctx:
        number = issue_number
        async with ctx.github(installation_id) as gh:
            await acknowledge(gh, repo, comment_id)
            if not name:
                text = f"⚠️ {neutralize(error)}\n\n{render_help()}"
                await reply(gh, repo, number, comment_id, text, line=line)
                return
            command = CommandName(name)
            where = CommandLine(number, comment_id, line)
            answer = await _answer(ctx, installation_id, repo, where, command, argument, actor)
            if answer:
                await reply(gh, repo, number, comment_id, answer, line=line)


async def _answer(
    ctx: WorkerContext,
    installation_id: int,
    repo: str,
    where: CommandLine,
    command: CommandName,
    argument: str,
    actor: str,
) -> str:
    number = where.number
    item = await store.load_steerable(ctx.redis, repo, number)
    if command is CommandName.HELP:
        return render_help()
    if command is CommandName.STATUS:
        return await _status(ctx, repo, item)
    if command is CommandName.COST:
        return await _cost(ctx, repo, item)
    if command is CommandName.REMEMBER:
        try:
            source = await _comment_url(ctx, installation_id, repo, where.comment_id)
            memory = await memories.remember(ctx.redis, repo, argument, by=actor, source_url=source)
        except memories.MemoryProblem as exc:
            return f"⚠️ {exc}"
        await refresh.request(ctx.redis, ctx.jobs, installation_id, repo)
        return (
            f"🧠 Noted as memory {memory.id}; every agent on this repository will keep it in "
            "mind (it is listed in the Control Center)."
        )
    if command is CommandName.FORGET:
        try:
            forgotten = await memories.forget(ctx.redis, repo, int(argument.lstrip("#m")))
        except (memories.MemoryProblem, ValueError) as exc:
            return f"⚠️ {exc}"
        await refresh.request(ctx.redis, ctx.jobs, installation_id, repo)
        return f"🧹 Forgot memory {forgotten.id}: {neutralize(forgotten.text)}"
    if command is CommandName.BUDGET:
        if item is None:
            return "There is no AIOS work item here yet: add the `aios` label to start one."
        return await raise_budget(ctx, item, argument, actor)
    if command is CommandName.TEST or (command is CommandName.REVIEW and item is None):
        return await _standalone(ctx, installation_id, repo, where, command, item)
    event = EVENTS[command]
    if item is None:
        return "There is no AIOS work item here yet: add the `aios` label to start one."
    outcome = await report(ctx, repo, item.number, event, actor, argument)
    if outcome is not None and not outcome.accepted:
        if command is CommandName.FIX and outcome.item.state is State.IMPLEMENTING:
            if outcome.item.pr_number is not None:
                return "📝 Noted: a fix round is running; yours follows it."
        return f"⚠️ {neutralize(getattr(outcome, 'reason', 'not possible now'))}"
    return ""


async def _comment_url(
    ctx: WorkerContext, installation_id: int, repo: str, comment_id: int
) -> str | None:
    """The link to the comment a memory came from (shown with it in the Control Center)."""
    async with ctx.github(installation_id) as gh:
        comment = await gh.getitem(
            "/repos/{+repo}/issues/comments/{comment_id}",
            {"repo": repo, "comment_id": comment_id},
        )
    return str(comment.get("html_url") or "") or None


async def _standalone(
    ctx: WorkerContext,
    installation_id: int,
    repo: str,
    where: CommandLine,
    command: CommandName,
    item: WorkItem | None,
) -> str:
    """`/aios review` on a PR AIOS did not open, `/aios test` anywhere: a job of its own."""
    number = where.number
    pr_number = item.pr_number if item is not None else number
    if pr_number is None:
        return f"`/aios {command.value}` needs a pull request; this work item has none yet."
    async with ctx.github(installation_id) as gh:
        try:
            await gh.getitem("/repos/{+repo}/pulls/{number}", {"repo": repo, "number": pr_number})
        except BadRequest as exc:
            if exc.status_code != 404:
                raise
            return f"`/aios {command.value}` works on pull requests; #{number} is an issue."
    spec = (
        catalog.REVIEW_PULL_REQUEST if command is CommandName.REVIEW else catalog.TEST_PULL_REQUEST
    )
    ctx.jobs.enqueue(
        spec,
        installation_id,
        repo,
        pr_number,
        number,
        where.comment_id,
        where.line,
        key=job_key(command.value, repo, pr_number, where.comment_id, where.line),
        installation_id=installation_id,
    )
    what = "review the diff" if command is CommandName.REVIEW else "run the tests"
    return f"🔍 The QA agent will {what} of #{pr_number} and answer here."


async def _status(ctx: WorkerContext, repo: str, item: WorkItem | None) -> str:
    lines = []
    if item is None:
        lines.append("No AIOS work item here yet: add the `aios` label to start one.")
    else:
        lines.append(f"**State:** {item.state.label} · {format_cost(item.cost_usd, None)} so far")
        if item.pr_number:
            lines.append(f"**Pull request:** #{item.pr_number}")
        if item.failure:
            lines.append(f"**Failed:** {neutralize(item.failure)} — `/aios retry` resumes.")
    wide = await load_repo_wide(ctx.redis, repo)
    known, _gone = await memories.expire(
        ctx.redis, repo, expire_after_days=wide.memory_expire_after_days
    )
    if known:
        lines.append("\n**Memories** (`/aios forget <n>` removes one):")
        lines += [
            f"{m.id}. {neutralize(m.text)}{'' if m.accepted else ' _(proposed)_'}" for m in known
        ]
    return "\n".join(lines)


async def _cost(ctx: WorkerContext, repo: str, item: WorkItem | None) -> str:
    ledger = RedisLedger(ctx.redis)
    month = await ledger.repo_month(repo)
    lines = [f"**This repository this month:** {format_cost(month.cost_usd, None)}"]
    if item is not None:
        spent = await ledger.work_item(item.key)
        budget = item.settings.budget_usd
        lines.insert(0, f"**This work item:** {format_cost(spent.cost_usd, budget)}")
    return "\n".join(lines)
