"""Run one role's agent for a work item: its checkout, runtime, ledger, narration, checkpoints."""

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
from bot.agents.breaker import RedisBreaker
from bot.agents.budget import PAUSE_AT, Budgets, capped
from bot.agents.checkpoint import LoopState
from bot.agents.config import AgentConfig
from bot.agents.ledger import RedisLedger, UsageScope
from bot.agents.llm.types import Usage
from bot.agents.loop import AgentResult, CheckpointHook, Step, StopReason, run_agent
from bot.agents.memory import memories_for_prompt
from bot.agents.runtime import AgentRuntime
from bot.config.repo_wide import load_repo_wide
from bot.effects.progress import publish_current
from bot.github import snapshot
from bot.github.push_guard import PushPolicy, PushRefused
from bot.github.workspace import Workspace
from bot.jobs import checkpoints
from bot.render.markdown import format_usd
from bot.render.pacing import PacedWriter
from bot.render.progress import RESTARTING
from bot.runtime import shutdown
from bot.runtime.context import WorkerContext
from bot.runtime.control import Reschedule, Stop
from bot.runtime.counters import count_llm_stop
from bot.runtime.scope import stop_before_timeout
from bot.workitem.item import WorkItem
from bot.workitem.parts import Narration

log = structlog.get_logger(__name__)

NARRATION_CHARS = 200


@asynccontextmanager
async def checkout(
    ctx: WorkerContext, item: WorkItem, *, ref: str | None = None
) -> AsyncIterator[Workspace]:
    """A per-job clone of the item's repository, with a token of the job's scope (pushing
    workflow files needs `workflows: write` too, asked for only where the item allows it)."""
    disk = AgentConfig.from_env().disk
    assert disk is not None  # from_env measures it
    disk.check_room()  # DiskFull before any clone: the item's failure says what to free
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


