"""Run one role's agent for a work item: its checkout, runtime, ledger and paced narration."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import structlog
from rq import get_current_job

from bot import engine
from bot.agents import prompts
from bot.agents.config import AgentConfig
from bot.agents.ledger import RedisLedger, UsageScope
from bot.agents.loop import AgentResult, Step, run_agent
from bot.agents.memory import list_memories
from bot.agents.runtime import AgentRuntime
from bot.effects.progress import publish_current
from bot.github.workspace import Workspace
from bot.render.pacing import PacedWriter
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.parts import Narration

log = structlog.get_logger(__name__)

NARRATION_CHARS = 200


@asynccontextmanager
async def checkout(
    ctx: WorkerContext, item: WorkItem, *, ref: str | None = None
) -> AsyncIterator[Workspace]:
    """A per-job clone of the item's repository, authenticated with the installation token."""
    token = await ctx.installation_token(item.installation_id)
    workspace = await Workspace.clone(
        item.repo, git_base_url=ctx.settings.git_base_url, token=token, ref=ref
    )
    try:
        yield workspace
    finally:
        workspace.cleanup()


async def run_role(
    ctx: WorkerContext,
    item: WorkItem,
    role: str,
    task: str,
    workspace: Path,
    *,
    task_kind: str = "code",
) -> AgentResult:
    """Run `role` on `task`, narrating each step (paced) and recording the cost on the item."""
    job = get_current_job()
    scope = UsageScope(
        job_id=job.id if job is not None else f"local-{time.time():.0f}",
        work_item=item.key,
        repo=item.repo,
        installation_id=item.installation_id,
    )
    ledger = RedisLedger(ctx.redis)
    runtime = AgentRuntime.from_config(AgentConfig.from_env(), ledger=ledger)
    async with ctx.github(item.installation_id) as gh:

        async def write(_body: str) -> None:
            await publish_current(gh, ctx.redis, item.repo, item.number)

        writer = PacedWriter(write, min_interval_s=item.settings.min_edit_interval_s)

        async def narrate(step: Step) -> None:
            text = _narration(step)
            if not text:
                return
            totals = await ledger.work_item(item.key)

            def record(current: WorkItem) -> WorkItem:
                return replace(
                    current,
                    tokens=totals.usage.prompt_tokens + totals.usage.output_tokens,
                    cost_usd=totals.cost_usd,
                    work=replace(current.work, narration=Narration(role, text)),
                )

            await engine.update_item(ctx, item.repo, item.number, record)
            writer.update(text)

        context = prompts.repo_context(
            prompts.load_instructions(workspace),
            await list_memories(ctx.redis, item.repo),
            repo=item.repo,
        )
        try:
            result = await run_agent(
                role,
                task,
                workspace,
                runtime=runtime,
                scope=scope,
                task_kind=task_kind,
                context=context,
                on_step=narrate,
                task_source="aios",  # AIOS wrote it; the untrusted parts inside are tagged
            )
        finally:
            await writer.aclose()
            await runtime.aclose()
    totals = await ledger.work_item(item.key)
    await engine.update_item(
        ctx,
        item.repo,
        item.number,
        lambda current: replace(
            current,
            tokens=totals.usage.prompt_tokens + totals.usage.output_tokens,
            cost_usd=totals.cost_usd,
        ),
    )
    log.info("agent finished", role=role, status=result.status.value, cost_usd=result.cost_usd)
    return result


def _narration(step: Step) -> str:
    if step.kind == "model" and step.text.strip():
        text = " ".join(step.text.split())
    elif step.kind == "tool" and step.tool and step.tool != "finish":
        target = step.arguments.get("path") or step.arguments.get("command") or ""
        text = f"{step.tool} `{str(target)[:80]}`" if target else step.tool
    else:
        return ""
    return text if len(text) <= NARRATION_CHARS else text[: NARRATION_CHARS - 1] + "…"
