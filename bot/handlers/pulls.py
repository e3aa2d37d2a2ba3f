"""Pull request events on agent PRs: a maintainer's approval, checks finishing."""

from __future__ import annotations

import re
from typing import Any

import structlog
from gidgethub import routing, sansio

from bot import store
from bot.context import WorkerContext
from bot.github.permissions import can_steer
from bot.handlers.issues import report
from bot.payloads import Actor, RepoRef, installation_id_of
from bot.workflow import Event, State

router = routing.Router()
log = structlog.get_logger(__name__)

AGENT_BRANCH = re.compile(r"^aios/(?P<issue>\d+)-")


async def _item_of_pr(ctx: WorkerContext, repo: RepoRef, pr: dict[str, Any]) -> Any:
    """The work item whose pull request this is, or None for PRs AIOS did not open."""
    match = AGENT_BRANCH.match(str((pr.get("head") or {}).get("ref") or ""))
    if match is None:
        return None
    item = await store.load_item(ctx.redis, repo.full_name, int(match["issue"]))
    if item is None or item.pr_number != int(pr["number"]):
        return None
    return item


@router.register("pull_request_review", action="submitted")
async def on_review(event: sansio.Event, ctx: WorkerContext) -> None:
    data = event.data
    review = data["review"]
    reviewer = Actor.of(review.get("user") or data.get("sender"))
    installation_id = installation_id_of(data)
    if str(review.get("state", "")).lower() != "approved" or reviewer.is_bot:
        return
    if installation_id is None:
        return
    repo = RepoRef.of(data["repository"])
    item = await _item_of_pr(ctx, repo, data["pull_request"])
    if item is None:
        return
    async with ctx.github(installation_id) as gh:
        permitted = await can_steer(
            gh,
            ctx.redis,
            owner=repo.owner,
            repo=repo.name,
            login=reviewer.login,
            user_type=reviewer.type,
        )
    if not permitted:
        log.info("approval from a user without write permission; ignored", reviewer=reviewer.login)
        return
    report(ctx, event, installation_id, repo, item.number, Event.APPROVED, reviewer.login)


@router.register("check_suite", action="completed")
async def on_checks_done(event: sansio.Event, ctx: WorkerContext) -> None:
    """Checks an approved merge was waiting for finished: evaluate the merge again."""
    data = event.data
    installation_id = installation_id_of(data)
    if installation_id is None:
        return
    repo = RepoRef.of(data["repository"])
    for pr in data["check_suite"].get("pull_requests") or []:
        match = AGENT_BRANCH.match(str((pr.get("head") or {}).get("ref") or ""))
        if match is None:
            continue
        item = await store.load_item(ctx.redis, repo.full_name, int(match["issue"]))
        if item is None or item.state is not State.AWAITING_APPROVAL:
            continue
        if item.extra.get("merge_waiting"):
            report(ctx, event, installation_id, repo, item.number, Event.APPROVED, "aios")


@router.register("pull_request", action="closed")
async def on_pr_closed(event: sansio.Event, ctx: WorkerContext) -> None:
    """Closed without merging cancels the work item; merged by hand completes it."""
    data = event.data
    installation_id = installation_id_of(data)
    sender = Actor.of(data.get("sender"))
    if installation_id is None or sender.is_bot:
        return  # AIOS's own merge reports itself
    repo = RepoRef.of(data["repository"])
    item = await _item_of_pr(ctx, repo, data["pull_request"])
    if item is None:
        return
    what = Event.MERGED if data["pull_request"].get("merged") else Event.PR_CLOSED
    report(ctx, event, installation_id, repo, item.number, what, sender.login)
