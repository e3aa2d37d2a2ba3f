"""What handlers do once they decided: check the sender may steer, and hand an event to a job."""

from __future__ import annotations

from gidgethub import sansio

from bot.github.permissions import can_steer
from bot.handlers.payloads import Actor, RepoRef
from bot.runtime import catalog
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem.states import Event


async def may_steer(ctx: WorkerContext, installation_id: int, repo: RepoRef, actor: Actor) -> bool:
    """Whether `actor` has write, maintain or admin permission on `repo` (bots never do)."""
    async with ctx.github(installation_id) as gh:
        return await can_steer(
            gh, ctx.redis, owner=repo.owner, repo=repo.name, login=actor.login, user_type=actor.type
        )


def report(
    ctx: WorkerContext,
    event: sansio.Event,
    installation_id: int,
    repo: RepoRef,
    number: int,
    what: Event,
    actor: str,
    detail: str = "",
) -> None:
    """Hand an event for a work item to a job (handlers decide, jobs act)."""
    ctx.jobs.enqueue(
        catalog.REPORT_EVENT,
        installation_id,
        repo.full_name,
        number,
        what.value,
        actor,
        detail,
        key=job_key("event", event.delivery_id, what.value, number),
    )
