"""The `run_triage` job: the CTO agent reads the issue and the repository, then asks or plans."""

from __future__ import annotations

import os
from dataclasses import replace

from bot import engine
from bot.briefs.cto import cto_task, parse_cto_decision
from bot.environment.offered import offered_commands
from bot.environment.plan import Egress, resolve
from bot.jobs.agent_run import run_role, stop_item
from bot.jobs.checkout import checkout
from bot.jobs.reading import read_issue
from bot.jobs.scope import item_scope
from bot.workitem.item import WorkItem
from bot.workitem.plan import PlanFormatError, Questions
from bot.workitem.states import Event


async def run_triage(installation_id: int, repo: str, issue_number: int) -> None:
    """The CTO agent triages the issue: questions or a plan."""
    async with item_scope("run_triage", installation_id, repo, issue_number) as ctx:
        item = await engine.load(ctx, repo, issue_number)
        if item is None:
            return
        async with ctx.github(installation_id) as gh:
            issue_view, comments = await read_issue(ctx, gh, item)
        asked = item.planning.questions
        # `agents.models.triage` is the model for the CTO's first read of an issue; answers
        # and revisions are planned with `agents.models.cto`.
        first_read = not asked and item.plan is None and not item.planning.feedback
        model = item.settings.model_for("triage") if first_read else None
        async with checkout(ctx, item) as workspace:
            # What setup the clone gets, and what its guides offer: the CTO may propose the
            # latter for the maintainer to approve with the plan (nothing here runs them).
            environment = resolve(
                item.settings.environment, workspace.path, Egress.from_env(os.environ)
            )
            task = cto_task(
                issue_view,
                comments,
                feedback=item.planning.feedback,
                previous_plan=item.plan,
                # Our own comments are skipped when reading the issue: say what was asked.
                asked=Questions(asked) if asked else None,
                environment_note=environment.chosen,
                offered=offered_commands(workspace.path),
            )
            # One slot: the brief names the questions asked, which the first attempt may
            # already have stored before it died.
            result = await run_role(
                ctx, item, "cto", task, workspace, task_kind="plan", model=model, slot="triage"
            )
        if not result.ok:
            await stop_item(ctx, item, "CTO agent", result)
            return
        try:
            decision = parse_cto_decision(result.summary)
        except PlanFormatError as exc:
            await engine.fail(ctx, item, f"the CTO's answer was not a plan or questions: {exc}")
            return
        if isinstance(decision, Questions):

            def ask(current: WorkItem) -> WorkItem:
                planning = replace(current.planning, questions=decision.questions)
                return replace(current, planning=planning)

            await engine.apply(
                ctx, repo, issue_number, Event.TRIAGE_ASKED_QUESTIONS, actor="cto", update=ask
            )
            return

        def with_plan(current: WorkItem) -> WorkItem:
            planning = replace(current.planning, feedback=None)
            return replace(current, plan=decision, planning=planning)

        await engine.apply(
            ctx, repo, issue_number, Event.PLAN_PROPOSED, actor="cto", update=with_plan
        )
