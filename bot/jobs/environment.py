"""A work item's environment in an agent job's workspace (`bot.environment.session`), and what
the item records of it: the choice, the setup, the test verdict and blocked egress, for the
progress comment, QA and the pull request. A failing setup fails the item, showing how."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

from rq import get_current_job

from bot import engine
from bot.agents.config import AgentConfig
from bot.agents.sandbox import SandboxError
from bot.agents.transcript import Transcript, transcript_path
from bot.environment.baseline import base_verdict
from bot.environment.plan import Egress, resolve
from bot.environment.session import Session, environment_session
from bot.environment.verdict import TestVerdict
from bot.github.workspace import Workspace
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.parts import EnvironmentReport

SETUP_HINT = (
    "Next step: fix `environment.setup` in `.github/aios.yml` (or the project file it installs "
    "from) on the default branch, then comment `/aios retry`."
)
SANDBOX_HINT = "Next step: whoever runs AIOS fixes the sandbox (`aios doctor` says how)."


@asynccontextmanager
async def prepared_environment(
    ctx: WorkerContext, item: WorkItem, workspace: Workspace, *, gate: bool = False
) -> AsyncIterator[Session | None]:
    """The item's environment set up in `workspace`; None when it could not be (the item
    failed saying why). With `gate`, a coder's `finish` needs the test verdict."""
    config = AgentConfig.from_env()
    approved_by = item.planning.approved_by  # set only by a maintainer's approval
    plan = resolve(
        item.settings.environment,
        workspace.path,
        Egress.from_env(os.environ),
        approved=item.plan.environment if item.plan is not None and approved_by else None,
        approved_by=approved_by,
    )
    workspace.exclude(plan.cache)
    home = workspace.root / "home"

    async def baseline() -> TestVerdict | None:
        return await base_verdict(
            ctx.redis,
            workspace,
            plan,
            repo=item.repo,
            home=home,
            limits=config.sandbox,
            env_allow=config.sandbox_env_allow,
            mode=config.sandbox_mode,
        )

    session = environment_session(
        plan,
        workspace.path,
        git_dir=workspace.git_dir,
        home=home,
        config=config,
        repo=item.repo,
        baseline=baseline,
        gate=gate,
    )
    async with AsyncExitStack() as stack:
        try:
            entered = await stack.enter_async_context(session)
        except SandboxError as error:
            why = f"the environment could not be set up: {error}"
            await engine.fail(ctx, item, why, hint=SANDBOX_HINT)
            yield None
            return
        _transcribe(config, entered)
        notes = tuple(f"not allowed by this AIOS: {host}" for host in plan.left_out)
        report = EnvironmentReport(
            chosen=plan.chosen, setup=entered.setup.how, notes=notes, blocked=entered.blocked
        )
        await _record(ctx, item, report)
        if not entered.setup.ok:
            why = f"the environment setup failed: {entered.setup.failure_text()}"
            await engine.fail(ctx, item, why, hint=SETUP_HINT)
            yield None
            return
        yield entered
        last = entered.gate.last if entered.gate is not None else None
        after = replace(report, blocked=entered.blocked)
        if last is not None:
            after = replace(after, tests=last.line(), tests_ok=last.ok)
        await _record(ctx, item, after)


def _transcribe(config: AgentConfig, session: Session) -> None:
    """The setup's commands and their (capped) output, in the job's transcript, before what
    its agent does."""
    job = get_current_job()
    if job is None or not session.setup.results:
        return
    transcript = Transcript(transcript_path(config.data_dir, job.id), config.secrets())
    try:
        transcript.write("setup", plan=session.plan.chosen, how=session.setup.how)
        for result in session.setup.results:
            transcript.write("setup_command", command=result.command, result=result.for_model())
    finally:
        transcript.close()


async def _record(ctx: WorkerContext, item: WorkItem, report: EnvironmentReport) -> None:
    """Keep `report` on the item; hosts blocked earlier stay listed, and a verdict stays
    until a newer one replaces it."""

    def update(current: WorkItem) -> WorkItem:
        before = current.work.environment or EnvironmentReport()
        merged = replace(
            report,
            blocked=tuple(dict.fromkeys((*before.blocked, *report.blocked))),
            tests=report.tests if report.tests is not None else before.tests,
            tests_ok=report.tests_ok if report.tests is not None else before.tests_ok,
        )
        return replace(current, work=replace(current.work, environment=merged))

    await engine.update_item(ctx, item.repo, item.number, update)