async def run_role(
    ctx: WorkerContext,
    item: WorkItem,
    role: str,
    task: str,
    workspace: Workspace | Path,
    *,
    task_kind: str = "code",
    model: str | None = None,
    slot: str | None = None,
    quiet: bool = False,
) -> AgentResult:
    """Run `role` on `task`, narrating each step (paced) and recording the cost on the item.

    `quiet` is for a run beside the item's own work (distilling memories after its PR ended):
    no narration, and the repository's memories are neither in its prompt nor marked used.

    The model is `model`, else the repository's `agents.models` entry for the role, else
    AIOS's routing; the budgets are the item's, within the operator's ceilings. No agent step
    starts once the item has spent `PAUSE_AT` of its budget, nor without a model key: the
    result says why, and `stop_item` turns it into the item's pause or failure.

    The run saves a checkpoint after every step under the item, role and `slot` (default:
    the task's text), and continues from the one it finds: a step is paid for once however
    often its job runs. Jobs whose task text changes between attempts name their slot.
    A bare directory instead of a workspace (a one-shot run with nothing to commit, like the
    memory distiller) is run without checkpoints.

    When AIOS shuts down (`bot.runtime.shutdown`), a run with checkpoints stops after the
    step under way, the progress comment says it is paused while AIOS restarts, and the job
    is requeued (`Reschedule`, not a used retry) to continue from that step.
    """
    job = get_current_job()
    scope = UsageScope(
        job_id=job.id if job is not None else f"local-{time.time():.0f}",
        work_item=item.key,
        repo=item.repo,
        installation_id=item.installation_id,
    )
    ledger = RedisLedger(ctx.redis)
    config = AgentConfig.from_env()
    # One breaker in Redis for every job: a storm one run meets, all runs skip.
    runtime = AgentRuntime.from_config(config, ledger=ledger, breaker=RedisBreaker(ctx.redis))
    runtime.budgets = item_budgets(item, config.budgets)
    chosen = model or item.settings.model_for(role)
    if chosen:
        route = {f"{role}.{task_kind}": chosen}
        runtime.router.config = runtime.router.config.with_overrides(route, config.provider)
    refusal = await _refusal(config, runtime.budgets, ledger, item)
    if refusal is not None:
        await runtime.aclose()
        return refusal
    key = checkpoints.key_for(item, role, slot or checkpoints.slot_of(task))
    on_checkpoint: CheckpointHook | None = None
    resume: LoopState | None = None
    if isinstance(workspace, Path):
        path = workspace
    else:
        path = workspace.path
        base = await Workspace.head(workspace)
        resume = await _resume(ctx, key, workspace, base)
        on_checkpoint = _saver(ctx, key, workspace, base)

    async with ctx.github(item.installation_id) as gh:

        async def write(_body: str) -> None:
            await publish_current(gh, ctx.redis, item.repo, item.number)

        writer = PacedWriter(write, min_interval_s=item.settings.min_edit_interval_s)
        if not quiet and _paused_for_restart(item):
            writer.update(await _say_back(ctx, item, role, resume))

        async def narrate(step: Step) -> None:
            text = _narration(step)
            if not text or quiet:
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

        wide = await load_repo_wide(ctx.redis, item.repo)
        in_use = (
            ()
            if quiet
            else await memories_for_prompt(
                ctx.redis, item.repo, expire_after_days=wide.memory_expire_after_days
            )
        )
        context = prompts.repo_context(prompts.load_instructions(path), in_use, repo=item.repo)
        try:
            result = await run_agent(
                role,
                task,
                path,
                runtime=runtime,
                scope=scope,
                task_kind=task_kind,
                context=context,
                on_step=narrate,
                task_source="aios",  # AIOS wrote it; the untrusted parts inside are tagged
                policy=push_policy(item),
                resume=resume,
                on_checkpoint=on_checkpoint,
                deadline=stop_before_timeout(),
                # Only a run that checkpoints can stop early without losing its steps.
                stop_requested=shutdown.requested if on_checkpoint is not None else None,
            )
            if result.status is StopReason.INTERRUPTED and not quiet:
                await _say_paused(ctx, item, role, writer)
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
    if result.ok and on_checkpoint is not None:
        checkpoints.mark_finished(key)
    log.info("agent finished", role=role, status=result.status.value, cost_usd=result.cost_usd)
    if result.status is StopReason.SPEND_LIMIT:
        await _pause_for_spend_limit(ctx, item, result)
    if result.status is StopReason.MODELS_UNAVAILABLE:
        return _reschedule_or_give_up(result)
    if result.status is StopReason.INTERRUPTED:
        # At once: a worker still running takes it, else the next start's scheduler does.
        raise Reschedule(0.0, "aios-restarting")
    return result


def _paused_for_restart(item: WorkItem) -> bool:
    narration = item.work.narration
    return narration is not None and narration.text == RESTARTING


async def _say_paused(ctx: WorkerContext, item: WorkItem, role: str, writer: PacedWriter) -> None:
    """The progress comment says the agent is paused until AIOS is back (`RESTARTING`)."""

    def record(current: WorkItem) -> WorkItem:
        return replace(current, work=replace(current.work, narration=Narration(role, RESTARTING)))

    await engine.update_item(ctx, item.repo, item.number, record)
    try:
        await writer.finish(RESTARTING)
    except Exception as exc:  # the job is requeued all the same; the next start says more
        log.warning("could not show the pause on GitHub", error=str(exc))


async def _say_back(ctx: WorkerContext, item: WorkItem, role: str, resume: LoopState | None) -> str:
    """Replace the pause notice as the run starts again, so it is shown only while true;
    returns the narration that replaces it."""
    where = f", continuing after step {resume.steps}" if resume is not None else ""
    back = Narration(role, f"back after the restart{where}")

    def record(current: WorkItem) -> WorkItem:
        if not _paused_for_restart(current):
            return current
        return replace(current, work=replace(current.work, narration=back))

    await engine.update_item(ctx, item.repo, item.number, record)
    return back.text


