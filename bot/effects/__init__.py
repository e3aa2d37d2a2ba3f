"""Carry out a transition's effects: quick GitHub writes inline, agent work as RQ jobs."""

from __future__ import annotations

from dataclasses import replace

import structlog
from gidgethub.abc import GitHubAPI
from rq.job import Job

from bot import engine
from bot.effects.progress import persona_of, publish_current
from bot.github.comments import upsert_marked_comment
from bot.runtime.context import WorkerContext
from bot.runtime.queues import cancel_tracked, job_key, track
from bot.workitem.rules import Effect, Event, WorkItem

log = structlog.get_logger(__name__)

AGENT_JOB_TIMEOUT_S = 3600


async def carry_out(ctx: WorkerContext, item: WorkItem, effects: tuple[Effect, ...]) -> None:
    """Run each effect in order; agent work is enqueued, everything else happens here."""
    async with ctx.github(item.installation_id) as gh:
        for effect in effects:
            log.debug("effect", effect=effect.value, item=item.key)
            if effect is Effect.UPDATE_PROGRESS:
                await _update_progress(ctx, gh, item)
            elif effect is Effect.RUN_CTO_TRIAGE:
                _enqueue(ctx, item, "bot.jobs.run_triage", "triage")
            elif effect is Effect.POST_QUESTIONS:
                await _post_questions(gh, item)
            elif effect is Effect.POST_PLAN:
                await _post_plan(gh, item)
            elif effect is Effect.START_IMPLEMENTATION:
                _enqueue_tasks(ctx, item)
            elif effect is Effect.OPEN_DRAFT_PR:
                item = await _open_draft_pr(ctx, gh, item)
            elif effect is Effect.WATCH_CI:
                _watch_ci(ctx, item)
            elif effect is Effect.RUN_QA_REVIEW:
                _enqueue(ctx, item, "bot.jobs.run_qa_review", "qa")
            elif effect is Effect.RUN_FIX:
                _enqueue(ctx, item, "bot.jobs.run_fix", "fix")
            elif effect is Effect.REQUEST_REVIEW:
                await _request_review(ctx, gh, item)
            elif effect is Effect.CANCEL_JOBS:
                stopped = cancel_tracked(ctx.jobs.connection, item.key)
                log.info("work item jobs cancelled", jobs=len(stopped))
            elif effect is Effect.MERGE:
                await _merge(ctx, gh, item)
            elif effect is Effect.ASK_HUMAN:
                await _ask_human(gh, item)
            elif effect is Effect.POST_FAILURE:
                # Shown by the progress comment (its failure banner names `/aios retry`).
                log.info("effect shown in progress", effect=effect.value)


def _enqueue(ctx: WorkerContext, item: WorkItem, func: str, kind: str, *args: object) -> None:
    job = ctx.jobs.enqueue_agent_job(
        func,
        item.installation_id,
        item.repo,
        item.number,
        *args,
        key=job_key(kind, item.key, item.updated_at.isoformat(), *args),
        installation_id=item.installation_id,
        timeout=AGENT_JOB_TIMEOUT_S,
    )
    track(ctx.jobs.connection, item.key, job)


def _watch_ci(ctx: WorkerContext, item: WorkItem) -> None:
    """Read CI at the new head now: no checks means green at once; a failure already known is
    fixed at once; otherwise the suites' completion events bring the verdict."""
    sha = str(item.extra.get("head_sha") or "")
    if not sha:
        return
    ctx.jobs.enqueue_quick_job(
        "bot.jobs.evaluate_ci",
        item.installation_id,
        item.repo,
        item.number,
        sha,
        key=job_key("ci", item.key, sha, "watch", item.updated_at.isoformat()),
    )


async def _ask_human(gh: GitHubAPI, item: WorkItem) -> None:
    """Say on the PR why the agents stopped and what a maintainer can do next."""
    from bot.render.stops import stop_reason

    why = stop_reason(item)
    if why is None or item.pr_number is None:
        return
    marker = f"<!-- aios:needs-human item={item.key} -->"
    await upsert_marked_comment(
        gh, item.repo, item.pr_number, marker=marker, body=f"{marker}\n{why}"
    )


def _enqueue_tasks(ctx: WorkerContext, item: WorkItem) -> None:
    """One job per plan task, each depending on the one before: one branch, in order."""
    tasks = (item.plan or {}).get("tasks", [])
    stamp = item.updated_at.isoformat()
    previous: Job | None = None
    for index in range(len(tasks)):
        previous = ctx.jobs.enqueue_agent_job(
            "bot.jobs.run_task",
            item.installation_id,
            item.repo,
            item.number,
            index,
            key=job_key("task", item.key, stamp, index),
            installation_id=item.installation_id,
            timeout=AGENT_JOB_TIMEOUT_S,
            depends_on=previous,
        )
        track(ctx.jobs.connection, item.key, previous)
    done = ctx.jobs.enqueue_quick_job(
        "bot.jobs.finish_implementation",
        item.installation_id,
        item.repo,
        item.number,
        key=job_key("implemented", item.key, stamp),
        depends_on=previous,
    )
    track(ctx.jobs.connection, item.key, done)


