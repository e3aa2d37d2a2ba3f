"""The `run_fix` job: a fix round on an agent's pull request, and the feedback it consumes.

Review threads, failing CI, the QA review's notes and `/aios fix` requests go in; one push
and an answer in every thread come out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog

from bot import engine
from bot.agents.roster import load_roster
from bot.briefs.fixer import fix_task, fixer_role, parse_fix_answer
from bot.github.permissions import can_steer
from bot.github.threads import open_threads, reply, steered_threads
from bot.jobs.agent_run import run_role, stop_item
from bot.jobs.checkout import checkout, push_work
from bot.jobs.environment import prepared_environment
from bot.jobs.scope import item_scope
from bot.workitem.item import WorkItem
from bot.workitem.parts import FixRequest, Handoff
from bot.workitem.states import Event, State

log = structlog.get_logger(__name__)

MAX_FIX_REQUESTS = 20


@dataclass(frozen=True)
class Taken:
    """What a fix round read at its start; forgotten only once the round succeeds."""

    requests: tuple[FixRequest, ...] = ()
    ci_failure: str | None = None
    qa_notes: str | None = None


def with_fix_request(item: WorkItem, by: str, text: str) -> WorkItem:
    """Remember a maintainer's request (review body, `/aios fix <text>`) for the next round."""
    if not text.strip():
        return item
    requests = (*item.feedback.requests, FixRequest(by, text.strip()))[-MAX_FIX_REQUESTS:]
    return replace(item, feedback=replace(item.feedback, requests=requests))


def settle(item: WorkItem, taken: Taken) -> WorkItem:
    """Forget what a successful round addressed; what arrived during it stays for the next."""
    ci, feedback = item.ci, item.feedback
    if taken.ci_failure is not None and ci.failure == taken.ci_failure:
        ci = replace(ci, failure=None)
    if taken.qa_notes is not None and feedback.qa_notes == taken.qa_notes:
        feedback = replace(feedback, qa_notes=None)
    left = tuple(r for r in feedback.requests if r not in taken.requests)
    return replace(item, ci=ci, feedback=replace(feedback, requests=left))


async def run_fix(installation_id: int, repo: str, issue_number: int) -> None:
    """A fix round: review threads, CI failures and fix requests, one push, replies."""
    async with item_scope("run_fix", installation_id, repo, issue_number) as ctx:
        number = issue_number
        taken = Taken()

        def take(current: WorkItem) -> WorkItem:
            nonlocal taken
            if current.state is not State.IMPLEMENTING or current.pr_number is None:
                return current  # cancelled or failed meanwhile: nothing to fix
            # Read under the lock, forgotten only once the round succeeds (`settle`), so a
            # failed round's retry still has them. Taken before the threads are read: a review
            # arriving after this point sets `feedback.more` again and gets a round of its own.
            taken = Taken(current.feedback.requests, current.ci.failure, current.feedback.qa_notes)
            return replace(current, feedback=replace(current.feedback, more=False))

        item = await engine.update_item(ctx, repo, number, take)
        if item is None or item.state is not State.IMPLEMENTING or item.pr_number is None:
            return
        owner, name = repo.split("/")
        async with ctx.github(installation_id) as gh:

            async def may_steer(login: str) -> bool:
                return await can_steer(gh, ctx.redis, owner=owner, repo=name, login=login)

            found = await open_threads(gh, repo, item.pr_number)
            threads = await steered_threads(found, may_steer)
        role = fixer_role(item)
        persona = load_roster().get(role)
        task = fix_task(item, threads, taken.requests, taken.ci_failure or "", taken.qa_notes or "")
        async with checkout(ctx, item) as workspace:
            assert item.branch is not None
            await workspace.start_branch(number, item.title, name=item.branch)
            async with prepared_environment(ctx, item, workspace, gate=True) as environment:
                if environment is None:
                    return  # the setup failed: the item failed showing how
                # One slot for the round: its brief (open threads) may change between attempts.
                result = await run_role(
                    ctx, item, role, task, workspace, slot="fix", environment=environment
                )
                if not result.ok:
                    await stop_item(ctx, item, f"{role} agent fixing the pull request", result)
                    return
                verdict = await environment.verdict()
            answer = parse_fix_answer(result.summary)
            note = answer.summary if verdict is None else f"{answer.summary}\n\n{verdict.line()}"
            sha = await workspace.commit(
                f"Address review feedback on #{item.pr_number}\n\n{note}",
                agent=persona.signature(personas=item.settings.personas),
            )
            if sha is not None and not await push_work(ctx, item, workspace):
                return  # refused: the item failed saying which files and why
            head = await workspace.head()
        voice = (
            f"{persona.emoji} **{persona.name}** ({persona.title})"
            if item.settings.personas
            else f"**{persona.title}**"
        )
        async with ctx.github(installation_id) as gh:
            for index, thread in enumerate(threads, start=1):
                text = answer.replies.get(f"T{index}")
                if text is None:
                    text = f"Addressed in `{head[:7]}`: {answer.summary}" if sha else answer.summary
                elif sha:
                    text = f"{text}\n\n(`{head[:7]}`)"
                await reply(gh, repo, item.pr_number, thread, f"{voice}: {text}")

        def record(current: WorkItem) -> WorkItem:
            current = settle(current, taken)
            work = replace(
                current.work,
                handoffs=(*current.work.handoffs, Handoff(role, note)),
                narration=None,
            )
            return replace(current, work=work, pr=replace(current.pr, head_sha=head))

        await engine.update_item(ctx, repo, number, record)
        log.info("fix pushed", sha=sha, threads=len(threads))
        await engine.apply(ctx, repo, number, Event.IMPLEMENTATION_DONE, actor=role)
        latest = await engine.load(ctx, repo, number)
        if latest is not None and latest.feedback.more:
            await engine.apply(
                ctx,
                repo,
                number,
                Event.CHANGES_REQUESTED,
                actor="aios",
                detail="feedback that arrived during the last fix round",
            )
