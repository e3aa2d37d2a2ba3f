"""The only writer of work-item state: apply an event, store the transition, carry out effects.

Handlers and jobs never change a work item's state themselves: they report what happened
(an `Event`) here. Under the item's lock `bot.workitem.rules.transition` decides and the new
state is stored with its pending effects; the effects (`bot.effects.EFFECTS`) are carried
out in order, each handing back data to record and events that follow, which are applied
the same way once the transition's own effects are done.

A job that dies between storing a transition and finishing its effects leaves them pending:
its retry finds the event applied and finishes them; if it dies for good, the sweeper (the
delivery pump's housekeeping) finds them after a minute and `carry_out_pending` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog
from rq import get_current_job

from bot.effects import EFFECTS
from bot.effects.done import FollowUp
from bot.runtime.context import WorkerContext
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.parts import PendingEffects
from bot.workitem.rules import Rejected, Transition, WorkflowPolicy, transition
from bot.workitem.states import Effect, Event, State

log = structlog.get_logger(__name__)

MAX_FOLLOW_UPS = 8
"""Events one report may lead to through effects; the table has chains of two at most."""


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
        policy: overrides the item's own settings (tests of the table use it).

    Returns:
        The transition or rejection, or None when there is no item and `create` is None.
    """
    outcome = await _decide(ctx, repo, number, event, actor, detail, create, update, policy)
    if outcome is None or isinstance(outcome, Rejected):
        return outcome
    await _finish(ctx, outcome.item, outcome.effects)
    return outcome


async def carry_out_pending(ctx: WorkerContext, repo: str, number: int) -> tuple[Effect, ...]:
    """Carry out the effects the item's last transition left pending; returns them.

    For the sweeper: the job that stored the transition died for good before finishing
    them. Every effect is idempotent (markers, deterministic job ids), so one carried out
    before the death is carried out again harmlessly.
    """
    item = await store.load_item(ctx.redis, repo, number)
    if item is None or item.pending is None:
        await ctx.redis.zrem(store.PENDING_KEY, store.item_key(repo, number))
        return ()
    owner = item.pending.job_id
    if owner is not None and ctx.jobs.will_run(owner):
        # Queued, running or about to be retried: that job finishes them. The sweeper's claim
        # put the item off for another period, and it looks again then.
        log.info("pending effects still owned by their job", owner=owner)
        return ()
    effects = tuple(Effect(e) for e in item.pending.effects)
    log.warning("carrying out effects a job left pending", work_event=item.pending.event)
    await _finish(ctx, item, effects)
    return effects


async def _finish(ctx: WorkerContext, item: WorkItem, effects: tuple[Effect, ...]) -> None:
    """Carry out a stored transition's effects, clear them, then apply what follows."""
    repo, number = item.repo, item.number
    follow_ups = await _carry_out(ctx, item, effects)
    async with store.item_lock(ctx.redis, repo, number):
        latest = await store.load_item(ctx.redis, repo, number)
        if latest is not None and latest.pending == item.pending:
            await store.save_item(ctx.redis, replace(latest, pending=None))
    for follow_up in follow_ups[:MAX_FOLLOW_UPS]:
        await apply(
            ctx,
            repo,
            number,
            follow_up.event,
            actor=follow_up.actor,
            detail=follow_up.detail,
            update=_with_hint(follow_up.hint),
        )


def _with_hint(hint: str | None) -> Callable[[WorkItem], WorkItem] | None:
    """The change that records a follow-up failure's hint with it."""
    if hint is None:
        return None
    return lambda current: replace(current, stop_hint=hint)


async def _decide(
    ctx: WorkerContext,
    repo: str,
    number: int,
    event: Event,
    actor: str,
    detail: str,
    create: Callable[[], WorkItem] | None,
    update: Callable[[WorkItem], WorkItem] | None,
    policy: WorkflowPolicy | None,
) -> Outcome | None:
    """Under the item's lock: the transition, stored with its effects marked pending."""
    now = datetime.now(UTC)
    async with store.item_lock(ctx.redis, repo, number):
        item = await store.load_item(ctx.redis, repo, number)
        if create is not None and (item is None or item.state in (State.MERGED, State.CANCELLED)):
            item = create()
        if item is None:
            return None
        pending = item.pending
        if pending and pending.event == event.value and pending.actor == actor:
            # The same report again: a retried job. Finish what its first run started.
            log.info("resuming effects of an applied event", work_event=event.value)
            return Resumed(item, tuple(Effect(e) for e in pending.effects))
        if update is not None:
            item = update(item)
        # The settings the item started with: a config change mid-way never changes its rules.
        outcome = transition(item, event, actor=actor, at=now, policy=policy, detail=detail)
        if isinstance(outcome, Rejected):
            await store.append_audit(ctx.redis, item.key, outcome.audit)
            log.info("event rejected", work_event=event.value, reason=outcome.reason)
            return outcome
        job = get_current_job()
        marker = PendingEffects(
            event.value,
            actor,
            tuple(e.value for e in outcome.effects),
            job.id if job is not None else None,
        )
        stored = replace(outcome.item, pending=marker)
        await store.save_item(
            ctx.redis, stored, outcome.audit, pending_since=now.timestamp(), loop=outcome.rule.count
        )
        log.info(
            "work item transition",
            work_event=event.value,
            state=stored.state.value,
            effects=[e.value for e in outcome.effects],
        )
        return replace(outcome, item=stored)


async def _carry_out(
    ctx: WorkerContext, item: WorkItem, effects: tuple[Effect, ...]
) -> list[FollowUp]:
    """Run each effect in order, recording what each learned before the next one runs."""
    follow_ups: list[FollowUp] = []
    async with ctx.github(item.installation_id) as gh:
        for effect in effects:
            log.debug("effect", effect=effect.value, item=item.key)
            done = await EFFECTS[effect](ctx, gh, item)
            if done.change is not None:
                change = done.change
                item = await update_item(ctx, item.repo, item.number, change) or change(item)
            if done.follow_up is not None:
                follow_ups.append(done.follow_up)
    return follow_ups


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


async def load(ctx: WorkerContext, repo: str, number: int) -> WorkItem | None:
    """The work item as stored now (a read; writers go through `apply` and `update_item`)."""
    return await store.load_item(ctx.redis, repo, number)


async def fail(ctx: WorkerContext, item: WorkItem, why: str, *, hint: str | None = None) -> None:
    """A job gave up: the item fails with `why`, shown to maintainers with what would help:
    `hint`, or (None) `/aios retry` when running the step again can simply work."""
    log.warning("work item failed", why=why)

    def with_hint(current: WorkItem) -> WorkItem:
        return replace(current, stop_hint=hint)

    await apply(
        ctx, item.repo, item.number, Event.JOB_FAILED, actor="aios", detail=why, update=with_hint
    )


async def pause(ctx: WorkerContext, item: WorkItem, why: str) -> None:
    """An agent job stopped at the work item's budget: the item waits for `/aios budget`."""
    log.warning("work item paused at its budget", why=why)
    await apply(ctx, item.repo, item.number, Event.BUDGET_REACHED, actor="aios", detail=why)