async def _update_progress(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> None:
    latest, comment_id = await publish_current(gh, ctx.redis, item.repo, item.number)
    if latest is not None and comment_id != latest.progress_comment_id:
        await engine.update_item(
            ctx, item.repo, item.number, lambda i: replace(i, progress_comment_id=comment_id)
        )


async def _post_questions(gh: GitHubAPI, item: WorkItem) -> None:
    from bot.agents.roster import load_roster
    from bot.briefs.cto import Questions, render_questions

    questions = Questions(tuple(item.extra.get("questions", [])))
    persona = persona_of(load_roster(), "cto")
    body = render_questions(item.repo, item.number, questions, persona, mention=item.created_by)
    await upsert_marked_comment(
        gh, item.repo, item.number, marker=body.split("\n", 1)[0], body=body
    )


async def _post_plan(gh: GitHubAPI, item: WorkItem) -> None:
    from bot.agents.roster import load_roster
    from bot.briefs.cto import Plan, render_plan

    roster = load_roster()
    plan = Plan.from_dict(item.plan or {})
    personas = {role: persona_of(roster, role) for role in roster.roles}
    body = render_plan(
        item.repo,
        item.number,
        plan,
        personas,
        require_approval=bool(item.extra.get("needs_approval")),
        approved_by=item.extra.get("approved_by"),
    )
    await upsert_marked_comment(
        gh, item.repo, item.number, marker=body.split("\n", 1)[0], body=body
    )


async def _open_draft_pr(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> WorkItem:
    """Upsert: the open PR of the item's branch, or a new draft one."""
    from bot.render.pull_request import pull_request_body

    owner = item.repo.split("/")[0]
    repository = await gh.getitem("/repos/{+repo}", {"repo": item.repo})
    existing = [
        pr
        async for pr in gh.getiter(
            "/repos/{+repo}/pulls{?state,head}",
            {"repo": item.repo, "state": "open", "head": f"{owner}:{item.branch}"},
        )
    ]
    body = pull_request_body(item)
    if existing:
        pr = existing[0]
        await gh.patch(
            "/repos/{+repo}/pulls/{number}",
            {"repo": item.repo, "number": pr["number"]},
            data={"body": body},
        )
    else:
        pr = await gh.post(
            "/repos/{+repo}/pulls",
            {"repo": item.repo},
            data={
                "title": item.title or f"AIOS: issue #{item.number}",
                "head": item.branch,
                "base": repository["default_branch"],
                "body": body,
                "draft": True,
            },
        )
    number, sha, node_id = int(pr["number"]), str(pr["head"]["sha"]), str(pr["node_id"])

    def record(current: WorkItem) -> WorkItem:
        extra = {**current.extra, "head_sha": sha, "pr_node_id": node_id}
        return replace(current, pr_number=number, extra=extra)

    return await engine.update_item(ctx, item.repo, item.number, record) or record(item)


async def _request_review(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> None:
    latest = await engine.update_item(ctx, item.repo, item.number, lambda i: i) or item
    if latest.pr_number is None:
        return
    await gh.graphql(
        "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id})"
        " { pullRequest { isDraft number } } }",
        id=latest.extra["pr_node_id"],
    )
    if latest.created_by:
        await gh.post(
            "/repos/{+repo}/pulls/{number}/requested_reviewers",
            {"repo": latest.repo, "number": latest.pr_number},
            data={"reviewers": [latest.created_by]},
        )


async def _merge(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> None:
    """Merge if the policy holds now; otherwise say what blocks it, or wait for the checks."""
    from bot.config.load import read_repo_config
    from bot.effects.merge import check_merge, merge
    from bot.effects.progress import CHECK_RUN_NAME

    latest = await engine.update_item(ctx, item.repo, item.number, lambda i: i) or item
    config = (await read_repo_config(gh, item.repo)).config.workflow
    check = await check_merge(ctx, gh, latest, config, app_check=CHECK_RUN_NAME)
    waiting = bool(check.waiting) and not check.blockers

    def note(current: WorkItem) -> WorkItem:
        extra = {**current.extra, "head_sha": check.head_sha, "merge_waiting": waiting}
        return replace(current, extra=extra)

    await engine.update_item(ctx, item.repo, item.number, note)
    if check.ready:
        await merge(gh, latest, config, check.head_sha)
        await engine.apply(
            ctx,
            item.repo,
            item.number,
            Event.MERGED,
            actor="aios",
            detail=f"approved by {', '.join(check.approvers)}",
        )
        return
    reasons = check.blockers or check.waiting
    if check.blockers:
        marker = f"<!-- aios:merge-blocked item={item.key} -->"
        body = (
            f"{marker}\nAIOS will merge this pull request once nothing blocks it. Right now:\n\n"
            + "\n".join(f"- {reason}" for reason in check.blockers)
        )
        await upsert_marked_comment(
            gh, item.repo, item.pr_number or item.number, marker=marker, body=body
        )
    await engine.apply(
        ctx, item.repo, item.number, Event.MERGE_BLOCKED, actor="aios", detail="; ".join(reasons)
    )
