"""The QA agent's jobs: review an agent PR in the loop, review any PR on `/aios review`, and run
the tests on `/aios test`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from bot import engine
from bot.agents.loop import AgentResult
from bot.agents.roster import load_roster
from bot.briefs.qa import parse_test_answer, test_task
from bot.briefs.views import PullRequestView
from bot.config.load import read_repo_config
from bot.config.parse import ConfigResult
from bot.environment.session import Session
from bot.github.workspace import Workspace
from bot.jobs import checkpoints
from bot.jobs.agent_run import run_role, stop_item
from bot.jobs.checkout import checkout
from bot.jobs.commands import CommandLine, answer_line
from bot.jobs.environment import prepared_environment
from bot.jobs.reading import pulls_fixing, read_pull_request
from bot.jobs.scope import item_scope
from bot.render.markdown import neutralize
from bot.review.draft import ReviewDraft, review_diff
from bot.review.post import post_review
from bot.runtime import catalog
from bot.runtime.context import WorkerContext
from bot.runtime.queues import job_key
from bot.runtime.scope import job_scope
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.states import Event, State

log = structlog.get_logger(__name__)


class QAStopped(Exception):
    """The QA agent ended without an answer (budget, step limit, model failure)."""

    def __init__(self, result: AgentResult) -> None:
        super().__init__(result.summary)
        self.result = result


async def run_qa_review(installation_id: int, repo: str, issue_number: int) -> None:
    """The loop's QA round on the work item's PR: one review, then passed or changes asked."""
    async with item_scope("run_qa_review", installation_id, repo, issue_number) as ctx:
        number = issue_number
        item = await engine.load(ctx, repo, number)
        if item is None or item.state is not State.IN_REVIEW or item.pr_number is None:
            return
        async with ctx.github(installation_id) as gh:
            pr = await read_pull_request(gh, repo, item.pr_number)
            config = await read_repo_config(gh, repo)
        ignore = config.config.paths.ignore_for_review
        try:
            async with checkout(ctx, item) as workspace:
                assert item.branch is not None
                await workspace.start_branch(number, item.title, name=item.branch)
                head = await workspace.head()
                async with prepared_environment(ctx, item, workspace) as environment:
                    if environment is None:
                        return  # the setup failed: the item failed showing how
                    draft = await _review(ctx, item, workspace, pr, ignore, environment=environment)
        except QAStopped as exc:
            await stop_item(ctx, item, "QA agent", exc.result)
            return
        async with ctx.github(installation_id) as gh:
            await post_review(gh, repo, item.pr_number, head, draft)

        def note(current: WorkItem) -> WorkItem:
            if not draft.blocking:
                return current
            return replace(current, feedback=replace(current.feedback, qa_notes=draft.body))

        event = Event.REVIEW_CHANGES_REQUESTED if draft.blocking else Event.REVIEW_PASSED
        detail = f"{draft.findings} remark(s)"
        await engine.apply(ctx, repo, number, event, actor="qa", detail=detail, update=note)


async def review_pull_request(
    installation_id: int,
    repo: str,
    pr_number: int,
    command_number: int,
    comment_id: int,
    line: int,
) -> None:
    """`/aios review` on a pull request people wrote: one review, nothing else changes."""
    async with (
        job_scope("review_pull_request", installation_id=installation_id, repo=repo) as ctx,
        checkpoints.kept_until_done(ctx.redis),
    ):
        where = CommandLine(command_number, comment_id, line)
        target = await _prepare(ctx, installation_id, repo, pr_number, where)
        if target is None:
            return
        item, pr, config = target
        answer = f"🔍 The QA agent reviewed #{pr_number}"
        try:
            async with _head_checkout(ctx, item, pr) as (workspace, head):
                ignore = config.config.paths.ignore_for_review
                draft = await _review(ctx, item, workspace, pr, ignore, head=head)
            async with ctx.github(installation_id) as gh:
                await post_review(gh, repo, pr_number, pr.head_sha, draft)
            verdict = "asks for changes" if draft.blocking else "found nothing blocking"
            answer += f": it {verdict} ({draft.findings} remark(s)); see its review."
        except QAStopped as exc:
            answer = f"⚠️ The QA agent stopped before finishing its review: {neutralize(str(exc))}"
        async with ctx.github(installation_id) as gh:
            await answer_line(gh, repo, where, answer)


async def test_pull_request(
    installation_id: int,
    repo: str,
    pr_number: int,
    command_number: int,
    comment_id: int,
    line: int,
) -> None:
    """`/aios test`: the QA agent finds and runs the test suite on the head, and reports."""
    async with (
        job_scope("test_pull_request", installation_id=installation_id, repo=repo) as ctx,
        checkpoints.kept_until_done(ctx.redis),
    ):
        where = CommandLine(command_number, comment_id, line)
        target = await _prepare(ctx, installation_id, repo, pr_number, where)
        if target is None:
            return
        item, pr, _config = target
        if pr.head_repo != repo:
            async with ctx.github(installation_id) as gh:
                await answer_line(gh, repo, where, "AIOS never runs a fork's code: no tests.")
            return
        async with _head_checkout(ctx, item, pr) as (workspace, _head):
            task = test_task(pr)
            result = await run_role(ctx, item, "qa", task, workspace, task_kind="review")
        if result.ok:
            report = parse_test_answer(result.summary)
            mark = "✅ Tests pass" if report.passed else "❌ Tests fail"
            ran = f" (`{neutralize(report.command)}`)" if report.command else ""
            answer = f"{mark} on `{pr.head_sha[:7]}`{ran}.\n\n{neutralize(report.summary)}"
        else:
            answer = f"⚠️ The QA agent stopped before reporting: {neutralize(result.summary)}"
        async with ctx.github(installation_id) as gh:
            await answer_line(gh, repo, where, answer)


async def _prepare(
    ctx: WorkerContext,
    installation_id: int,
    repo: str,
    pr_number: int,
    where: CommandLine,
) -> tuple[WorkItem, PullRequestView, ConfigResult] | None:
    """The PR, the config and the item to account usage to; None (and a reply) for a fork."""
    async with ctx.github(installation_id) as gh:
        pr = await read_pull_request(gh, repo, pr_number)
        config = await read_repo_config(gh, repo)
        if pr.head_repo != repo and not config.config.workflow.review_fork_prs:
            await answer_line(
                gh,
                repo,
                where,
                f"#{pr_number} comes from a fork; AIOS leaves fork pull requests alone unless "
                "`.github/aios.yml` sets `workflow.review_fork_prs: true`.",
            )
            return None
    item = await store.load_steerable(ctx.redis, repo, where.number)
    if item is None:
        # No work item (a PR people wrote): usage is still recorded, against this PR.
        now = datetime.now(UTC)
        item = WorkItem.new(repo, pr_number, installation_id, title=pr.title, created_by="", at=now)
    return item, pr, config


@asynccontextmanager
async def _head_checkout(
    ctx: WorkerContext, item: WorkItem, pr: PullRequestView
) -> AsyncIterator[tuple[Workspace, str]]:
    """The PR's head checked out, and the commit to diff. A fork's head is only fetched,
    without credentials: the work tree stays at the base, so its code never runs."""
    if pr.head_repo != item.repo:
        async with checkout(ctx, item, ref=pr.base) as workspace:
            yield workspace, await workspace.fetch_untrusted(pr.head_clone_url, pr.head_ref)
    else:
        async with checkout(ctx, item, ref=pr.head_ref) as workspace:
            yield workspace, "HEAD"


async def _review(
    ctx: WorkerContext,
    item: WorkItem,
    workspace: Workspace,
    pr: PullRequestView,
    ignore: tuple[str, ...],
    *,
    head: str = "HEAD",
    environment: Session | None = None,
) -> ReviewDraft:
    """QA's review of the diff from the PR's base to `head`, with the last test verdict."""

    async def ask(task: str) -> str:
        result = await run_role(
            ctx, item, "qa", task, workspace, task_kind="review", environment=environment
        )
        if not result.ok:
            raise QAStopped(result)
        return result.summary

    diff = await workspace.diff_from(pr.base, head)
    persona = load_roster().get("qa").signature(personas=item.settings.personas)
    return await review_diff(
        diff,
        ask=ask,
        title=pr.title,
        description=pr.body,
        ignore_patterns=ignore,
        persona=persona,
        tests=item.work.environment.tests if item.work.environment else None,
    )


QA_LABEL_REFUSAL = (
    "🔍 The `aios:qa` label asks the QA agent to review a pull request, and no open pull "
    "request fixes #{number} yet (its description would say `Fixes #{number}`). To have the "
    "team work on this issue, use the label `aios` (the CTO plans, and asks if anything is "
    "unclear) or `aios:backend`, `aios:frontend` or `aios:devops` (that agent takes it)."
)


async def review_linked_pull_request(
    installation_id: int, repo: str, issue_number: int, requested_by: str
) -> None:
    """`aios:qa` on an issue: a QA review of the open pull request that fixes it, or a reply."""
    async with job_scope(
        "review_linked_pull_request", installation_id=installation_id, repo=repo
    ) as ctx:
        where = CommandLine(issue_number, 0, 0)  # the issue's one answer to the label
        async with ctx.github(installation_id) as gh:
            pulls = await pulls_fixing(gh, repo, issue_number)
            if not pulls:
                await answer_line(gh, repo, where, QA_LABEL_REFUSAL.format(number=issue_number))
                return
            await answer_line(
                gh, repo, where, f"🔍 The QA agent will review #{pulls[0]} and answer here."
            )
        ctx.jobs.enqueue(
            catalog.REVIEW_PULL_REQUEST,
            installation_id,
            repo,
            pulls[0],
            issue_number,
            0,
            0,
            key=job_key("qa-label", repo, pulls[0], issue_number, requested_by),
            installation_id=installation_id,
        )
