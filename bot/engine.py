"""Apply an event to a work item under its lock, store the transition, carry out its effects.

Handlers and jobs never change a work item's state themselves: they report what
happened (`Event`) here, `bot.workitem.rules.transition` decides, and the effects of the
transition are carried out by `bot.effects` after the new state is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from bot.config.load import stored_policy
from bot.runtime.context import WorkerContext
from bot.workitem import store
from bot.workitem.rules import (
    Effect,
    Event,
    Rejected,
    Transition,
    WorkflowPolicy,
    WorkItem,
    transition,
)

log = structlog.get_logger(__name__)

PENDING = "pending_effects"
"""`WorkItem.extra` entry naming the effects of the last transition not yet carried out.

A job killed between storing a transition and carrying out its effects leaves them
here; the retried job finds the event already applied and carries them out then.
"""


@dataclass(frozen=True)
class Resumed:
    """An event found already applied (a retried job): its effects were carried out again."""

    item: WorkItem
    effects: tuple[Effect, ...]
    accepted: bool = True


Outcome = Transition | Rejected | Resumed


async def apply(
    ctx: WorkerContext,
    repo: str,
    number: int,
    event: Event,
    *,
    actor: str,
    detail: str = "",
    create: Callable[[], WorkItem] | None = None,
    update: Callable[[WorkItem], WorkItem] | None = None,
    policy: WorkflowPolicy | None = None,
) -> Outcome | None:
    """Report `event` for the work item `repo#number` and carry out what follows.

    Args:
        create: builds a new item when there is none (or the last one ended); labels use it.
        update: changes the item's data (a plan, questions, handoff notes) in the same
            locked step as the transition, so the effects see them.

    Returns:
        The transition or rejection, or None when there is no item and `create` is None.
    """
    from bot.effects import carry_out

    now = datetime.now(UTC)
    async with store.item_lock(ctx.redis, repo, number):
        item = await store.load_item(ctx.redis, repo, number)
        if create is not None and (item is None or item.state.value in ("merged", "cancelled")):
            item = create()
        if item is None:
            return None
        pending = item.extra.get(PENDING)
        if pending and pending.get("event") == event.value and pending.get("actor") == actor:
            # The same report again: a retried job. Finish what its first run started.
            log.info("resuming effects of an applied event", work_event=event.value)
            outcome: Outcome = Resumed(item, tuple(Effect(e) for e in pending["effects"]))
        else:
            if update is not None:
                item = update(item)
            # The policy the item started with: a config change mid-way never changes its rules.
            rules = policy if policy is not None else stored_policy(item.extra)
            outcome = transition(item, event, actor=actor, at=now, policy=rules, detail=detail)
            if isinstance(outcome, Rejected):
                await store.append_audit(ctx.redis, item.key, outcome.audit)
                log.info("event rejected", work_event=event.value, reason=outcome.reason)
                return outcome
            marker = {"event": event.value, "actor": actor, "effects": list(outcome.effects)}
            stored = replace(outcome.item, extra={**outcome.item.extra, PENDING: marker})
            await store.save_item(ctx.redis, stored, outcome.audit)
            outcome = replace(outcome, item=stored)
            log.info(
                "work item transition",
                work_event=event.value,
                state=outcome.item.state.value,
                effects=[e.value for e in outcome.effects],
            )
    await carry_out(ctx, outcome.item, outcome.effects)
    async with store.item_lock(ctx.redis, repo, number):
        latest = await store.load_item(ctx.redis, repo, number)
        if latest is not None and latest.extra.get(PENDING) == outcome.item.extra.get(PENDING):
            extra = {k: v for k, v in latest.extra.items() if k != PENDING}
            await store.save_item(ctx.redis, replace(latest, extra=extra))
    return outcome


async def update_item(
    ctx: WorkerContext, repo: str, number: int, change: Callable[[WorkItem], WorkItem]
) -> WorkItem | None:
    """Change a work item's data (not its state) under its lock; None when there is none."""
    async with store.item_lock(ctx.redis, repo, number):
        item = await store.load_item(ctx.redis, repo, number)
        if item is None:
            return None
        changed = change(item)
        if changed != item:
            await store.save_item(ctx.redis, changed)
        return changed
