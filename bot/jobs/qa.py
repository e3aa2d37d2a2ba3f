"""The QA agent's jobs: review an agent PR in the loop, review any PR on `/aios review`, and run
the tests on `/aios test`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from bot import engine
from bot.agents.roster import load_roster
from bot.briefs.text import json_objects
from bot.config.load import read_repo_config
from bot.github.workspace import Workspace
from bot.jobs.agent_run import checkout, run_role
from bot.jobs.commands import CommandLine, answer_line
from bot.jobs.fix import QA_NOTES
from bot.jobs.steps import fail
from bot.render.progress import neutralize
from bot.review.draft import review_diff
from bot.review.post import post_review
from bot.runtime.context import WorkerContext
from bot.workitem import store
from bot.workitem.rules import Event, State, WorkItem

log = structlog.get_logger(__name__)


class QAStopped(Exception):
    """The QA agent ended without an answer (budget, step limit, model failure)."""


@dataclass(frozen=True)
class PullRequestView:
    number: int
    title: str
    body: str
    base: str
    head_ref: str
    head_sha: str
    head_repo: str
    head_clone_url: str


async def review_item(ctx: WorkerContext, installation_id: int, repo: str, number: int) -> None:
    """The loop's QA round on the work item's PR: one review, then passed or changes asked."""
    item = await engine.update_item(ctx, repo, number, lambda i: i)
    if item is None or item.state is not State.IN_REVIEW or item.pr_number is None:
        return
    async with ctx.github(installation_id) as gh:
        pr = await _pull_request(gh, repo, item.pr_number)
        config = await read_repo_config(gh, repo)
    try:
        async with checkout(ctx, item) as workspace:
            assert item.branch is not None
            await workspace.start_branch(number, item.title, name=item.branch)
            head = await workspace.head()
            draft = await _review(ctx, item, workspace, pr, config.config.paths.ignore_for_review)
    except QAStopped as exc:
        await fail(ctx, item, f"the QA agent stopped: {exc}")
        return
    async with ctx.github(installation_id) as gh:
        await post_review(gh, repo, item.pr_number, head, draft)

    def note(current: WorkItem) -> WorkItem:
        extra = {**current.extra, QA_NOTES: draft.body} if draft.blocking else current.extra
        return replace(current, extra=extra)

    event = Event.REVIEW_CHANGES_REQUESTED if draft.blocking else Event.REVIEW_PASSED
    detail = f"{draft.findings} remark(s)"
    await engine.apply(ctx, repo, number, event, actor="qa", detail=detail, update=note)


async def review_pull_request(
    ctx: WorkerContext,
    installation_id: int,
    repo: str,
    pr_number: int,
    where: CommandLine,
) -> None:
    """`/aios review` on a pull request people wrote: one review, nothing else changes."""
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
    ctx: WorkerContext,
    installation_id: int,
    repo: str,
    pr_number: int,
    where: CommandLine,
) -> None:
    """`/aios test`: the QA agent finds and runs the test suite on the head, and reports."""
    target = await _prepare(ctx, installation_id, repo, pr_number, where)
    if target is None:
        return
    item, pr, _config = target
    if pr.head_repo != repo:
        async with ctx.github(installation_id) as gh:
            await answer_line(gh, repo, where, "AIOS never runs a fork's code: no tests.")
        return
    async with _head_checkout(ctx, item, pr) as (workspace, _head):
        result = await run_role(ctx, item, "qa", _test_task(pr), workspace.path, task_kind="review")
    if result.ok:
        passed, command, summary = _test_answer(result.summary)
        mark = "✅ Tests pass" if passed else "❌ Tests fail"
        ran = f" (`{neutralize(command)}`)" if command else ""
        answer = f"{mark} on `{pr.head_sha[:7]}`{ran}.\n\n{neutralize(summary)}"
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
) -> tuple[WorkItem, PullRequestView, Any] | None:
    """The PR, the config and the item to account usage to; None (and a reply) for a fork."""
    async with ctx.github(installation_id) as gh:
        pr = await _pull_request(gh, repo, pr_number)
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
) -> Any:
    async def ask(task: str) -> str:
        result = await run_role(ctx, item, "qa", task, workspace.path, task_kind="review")
        if not result.ok:
            raise QAStopped(result.summary)
        return result.summary

    diff = await workspace.diff_from(pr.base, head)
    persona = load_roster().get("qa").persona
    return await review_diff(
        diff,
        ask=ask,
        title=pr.title,
        description=pr.body,
        ignore_patterns=ignore,
        persona=persona,
    )


async def _pull_request(gh: Any, repo: str, number: int) -> PullRequestView:
    pr = await gh.getitem("/repos/{+repo}/pulls/{number}", {"repo": repo, "number": number})
    head_repo = (pr["head"].get("repo") or {}).get("full_name") or repo
    return PullRequestView(
        number=number,
        title=str(pr.get("title") or ""),
        body=str(pr.get("body") or ""),
        base=str(pr["base"]["ref"]),
        head_ref=str(pr["head"]["ref"]),
        head_sha=str(pr["head"]["sha"]),
        head_repo=str(head_repo),
        head_clone_url=str((pr["head"].get("repo") or {}).get("clone_url") or ""),
    )


def _test_task(pr: PullRequestView) -> str:
    return (
        f"Run the test suite of this repository on pull request #{pr.number} (checked out). "
        "Find how the project runs its tests (README, CONTRIBUTING, Makefile, pyproject.toml, "
        "package.json, CI workflows), run them, and read the output. Do not edit files.\n\n"
        'Finish with summary = one JSON object: {"passed": true or false, "command": "the '
        'command you ran", "summary": "what passed or failed, and why, in a few lines"}.'
    )


def _test_answer(text: str) -> tuple[bool, str, str]:
    found, _error = json_objects(text)
    for obj in found:
        if isinstance(obj.get("passed"), bool):
            return obj["passed"], str(obj.get("command") or ""), str(obj.get("summary") or "")
    return False, "", f"The QA agent's answer did not say whether the tests passed:\n\n{text}"
