"""Pull request events on agent PRs: reviews (approve, changes, comments), CI finishing, closing."""

from __future__ import annotations

from typing import Any

import structlog
from gidgethub import routing, sansio

from bot.handlers.payloads import Actor, RepoRef, installation_id_of
from bot.handlers.steer import may_steer, report
from bot.runtime import catalog
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.names import issue_of_branch
from bot.workitem.states import Event, State

router = routing.Router()
log = structlog.get_logger(__name__)

REVIEW_EVENTS = {"approved": Event.APPROVED, "changes_requested": Event.CHANGES_REQUESTED}
"""What a person's review means for the work item; a plain comment review asks for changes too:
its inline comments are threads the developer agent answers."""


async def _item_of_pr(ctx: WorkerContext, repo: RepoRef, pr: dict[str, Any]) -> WorkItem | None:
    """The work item whose pull request this is, or None for PRs AIOS did not open."""
    issue = issue_of_branch(str((pr.get("head") or {}).get("ref") or ""))
    if issue is None:
        return None
    item = await store.load_item(ctx.redis, repo.full_name, issue)
    if item is None or item.pr_number != int(pr["number"]):
        return None
    return item


@router.register("pull_request_review", action="submitted")
async def on_review(event: sansio.Event, ctx: WorkerContext) -> None:
    """One review is one event, however many inline comments it carries: they coalesce."""
    data = event.data
    review = data["review"]
    reviewer = Actor.of(review.get("user") or data.get("sender"))
    installation_id = installation_id_of(data)
    state = str(review.get("state", "")).lower()
    what = REVIEW_EVENTS.get(state, Event.CHANGES_REQUESTED if state == "commented" else None)
    if what is None or reviewer.is_bot or installation_id is None:
        return
    repo = RepoRef.of(data["repository"])
    item = await _item_of_pr(ctx, repo, data["pull_request"])
    if item is None:
        return
    if not await may_steer(ctx, installation_id, repo, reviewer):
        log.info("review from a user without write permission; ignored", reviewer=reviewer.login)
        return
    body = str(review.get("body") or "") if what is Event.CHANGES_REQUESTED else ""
    report(ctx, event, installation_id, repo, item.number, what, reviewer.login, body)


@router.register("check_suite", action="completed")
async def on_checks_done(event: sansio.Event, ctx: WorkerContext) -> None:
    """Another App's checks on an agent PR's head finished: CI verdict, and a waiting merge."""
    data = event.data
    suite = data["check_suite"]
    if (
        ctx.settings.app_id is not None
        and (suite.get("app") or {}).get("id") == ctx.settings.app_id
    ):
        return  # AIOS's own check run says what AIOS does; it is never CI to fix
    await _ci_finished(ctx, event, str(suite.get("head_branch") or ""), str(suite["head_sha"]))


@router.register("workflow_run", action="completed")
async def on_workflow_done(event: sansio.Event, ctx: WorkerContext) -> None:
    run = event.data["workflow_run"]
    await _ci_finished(ctx, event, str(run.get("head_branch") or ""), str(run["head_sha"]))


@router.register("status")
async def on_status(event: sansio.Event, ctx: WorkerContext) -> None:
    """A commit status from CI outside GitHub Apps settled on an agent branch's head."""
    data = event.data
    if data.get("state") == "pending":
        return
    for branch in data.get("branches") or []:
        await _ci_finished(ctx, event, str(branch.get("name") or ""), str(data["sha"]))


async def _ci_finished(ctx: WorkerContext, event: sansio.Event, branch: str, sha: str) -> None:
    data = event.data
    installation_id = installation_id_of(data)
    issue = issue_of_branch(branch)
    if installation_id is None or issue is None:
        return
    repo = RepoRef.of(data["repository"])
    item = await store.load_item(ctx.redis, repo.full_name, issue)
    if item is None or item.pr_number is None:
        return
    if item.state is State.AWAITING_APPROVAL and item.pr.merge_waiting:
        # Any head: a person may have pushed; the merge check reads the PR's head itself.
        report(ctx, event, installation_id, repo, item.number, Event.APPROVED, "aios")
    if item.pr.head_sha != sha:
        return  # an older commit, or one a person pushed: not the agents' to fix
    if item.state in (State.VERIFYING, State.IN_REVIEW, State.AWAITING_APPROVAL):
        ctx.jobs.enqueue(
            catalog.EVALUATE_CI,
            installation_id,
            repo.full_name,
            item.number,
            sha,
            key=job_key("ci", item.key, sha, event.delivery_id),
        )


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
