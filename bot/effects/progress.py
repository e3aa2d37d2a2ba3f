"""The work item's one live picture on GitHub: its progress comment and its PR's check run.

Every transition ends here, so this is also where the repository's Control Center is asked to
refresh (paced in Redis by `bot.runtime.refresh`; nothing waits here for it).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import redis.asyncio
from gidgethub.abc import GitHubAPI

from bot.agents.bwrap import isolation_here
from bot.agents.fail_closed import UNISOLATED, UNISOLATED_WARNING, sandbox_mode
from bot.agents.model_keys import agent_environment
from bot.effects.done import NOTHING, Done
from bot.github.checks import upsert_check_run
from bot.github.comments import upsert_marked_comment
from bot.render.progress import render_check_run, render_progress, superseded_output
from bot.render.progress_view import progress_view
from bot.runtime import refresh
from bot.runtime.context import WorkerContext
from bot.settings import SettingsError
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.names import progress_marker
from bot.workitem.states import State

_CONCLUSIONS = {
    State.MERGED: "success",
    State.AWAITING_APPROVAL: "success",
    State.FAILED: "failure",
    State.PAUSED: "action_required",
    State.CANCELLED: "cancelled",
}
"""The check run completes in these states; in every other one it is in progress."""


def conclusion_of(item: WorkItem) -> str | None:
    """The check run's conclusion, None while the agents work: it says what the item says."""
    if item.state is State.AWAITING_APPROVAL and item.needs_human:
        return "action_required"  # the agents stopped a loop: a human must look
    return _CONCLUSIONS.get(item.state)


async def update_progress(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Re-render the progress comment and the check run from the item as stored now, and ask
    for the Control Center's refresh."""
    await refresh.request(ctx.redis, ctx.jobs, item.installation_id, item.repo)
    latest, comment_id = await publish_current(gh, ctx.redis, item.repo, item.number)
    if latest is None:
        return NOTHING
    checked = latest.pr.head_sha or latest.pr.check_run_sha
    if comment_id == latest.progress_comment_id and checked == latest.pr.check_run_sha:
        return NOTHING

    def record(current: WorkItem) -> WorkItem:
        pr = replace(current.pr, check_run_sha=checked)
        return replace(current, progress_comment_id=comment_id, pr=pr)

    return Done(change=record)


async def publish_current(
    gh: GitHubAPI, redis: redis.asyncio.Redis, repo: str, number: int
) -> tuple[WorkItem | None, int | None]:
    """Publish the item as stored now, one writer at a time (`store.publish_lock`), so jobs
    publishing at once neither create two check runs nor write an older picture last."""
    async with store.publish_lock(redis, store.item_key(repo, number)):
        item = await store.load_item(redis, repo, number)
        if item is None:
            return None, None
        return item, await publish_progress(gh, item)


async def publish_progress(gh: GitHubAPI, item: WorkItem) -> int:
    """Upsert the progress comment (and the check run once a PR exists); returns the comment id."""
    view = progress_view(item, operator_warnings=await operator_warnings())
    comment_id = await upsert_marked_comment(
        gh,
        item.repo,
        item.number,
        marker=progress_marker(item.repo, item.number),
        body=render_progress(view),
        known_id=item.progress_comment_id,
    )
    head, previous = item.pr.head_sha, item.pr.check_run_sha
    if head and previous and previous != head:
        # A new head: the run on the old one would stay "in progress" forever.
        await upsert_check_run(
            gh,
            item.repo,
            previous,
            external_id=item.key,
            output=superseded_output(head),
            conclusion="neutral",
        )
    if head:
        await upsert_check_run(
            gh,
            item.repo,
            head,
            external_id=item.key,
            output=render_check_run(view),
            conclusion=conclusion_of(item),
        )
    return comment_id


async def operator_warnings() -> tuple[str, ...]:
    """What every progress comment says about this AIOS: that agents' commands run unisolated,
    when the operator opted in (AIOS_SANDBOX=unisolated) and this process cannot isolate.
    The self-test runs once per process (in a thread: it forks), and only after that opt-in."""
    try:
        mode = sandbox_mode(agent_environment())
    except SettingsError:
        return ()  # no command runs either: the agent job stops on the bad value, naming it
    if mode != UNISOLATED or (await asyncio.to_thread(isolation_here)).available:
        return ()
    return (UNISOLATED_WARNING,)
