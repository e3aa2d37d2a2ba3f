"""The `act_on_ticks` job: what a permitted user ticked in the Control Center, carried out.

A work item's box reports the same event as its command (`approve` only approves a plan, never
a merge; `retry`, `cancel`), through the engine with the user as the actor, so the audit
trail and the progress comment say who did it. A memory's box accepts or forgets it. Then the
Control Center is refreshed, which clears the ticks whether or not they could act.
"""

from __future__ import annotations

import structlog

from bot.agents import memory as memories
from bot.github.center_issue import forget_written
from bot.jobs.intake import report
from bot.runtime import refresh
from bot.runtime.context import WorkerContext
from bot.runtime.scope import job_scope
from bot.workitem import store
from bot.workitem.states import Event, State

log = structlog.get_logger(__name__)

ITEM_EVENTS = {"approve": Event.APPROVED, "retry": Event.RETRY, "cancel": Event.CANCEL}
DETAIL = "ticked in the Control Center"


async def act_on_ticks(installation_id: int, repo: str, actor: str, ticks: list[str]) -> None:
    """Carry out each tick (`"<action> #<issue>"` or `"<action> m<memory>"`) in order."""
    async with job_scope("act_on_ticks", installation_id=installation_id, repo=repo) as ctx:
        for tick in ticks:
            action, _, target = tick.partition(" ")
            try:
                await _act(ctx, repo, actor, action, target)
            except memories.MemoryProblem as exc:
                log.info("tick could not act", tick=tick, why=str(exc))
        await forget_written(ctx.redis, repo)
        await refresh.request(ctx.redis, ctx.jobs, installation_id, repo)


async def _act(ctx: WorkerContext, repo: str, actor: str, action: str, target: str) -> None:
    if target.startswith("#") and action in ITEM_EVENTS:
        number = int(target[1:])
        item = await store.load_item(ctx.redis, repo, number)
        if item is None:
            return
        if action == "approve" and item.state is not State.AWAITING_PLAN_APPROVAL:
            log.info("approve ticked for an item with no plan waiting; ignored", issue=number)
            return
        outcome = await report(ctx, repo, number, ITEM_EVENTS[action], actor, DETAIL)
        log.info(
            "tick acted", action=action, issue=number, accepted=bool(outcome and outcome.accepted)
        )
    elif target.startswith("m") and action == "accept":
        await memories.accept(ctx.redis, repo, int(target[1:]), by=actor)
    elif target.startswith("m") and action == "forget":
        await memories.forget(ctx.redis, repo, int(target[1:]))
