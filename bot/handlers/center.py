"""The Control Center's boxes: a permitted user's ticks become a job; anyone else's are undone.

GitHub sends `issues.edited` with the body before the edit (`changes.body.from`), so the
boxes an edit ticked are exactly those checked now and not before (`names.new_ticks`). The
permission is the same as for labels and commands: write, maintain or admin, asked through
the permission API. An edit by anyone else acts on nothing; the refresh it asks for rewrites
the body, which clears the tick.
"""

from __future__ import annotations

import structlog
from gidgethub import routing, sansio

from bot.github.center_issue import forget_written
from bot.handlers.payloads import Actor, RepoRef, installation_id_of
from bot.handlers.steer import may_steer
from bot.runtime import catalog, refresh
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem.names import is_control_center, new_ticks

router = routing.Router()
log = structlog.get_logger(__name__)


@router.register("issues", action="edited")
async def on_center_edited(event: sansio.Event, ctx: WorkerContext) -> None:
    data = event.data
    issue = data["issue"]
    body = issue.get("body")
    if not is_control_center(body) or Actor.of(issue.get("user")).type != "Bot":
        return
    before = ((data.get("changes") or {}).get("body") or {}).get("from")
    ticks = new_ticks(before, body)
    sender = Actor.of(data.get("sender"))
    installation_id = installation_id_of(data)
    if not ticks or sender.is_bot or installation_id is None:
        return
    repo = RepoRef.of(data["repository"])
    if not await may_steer(ctx, installation_id, repo, sender):
        log.info(
            "control center ticked by a user without write permission; undone",
            sender=sender.login,
            ticks=[f"{action} {target}" for action, target in ticks],
        )
        await forget_written(ctx.redis, repo.full_name)
        await refresh.request(ctx.redis, ctx.jobs, installation_id, repo.full_name)
        return
    ctx.jobs.enqueue(
        catalog.ACT_ON_TICKS,
        installation_id,
        repo.full_name,
        sender.login,
        [f"{action} {target}" for action, target in ticks],
        key=job_key("ticks", event.delivery_id),
    )
    log.info("control center ticked", sender=sender.login, ticks=len(ticks))