def _saver(ctx: WorkerContext, key: str, workspace: Workspace, base: str) -> CheckpointHook:
    """Saves the run's state with its work tree after every step."""

    async def save(state: LoopState) -> None:
        try:
            packed = await snapshot.take(workspace)
        except snapshot.SnapshotError as exc:
            # The previous checkpoint stays: it matches the work tree it was taken with.
            log.warning("checkpoint skipped", step=state.steps, error=str(exc))
            return
        await checkpoints.save(ctx.redis, key, checkpoints.Checkpoint(state, base, packed))

    return save


async def _resume(
    ctx: WorkerContext, key: str, workspace: Workspace, base: str
) -> LoopState | None:
    """The saved state of this step with its work tree restored, or None to start afresh."""
    saved = await checkpoints.load(ctx.redis, key)
    if saved is None:
        return None
    if saved.base != base:
        # The branch moved (a push since, or the default branch for a first task): the
        # conversation describes files that are not there any more.
        log.info("checkpoint of another commit; starting over", base=saved.base, head=base)
        await checkpoints.forget(ctx.redis, key)
        return None
    try:
        await snapshot.restore(workspace, saved.snapshot)
    except snapshot.SnapshotError as exc:
        log.warning("checkpoint not restorable; starting over", error=str(exc))
        await checkpoints.forget(ctx.redis, key)
        return None
    log.info("resuming the agent from its checkpoint", step=saved.state.steps)
    return saved.state


def item_budgets(item: WorkItem, ceilings: Budgets) -> Budgets:
    """The item's budgets (its repository's settings) within the operator's ceilings."""
    settings = item.settings
    return Budgets(
        per_job_usd=capped(settings.job_budget_usd, ceilings.per_job_usd),
        per_work_item_usd=capped(settings.budget_usd, ceilings.per_work_item_usd),
        per_installation_month_usd=ceilings.per_installation_month_usd,
        per_repo_month_usd=capped(settings.month_budget_usd, ceilings.per_repo_month_usd),
    )


async def _refusal(
    config: AgentConfig, budgets: Budgets, ledger: RedisLedger, item: WorkItem
) -> AgentResult | None:
    """Why this agent step must not start, as a result; None when it may."""
    missing = config.missing_key()
    if missing is not None:
        why = f"{NO_MODEL_KEY}: the workers have no {missing}, so no agent can start."
        return _stopped(StopReason.LLM_ERROR, why)
    budget = budgets.per_work_item_usd
    spent = (await ledger.work_item(item.key)).cost_usd
    if budget is not None and spent >= PAUSE_AT * budget:
        why = (
            f"the work item has spent {format_usd(spent)} of its {format_usd(budget)} budget "
            f"({spent / budget:.0%}); the next step would start past {PAUSE_AT:.0%} of it."
        )
        return _stopped(StopReason.BUDGET, why)
    return None


def _stopped(status: StopReason, why: str) -> AgentResult:
    return AgentResult(status, why, 0, Usage(), 0.0, (), (), None)


async def stop_item(ctx: WorkerContext, item: WorkItem, who: str, result: AgentResult) -> None:
    """An agent that ended without finishing: the item pauses at its budget or fails, saying
    what happened and what would help."""
    if result.status is StopReason.BUDGET and "monthly" not in result.summary:
        await engine.pause(ctx, item, f"the {who} stopped: {result.summary}")
        return
    if result.status is StopReason.BUDGET:  # a month's budget: raising the item's cannot help
        hint = (
            "Next step: raise `budgets.per_month_usd` in `.github/aios.yml` (within the "
            "operator's ceiling) or wait for the next month, then comment `/aios retry`."
        )
        await engine.fail(ctx, item, f"the {who} stopped: {result.summary}", hint=hint)
        return
    hint = STOP_HINTS.get(result.status)
    if result.summary.startswith(NO_MODEL_KEY):
        # No retry hint: running the step again fails the same way until the operator acts.
        variable = AgentConfig.from_env().missing_key() or "ANTHROPIC_API_KEY"
        hint = NO_MODEL_KEY_HINT.format(variable=variable)
    await engine.fail(ctx, item, f"the {who} stopped: {result.summary}", hint=hint)


