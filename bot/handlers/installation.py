"""The App installed, uninstalled, or given more repositories: labels and a Control Center each."""

from __future__ import annotations

from typing import Any

import structlog
from gidgethub import routing, sansio

from bot.runtime import catalog, refresh
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem.store import forget_installation

router = routing.Router()
log = structlog.get_logger(__name__)


@router.register("installation", action="created")
async def label_new_installation(event: sansio.Event, ctx: WorkerContext) -> None:
    await _set_up(event, ctx, event.data.get("repositories") or [])


@router.register("installation_repositories", action="added")
async def label_added_repositories(event: sansio.Event, ctx: WorkerContext) -> None:
    await _set_up(event, ctx, event.data.get("repositories_added") or [])


@router.register("installation", action="deleted")
async def forget_deleted_installation(event: sansio.Event, ctx: WorkerContext) -> None:
    installation_id = int(event.data["installation"]["id"])
    await forget_installation(ctx.redis, installation_id)
    await refresh.forget_installation(ctx.redis, installation_id)
    log.info(
        "installation deleted; cached tokens and state forgotten", installation_id=installation_id
    )


async def _set_up(
    event: sansio.Event, ctx: WorkerContext, repositories: list[dict[str, Any]]
) -> None:
    """Each repository gets its labels and its Control Center (unless `control_center: false`)."""
    installation_id = int(event.data["installation"]["id"])
    for repository in repositories:
        full_name = str(repository["full_name"])
        # One job per repository, so one archived or failing repo does not hold up the rest.
        ctx.jobs.enqueue(
            catalog.ENSURE_LABELS,
            installation_id,
            full_name,
            key=job_key("labels", event.delivery_id, full_name),
        )
        await refresh.request(ctx.redis, ctx.jobs, installation_id, full_name)
