"""The implementation jobs: each plan task by its role's agent, then the hand-over to the PR."""

from __future__ import annotations

from dataclasses import replace

from bot import engine
from bot.agents.roster import load_roster
from bot.briefs.coder import role_task
from bot.jobs.agent_run import run_role, stop_item
from bot.jobs.checkout import checkout, push_work
from bot.jobs.environment import prepared_environment
from bot.jobs.reading import read_issue
from bot.jobs.scope import item_scope
from bot.workitem.item import WorkItem
from bot.workitem.parts import Handoff
from bot.workitem.states import Event, State

NOTHING_CHANGED_HINT = (
    "Next step: say in a comment what should change (and where), then comment `/aios retry`; "
    "or `/aios cancel`."
)


async def run_task(installation_id: int, repo: str, issue_number: int, index: int) -> None:
    """Plan task `index`: its role's agent works on the item's branch and leaves a handoff note."""
    async with item_scope("run_task", installation_id, repo, issue_number) as ctx:
        item = await engine.load(ctx, repo, issue_number)
        if item is None or item.state is not State.IMPLEMENTING or item.plan is None:
            return  # failed or cancelled meanwhile: the tasks after it do not run
        if item.work.tasks_done > index:
            return  # a re-run after this task was recorded: nothing to redo
        plan = item.plan
        role = plan.tasks[index].role
        async with ctx.github(installation_id) as gh:
            issue_view, _comments = await read_issue(ctx, gh, item)
        handoffs = [(h.role, h.note) for h in item.work.handoffs]
        async with checkout(ctx, item) as workspace:
            assert item.branch is not None
            await workspace.start_branch(issue_number, item.title, name=item.branch)
            async with prepared_environment(ctx, item, workspace, gate=True) as environment:
                if environment is None:
                    return  # the setup failed: the item failed showing how
                task = role_task(issue_view, plan, index, handoffs)
                result = await run_role(
                    ctx, item, role, task, workspace, slot=f"task-{index}", environment=environment
                )
                if not result.ok:
                    await stop_item(ctx, item, f"{role} agent", result)
                    return
                verdict = await environment.verdict()
            note = result.summary if verdict is None else f"{result.summary}\n\n{verdict.line()}"
            sha = await workspace.commit(
                f"{plan.tasks[index].title}\n\n{note}",
                agent=load_roster().get(role).signature(personas=item.settings.personas),
            )
            if sha is not None and not await push_work(ctx, item, workspace):
                return  # refused: the item failed saying which files and why

        def record(current: WorkItem) -> WorkItem:
            work = replace(
                current.work,
                handoffs=(*current.work.handoffs, Handoff(role, note)),
                tasks_done=index + 1,
                commits=current.work.commits + (sha is not None),
                narration=None,
            )
            return replace(current, work=work)

        await engine.update_item(ctx, repo, issue_number, record)


async def finish_implementation(installation_id: int, repo: str, issue_number: int) -> None:
    """All tasks done: report it, which opens the draft PR and hands it over."""
    async with item_scope("finish_implementation", installation_id, repo, issue_number) as ctx:
        item = await engine.load(ctx, repo, issue_number)
        if item is None or item.state is not State.IMPLEMENTING:
            return
        tasks = item.plan.tasks if item.plan else ()
        if item.work.tasks_done < len(tasks):
            return  # a task failed and reported it; nothing to hand over
        if item.work.commits == 0 and item.pr_number is None:
            last = item.work.handoffs[-1].note if item.work.handoffs else "(no note)"
            why = (
                "the agents finished without changing any file, so there is no pull request "
                f"to open. The last agent's note: {last}"
            )
            await engine.fail(ctx, item, why, hint=NOTHING_CHANGED_HINT)
            return
        await engine.apply(ctx, repo, issue_number, Event.IMPLEMENTATION_DONE, actor="aios")
