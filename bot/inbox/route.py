"""The route job: one stored delivery through every handler that wants it, exactly once."""

from __future__ import annotations

import json

import structlog
from gidgethub import sansio

from bot.github import pacing
from bot.handlers import build_router
from bot.inbox import deliveries
from bot.runtime.catalog import ROUTE_DELIVERY
from bot.runtime.scope import QUICK_JOB_WRITE_WAIT_S, job_scope

log = structlog.get_logger(__name__)


async def route_delivery(entry_id: str, delivery_id: str) -> str:
    """Run one stored delivery through every handler that wants it, once."""
    async with job_scope("route_delivery", delivery_id=delivery_id) as ctx:
        if await deliveries.was_routed(ctx.redis, delivery_id):
            return "already routed"
        delivery = await deliveries.load(ctx.redis, entry_id)
        if delivery is None:
            log.warning("delivery body missing; nothing to route")
            return "missing"
        structlog.contextvars.bind_contextvars(
            installation_id=delivery.installation_id,
            github_event=delivery.event,
            action=delivery.action,
        )
        data = json.loads(delivery.body)
        if repository := data.get("repository"):
            structlog.contextvars.bind_contextvars(repo=repository.get("full_name"))
            # Handlers call GitHub (permission checks, the 👀) for this repository only.
            ctx.scope_to(str(repository["full_name"]), ROUTE_DELIVERY.permissions)
        event = sansio.Event(data, event=delivery.event, delivery_id=delivery.delivery_id)
        # Handlers only decide and enqueue with deterministic job ids, so a re-run after
        # a crash mid-dispatch enqueues nothing twice; for the same reason the job may be
        # rescheduled at its first write (the 👀) when the installation's turn is away.
        with pacing.wait_limit(QUICK_JOB_WRITE_WAIT_S):
            await build_router().dispatch(event, ctx)
        await deliveries.mark_routed(ctx.redis, delivery)
        log.info("delivery routed")
        return "routed"
