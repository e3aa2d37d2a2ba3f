"""An agent job's clone of the item's repository, and pushing what its agents committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from bot import engine
from bot.agents.config import AgentConfig
from bot.environment.disk import DiskFull
from bot.github.push_guard import PushPolicy, PushRefused
from bot.github.workspace import Workspace
from bot.runtime.context import WorkerContext
from bot.runtime.control import Stop
from bot.workitem.item import WorkItem

log = structlog.get_logger(__name__)

DISK_HINT = (
    "Next step: whoever runs AIOS frees disk space on the data directory's disk (or lowers "
    "`AIOS_DISK_FLOOR`), then comment `/aios retry`."
)


@asynccontextmanager
async def checkout(
    ctx: WorkerContext, item: WorkItem, *, ref: str | None = None
) -> AsyncIterator[Workspace]:
    """A per-job clone of the item's repository, with a token of the job's scope (pushing
    workflow files needs `workflows: write` too, asked for only where the item allows it)."""
    disk = AgentConfig.from_env().disk
    assert disk is not None  # from_env measures it
    try:
        disk.check_room()  # before any clone
    except DiskFull as full:
        await engine.fail(ctx, item, str(full), hint=DISK_HINT)
        raise Stop("disk-full", str(full)) from None
    pushes = ctx.scope is not None and dict(ctx.scope.permissions).get("contents") == "write"
    extra = {"workflows": "write"} if pushes and item.settings.allow_workflow_edits else None
    token = await ctx.installation_token(item.installation_id, extra=extra)
    where = disk.make_workspaces()  # under the data directory, within its disk budget
    workspace = await Workspace.clone(
        item.repo, git_base_url=ctx.settings.git_base_url, token=token, ref=ref, parent=where
    )
    try:
        yield workspace
    finally:
        workspace.cleanup()


def push_policy(item: WorkItem) -> PushPolicy:
    """What the item's agents may change, from its settings: the write tools and every push
    of the item's branch obey the same policy."""
    return PushPolicy(
        allow_workflow_edits=item.settings.allow_workflow_edits,
        protected_paths=item.settings.protected_paths,
    )


async def push_work(ctx: WorkerContext, item: WorkItem, workspace: Workspace) -> bool:
    """Push the item's branch; a push the guard refuses fails the item with the reason
    (the files and the rule or setting, never a value). Returns whether it was pushed."""
    try:
        await workspace.push(policy=push_policy(item))
    except PushRefused as refused:
        log.warning("push refused", problems=len(refused.problems))
        hint = (
            "Next step: a protected path the agents should change needs the setting named "
            "above in `.github/aios.yml`; a secret never goes out. Then comment `/aios retry` "
            "for a fresh attempt."
        )
        await engine.fail(ctx, item, str(refused), hint=hint)
        return False
    return True
