"""Effects that speak on the issue or the pull request: questions, the plan, why work stopped."""

from __future__ import annotations

from dataclasses import replace

import structlog
from gidgethub.abc import GitHubAPI

from bot.agents.ledger import RedisLedger
from bot.agents.roster import load_roster
from bot.effects.done import NOTHING, Done
from bot.github.comments import upsert_marked_comment
from bot.redact import redact
from bot.render.markdown import format_cost, format_usd, neutralize
from bot.render.plan import render_plan, render_questions
from bot.render.progress_view import persona_of
from bot.render.stops import stop_reason
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.names import budget_marker, needs_human_marker
from bot.workitem.plan import Questions

log = structlog.get_logger(__name__)

SUGGESTED_RAISE_USD = 5.0
"""The raise the budget question suggests; any amount works."""


async def post_questions(_ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """The CTO's questions in one comment, addressed to the person who asked for the work."""
    persona = persona_of(load_roster(), "cto", plain=not item.settings.personas)
    questions = Questions(item.planning.questions)
    body = render_questions(item.repo, item.number, questions, persona, mention=item.created_by)
    await upsert_marked_comment(
        gh, item.repo, item.number, marker=body.split("\n", 1)[0], body=body
    )
    return NOTHING


async def post_plan(_ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """The plan comment, with its approval box while an approval is needed."""
    if item.plan is None:
        log.warning("no plan to post", item=item.key)
        return NOTHING
    roster = load_roster()
    plain = not item.settings.personas
    personas = {role: persona_of(roster, role, plain=plain) for role in roster.roles}
    body = render_plan(
        item.repo,
        item.number,
        item.plan,
        personas,
        require_approval=item.settings.require_plan_approval,
        approved_by=item.planning.approved_by,
    )
    await upsert_marked_comment(
        gh, item.repo, item.number, marker=body.split("\n", 1)[0], body=body
    )
    return NOTHING


async def ask_human(_ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Say on the PR why the agents stopped and what a maintainer can do next."""
    why = stop_reason(item)
    if why is None or item.pr_number is None:
        return NOTHING
    marker = needs_human_marker(item.key)
    await upsert_marked_comment(
        gh, item.repo, item.pr_number, marker=marker, body=f"{marker}\n{why}"
    )
    return Done(change=lambda current: replace(current, needs_human=why))


async def post_failure(_ctx: WorkerContext, _gh: GitHubAPI, item: WorkItem) -> Done:
    """Shown by the progress comment: its failure banner names `/aios retry`."""
    log.info("failure shown in the progress comment", item=item.key)
    return NOTHING


async def ask_for_budget(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Tell the requester what was spent, on what, and the command that continues."""
    spent = await RedisLedger(ctx.redis).work_item(item.key)
    by_model = await RedisLedger(ctx.redis).by_model(f"item:{item.key}")
    lines = [
        f"- {neutralize(model, limit=80)}: {format_usd(cost)}"
        for model, cost in sorted(by_model.items(), key=lambda pair: -pair[1])
    ]
    budget = item.settings.budget_usd
    marker = budget_marker(item.key)
    mention = f"@{item.created_by}, " if item.created_by else ""
    body = "\n".join(
        [
            marker,
            f"⏸️ {mention}the agents paused: {neutralize(item.failure or 'the budget is reached')}",
            "",
            f"Spent on this work item so far: **{format_cost(spent.cost_usd, budget)}** "
            f"over {spent.calls} model call(s):",
            *lines,
            "",
            f"To continue, comment `/aios budget +{SUGGESTED_RAISE_USD:g}` (raises the budget by "
            f"${SUGGESTED_RAISE_USD:g}; any amount works). To stop, comment `/aios cancel`.",
        ]
    )
    await upsert_marked_comment(gh, item.repo, item.number, marker=marker, body=redact(body))
    return NOTHING