NO_MODEL_KEY = "no model key"
"""How a refusal for want of a model key begins; `stop_item` knows it by this."""

NO_MODEL_KEY_HINT = (
    "Next step: give the workers a model key. Whoever runs AIOS sets `{variable}` in the "
    "workers' environment or in the `.env` file `aios serve` starts from (or, for an "
    "OpenAI-compatible endpoint, `AIOS_LLM_PROVIDER=openai` with `OPENAI_API_KEY` and "
    "`OPENAI_BASE_URL`), then restarts them."
)

STOP_HINTS = {
    StopReason.TIME_LIMIT: (
        "Next step: comment `/aios retry` to continue from the agent's last step, or make "
        "the task smaller (`/aios plan <feedback>` before implementation)."
    ),
    StopReason.STEP_LIMIT: (
        "Next step: raise `AIOS_AGENT_MAX_STEPS` or make the task smaller (`/aios plan "
        "<feedback>` before implementation), then comment `/aios retry`."
    ),
    StopReason.MODELS_UNAVAILABLE: (
        "Next step: once the model provider answers again (its status page says when), "
        "comment `/aios retry`."
    ),
}
"""What would help after an agent stopped this way; the default is `/aios retry`."""

SPEND_LIMIT_HELP = {
    "anthropic": "console.anthropic.com → Settings → Limits, or Billing for credit",
    "openai": "platform.openai.com → Settings → Limits, or Billing for credit",
}

MODELS_UNAVAILABLE_GIVE_UP_S = 3600.0
"""How long a job keeps being rescheduled while every model stays down before its item fails."""

UNAVAILABLE_SINCE = "aios_models_unavailable_since"
"""RQ job meta: when this job first found every model unavailable (epoch seconds)."""


async def _pause_for_spend_limit(ctx: WorkerContext, item: WorkItem, result: AgentResult) -> None:
    """The account is over its spend limit or out of credit: no retry, nor any other job of
    this provider, will do better until a person acts. Say so on the item and to the operator
    (`aios_llm_stops_total{reason="spend_limit"}` and its alert rule), and end the job.

    The item fails (as *paused: provider spend limit*) rather than pausing at its budget:
    `/aios retry`, not `/aios budget`, is what resumes it once the provider takes calls."""
    error = result.error
    provider, model = (error.provider, error.model) if error else ("?", "?")
    await count_llm_stop(ctx.redis, provider, model, "spend_limit")
    where = SPEND_LIMIT_HELP.get(provider, f"the {provider} account's billing settings")
    said = error.message if error else result.summary
    await engine.fail(
        ctx,
        item,
        f"paused: provider spend limit. {provider} refused {model}: {said}",
        hint=(
            f"Next step: raise the spend limit or add credit ({where}), then comment "
            "`/aios retry`: the work resumes where it stopped."
        ),
    )
    raise Stop("spend_limit", f"{provider} spend limit: {said}")


def _reschedule_or_give_up(result: AgentResult) -> AgentResult:
    """Run the job again when the models may answer; after an hour of that, let it fail."""
    job = get_current_job()
    if job is None:  # not in a worker (a test, `aios agent run`): nothing to reschedule
        return result
    now = time.time()
    since = float(job.meta.setdefault(UNAVAILABLE_SINCE, now))
    if now - since < MODELS_UNAVAILABLE_GIVE_UP_S:
        job.save_meta()
        raise Reschedule(result.retry_in_s or 60.0, "models-unavailable")
    hours = (now - since) / 3600
    return replace(result, summary=f"{result.summary} No model answered for {hours:.1f} h.")


def _narration(step: Step) -> str:
    if step.kind == "model" and step.text.strip():
        text = " ".join(step.text.split())
    elif step.kind == "tool" and step.tool and step.tool != "finish":
        target = step.arguments.get("path") or step.arguments.get("command") or ""
        text = f"{step.tool} `{str(target)[:80]}`" if target else step.tool
    else:
        return ""
    return text if len(text) <= NARRATION_CHARS else text[: NARRATION_CHARS - 1] + "…"
