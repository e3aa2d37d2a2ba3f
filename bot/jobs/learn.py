"""The `learn_from_pull_request` job: what an agent PR came to, and what its reviews taught.

Runs once an agent's pull request is merged or closed. It records the PR's facts for the
scorecard (the merge commit a revert would name, commits people pushed to the agents'
branch), then hands the maintainers' review feedback (inline comments, review bodies and
comments on the PR by people with write access; never a bot's) to the memory distiller on the
cheap route: task kind `summary`, or the repository's `agents.models.triage`, within the
work item's budgets like any agent run. Its answer (`bot.briefs.memory`) becomes proposed
memories with a link to their source comment, or accepted ones with `memory.auto_accept`.
A retried job records the facts again but never asks the model twice for one PR.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import structlog
from gidgethub.abc import GitHubAPI

from bot.agents import memory as memories
from bot.briefs.memory import MemoryFormatError, ReviewFeedback, distill_task, parse_memories
from bot.config.load import read_repo_config
from bot.config.repo_wide import RepoWide, store_repo_wide
from bot.github.permissions import can_steer, is_bot
from bot.jobs.agent_run import run_role
from bot.runtime import refresh
from bot.runtime.context import WorkerContext
from bot.runtime.scope import job_scope
from bot.workitem import history, store
from bot.workitem.item import WorkItem

log = structlog.get_logger(__name__)

LEARNED_KEY = "aios:learned:{key}:{pr}"
"""Set once the distiller answered for this pull request: a retried job does not ask again."""
LEARNED_TTL_S = 90 * 24 * 3600
AGENT_TRAILER = "AIOS-Agent:"
"""Every commit the agents make names its agent in this trailer (`Workspace.commit`)."""


async def learn_from_pull_request(
    installation_id: int, repo: str, issue_number: int, pr_number: int
) -> None:
    """Record the PR's facts, then distil its review feedback into memories."""
    async with job_scope(
        "learn_from_pull_request", installation_id=installation_id, repo=repo, issue=issue_number
    ) as ctx:
        item = await store.load_item(ctx.redis, repo, issue_number)
        if item is None or item.pr_number != pr_number:
            return
        async with ctx.github(installation_id) as gh:
            pr = await gh.getitem(
                "/repos/{+repo}/pulls/{number}", {"repo": repo, "number": pr_number}
            )
            merged = bool(pr.get("merged_at") or pr.get("merged"))
            human = await human_commits(gh, repo, pr_number)
            await history.record_facts(
                ctx.redis,
                item.key,
                merge_sha=str(pr["merge_commit_sha"])
                if merged and pr.get("merge_commit_sha")
                else None,
                human_commits=human,
            )
            wide = RepoWide.of((await read_repo_config(gh, repo)).config)
            await store_repo_wide(ctx.redis, repo, wide)
            learned = LEARNED_KEY.format(key=item.key, pr=pr_number)
            feedback = (
                []
                if await ctx.redis.exists(learned)
                else await review_feedback(ctx, gh, repo, pr_number)
            )
        if feedback:
            candidates = await distil(ctx, item, str(pr.get("title") or ""), merged, feedback)
            await ctx.redis.set(learned, "1", ex=LEARNED_TTL_S)
            stored = await memories.propose(
                ctx.redis, repo, candidates, auto_accept=wide.memory_auto_accept
            )
            log.info("memories distilled", proposed=len(candidates), stored=len(stored))
        await refresh.request(ctx.redis, ctx.jobs, installation_id, repo)


async def human_commits(gh: GitHubAPI, repo: str, pr_number: int) -> int:
    """Commits on the PR that people made: no agent trailer, not authored by a bot."""
    count = 0
    async for commit in gh.getiter(
        "/repos/{+repo}/pulls/{number}/commits{?per_page}",
        {"repo": repo, "number": pr_number, "per_page": 100},
    ):
        message = str((commit.get("commit") or {}).get("message") or "")
        author = commit.get("author") or {}
        name = str(((commit.get("commit") or {}).get("author") or {}).get("name") or "")
        by_bot = is_bot(str(author.get("login") or name), author.get("type"))
        if AGENT_TRAILER not in message and not by_bot:
            count += 1
    return count


async def review_feedback(
    ctx: WorkerContext, gh: GitHubAPI, repo: str, pr_number: int
) -> list[ReviewFeedback]:
    """What people with write access wrote on the PR: inline comments, reviews, comments."""
    found: list[tuple[str, ReviewFeedback]] = []
    where = {"repo": repo, "number": pr_number, "per_page": 100}
    async for comment in gh.getiter("/repos/{+repo}/pulls/{number}/comments{?per_page}", where):
        line = comment.get("line") or comment.get("original_line")
        spot = f"{comment.get('path')}:{line}" if line else str(comment.get("path") or "the diff")
        found.append(_feedback(comment, f"review comment on {spot}", "created_at"))
    async for review in gh.getiter("/repos/{+repo}/pulls/{number}/reviews{?per_page}", where):
        found.append(_feedback(review, "review", "submitted_at"))
    async for comment in gh.getiter("/repos/{+repo}/issues/{number}/comments{?per_page}", where):
        found.append(_feedback(comment, "comment on the pull request", "created_at"))
    owner, name = repo.split("/", 1)
    kept = []
    for _at, feedback in sorted(found, key=lambda pair: pair[0]):
        if not feedback.body.strip() or feedback.body.lstrip().startswith("<!-- aios:"):
            continue
        if feedback.author and await can_steer(
            gh, ctx.redis, owner=owner, repo=name, login=feedback.author
        ):
            kept.append(feedback)
    return kept


def _feedback(data: dict[str, Any], where: str, stamp: str) -> tuple[str, ReviewFeedback]:
    user = data.get("user") or {}
    login = str(user.get("login") or "")
    author = "" if is_bot(login, user.get("type")) else login
    body = str(data.get("body") or "")
    return str(data.get(stamp) or ""), ReviewFeedback(
        author, body, str(data.get("html_url") or ""), where
    )


async def distil(
    ctx: WorkerContext, item: WorkItem, title: str, merged: bool, feedback: list[ReviewFeedback]
) -> list[memories.Candidate]:
    """Ask the cheap model for the lessons; none when it cannot or answers out of contract."""
    assert item.pr_number is not None
    task = distill_task(item.repo, item.pr_number, title, merged, feedback)
    with tempfile.TemporaryDirectory(prefix="aios-learn-") as empty:
        result = await run_role(
            ctx,
            item,
            "cto",
            task,
            Path(empty),
            task_kind="summary",
            model=item.settings.model_for("triage"),
            quiet=True,
        )
    if not result.ok:
        log.warning("memory distiller stopped", status=result.status.value, why=result.summary)
        return []
    try:
        return parse_memories(result.summary, feedback)
    except MemoryFormatError as exc:
        log.warning("memory distiller answered out of contract", error=str(exc))
        return []
