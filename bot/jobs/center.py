"""The `refresh_control_center` job: re-render a repository's Control Center when it is due.

Claims the paced refresh first (`bot.runtime.refresh`), so however many changes asked, one
job writes per slot and none waits. Then: the repository's settings (`control_center`,
`memory.*`, `scorecard.*`, kept for jobs that do not read the file), its whole work-item
history, reverts of merged agent PRs on the default branch (at most every
`REVERT_CHECK_EVERY_S`), memories past their expiry dropped, the scorecard (kept in Redis for
`/metrics`), and the issue written, found or created (`bot.github.center_issue`). With
`control_center: false` everything but the issue still happens.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import structlog
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.agents import memory as memories
from bot.agents.budget import capped, ceilings_from
from bot.agents.ledger import RedisLedger, month_of
from bot.config.load import read_repo_config
from bot.config.repo_wide import RepoWide, store_repo_wide
from bot.github.center_issue import CENTER_KEY, publish_center
from bot.render.center import render_center
from bot.render.center_view import BudgetView, center_view, most_expensive
from bot.runtime import refresh
from bot.runtime.context import WorkerContext
from bot.runtime.scope import job_scope
from bot.workitem import history, scorecard
from bot.workitem.history import ItemHistory
from bot.workitem.states import State

log = structlog.get_logger(__name__)

APP_SLUG_KEY = "aios:app:slug"
REVERT_CHECK_EVERY_S = 900
RETRY_AFTER_FAILURE_MS = 60_000
"""A refresh that failed (GitHub down) is asked for again this much later, not at once."""


async def refresh_control_center(installation_id: int, repo: str) -> None:
    """Re-render `repo`'s Control Center if its paced refresh is due (else return at once)."""
    async with job_scope(
        "refresh_control_center", installation_id=installation_id, repo=repo
    ) as ctx:
        if not await refresh.claim(ctx.redis, installation_id, repo):
            return
        try:
            await _refresh(ctx, installation_id, repo)
        except Exception:
            # The claim moved the next routine refresh an hour away: ask again, a minute on.
            later = refresh.now_ms() + RETRY_AFTER_FAILURE_MS
            await refresh.request(ctx.redis, ctx.jobs, installation_id, repo, at_ms=later)
            raise


async def app_login(ctx: WorkerContext) -> str:
    """The App's bot login (`<slug>[bot]`), the creator of its Control Center issues."""
    slug = await ctx.redis.get(APP_SLUG_KEY)
    if slug is None:
        async with ctx.github_app() as app:
            slug = str((await app.getitem("/app"))["slug"]).encode()
        await ctx.redis.set(APP_SLUG_KEY, slug, ex=24 * 3600)
    return f"{slug.decode()}[bot]"


async def _refresh(ctx: WorkerContext, installation_id: int, repo: str) -> None:
    async with ctx.github(installation_id) as gh:
        try:
            config = (await read_repo_config(gh, repo)).config
        except BadRequest as exc:
            if exc.status_code in (403, 404):
                log.info("repository gone from the installation; refreshes stop")
                await refresh.forget(ctx.redis, installation_id, repo)
                return
            raise
        wide = RepoWide.of(config)
        await store_repo_wide(ctx.redis, repo, wide)
        now = datetime.now(UTC)
        histories = await history.load_history(ctx.redis, repo, installation_id=installation_id)
        if await find_reverts(ctx, gh, repo, histories, now):
            histories = await history.load_history(ctx.redis, repo)
        kept, gone = await memories.expire(
            ctx.redis,
            repo,
            expire_after_days=wide.memory_expire_after_days,
            now=memories.utcnow(),
        )
        if gone:
            log.info("memories expired", ids=[m.id for m in gone])
        card = scorecard.compute(
            histories, until=now, human_cost_per_pr_usd=wide.human_cost_per_pr_usd
        )
        await history.store_scorecard(ctx.redis, repo, card)
        if not wide.control_center:
            return
        ceilings = ceilings_from(os.environ)
        ledger = RedisLedger(ctx.redis)
        budget = BudgetView(
            month=month_of(now),
            installation_spent_usd=(await ledger.installation_month(installation_id)).cost_usd,
            installation_budget_usd=ceilings.per_installation_month_usd,
            repo_spent_usd=(await ledger.repo_month(repo)).cost_usd,
            repo_budget_usd=capped(config.budgets.per_month_usd, ceilings.per_repo_month_usd),
            most_expensive=most_expensive(histories, now),
        )
        view = center_view(
            repo,
            histories,
            now=now,
            memories=kept,
            expire_after_days=wide.memory_expire_after_days,
            budget=budget,
            scorecard=card,
        )
        started = time.perf_counter()
        try:
            number, wrote = await publish_center(
                gh, ctx.redis, repo, render_center(view), app_login=await app_login(ctx)
            )
        except BadRequest as exc:
            if exc.status_code not in (403, 404, 410):
                raise
            # Issues disabled, or no permission to write them: try again at the routine refresh.
            log.warning("control center cannot be written", status=exc.status_code)
            return
        if wrote:
            await refresh.written(ctx.redis, installation_id, repo)
        log.info(
            "control center refreshed",
            issue=number,
            wrote=wrote,
            items=len(histories),
            write_ms=round((time.perf_counter() - started) * 1000),
        )


async def find_reverts(
    ctx: WorkerContext, gh: GitHubAPI, repo: str, histories: list[ItemHistory], now: datetime
) -> bool:
    """Look for reverts of recently merged agent PRs on the default branch; True if found.

    One listing of the default branch's commits since the oldest merge still inside the
    revert window, at most every `REVERT_CHECK_EVERY_S`.
    """
    open_merges = {
        h.item.key: (h.facts.merge_sha, h.item.pr_number, merged_at)
        for h in histories
        if h.item.state is State.MERGED
        and h.facts.merge_sha
        and h.facts.reverted_by is None
        and (merged_at := h.last_at(State.MERGED)) is not None
        and now - merged_at <= scorecard.REVERT_WINDOW
    }
    if not open_merges:
        return False
    key = CENTER_KEY.format(repo=repo)
    checked = await ctx.redis.hget(key, "reverts_checked")
    if checked is not None and time.time() - float(checked) < REVERT_CHECK_EVERY_S:
        return False
    since = min(at for _sha, _pr, at in open_merges.values()) - timedelta(minutes=1)
    commits = []
    async for commit in gh.getiter(
        "/repos/{+repo}/commits{?since,per_page}",
        {"repo": repo, "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": 100},
    ):
        detail = commit.get("commit") or {}
        stamp = ((detail.get("committer") or {}).get("date")) or now.isoformat()
        at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        commits.append((str(commit["sha"]), str(detail.get("message") or ""), at))
    await ctx.redis.hset(key, "reverts_checked", str(time.time()))
    found = scorecard.reverts_of(
        {item_key: (sha, pr) for item_key, (sha, pr, _at) in open_merges.items()}, commits
    )
    for item_key, (sha, at) in found.items():
        await history.record_facts(ctx.redis, item_key, reverted_by=sha, reverted_at=at)
        log.info("merged agent PR reverted", item=item_key, revert=sha)
    return bool(found)
