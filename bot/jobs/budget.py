"""`/aios budget +<usd>`: a maintainer raises a work item's budget; a paused item continues."""

from __future__ import annotations

import os
from dataclasses import replace

from bot import engine
from bot.agents.budget import ceilings_from
from bot.agents.ledger import RedisLedger
from bot.effects.progress import publish_current
from bot.render.markdown import format_usd, neutralize
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.states import Event, State


async def raise_budget(ctx: WorkerContext, item: WorkItem, argument: str, actor: str) -> str:
    """Raise by `+N` dollars or set to `N`, within the operator's ceiling; the reply."""
    spent = (await RedisLedger(ctx.redis).work_item(item.key)).cost_usd
    before = item.settings.budget_usd
    amount = float(argument.lstrip("+"))
    wanted = (before or 0.0) + amount if argument.startswith("+") else amount
    ceiling = ceilings_from(os.environ).per_work_item_usd
    budget = min(wanted, ceiling) if ceiling is not None else wanted
    capped = (
        f" (this AIOS allows at most {format_usd(ceiling)} per work item: "
        "`AIOS_BUDGET_WORK_ITEM_USD`, set by whoever runs it)"
        if ceiling is not None and wanted > ceiling
        else ""
    )
    if budget <= spent:
        return (
            f"⚠️ This work item has spent {format_usd(spent)} already, so a budget of "
            f"{format_usd(budget)}{capped} would stop it at once. Give more, e.g. "
            f"`/aios budget {spent + 5:.0f}`."
        )

    def with_budget(current: WorkItem) -> WorkItem:
        return replace(current, settings=replace(current.settings, budget_usd=budget))

    said = f"💰 Budget {format_usd(before or 0.0)} → {format_usd(budget)}{capped}; spent so far "
    said += f"{format_usd(spent)}."
    if item.state is State.PAUSED:
        outcome = await engine.apply(
            ctx,
            item.repo,
            item.number,
            Event.BUDGET_RAISED,
            actor=actor,
            detail=f"budget {format_usd(budget)}",
            update=with_budget,
        )
        if outcome is not None and not outcome.accepted:
            return f"⚠️ {neutralize(getattr(outcome, 'reason', 'not possible now'))}"
        return f"{said} The agents continue where they paused."
    await engine.update_item(ctx, item.repo, item.number, with_budget)
    async with ctx.github(item.installation_id) as gh:
        await publish_current(gh, ctx.redis, item.repo, item.number)
    return said
