"""The work item's one live picture on GitHub: its progress comment and its PR's check run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis.asyncio
from gidgethub.abc import GitHubAPI

from bot.agents.roster import Roster, load_roster
from bot.github.comments import upsert_marked_comment
from bot.render.progress import (
    Note,
    Persona,
    ProgressView,
    Step,
    progress_marker,
    render_check_run,
    render_progress,
)
from bot.workitem import store
from bot.workitem.rules import State, WorkItem

CHECK_RUN_NAME = "AIOS"

_PAST_TRIAGE = frozenset(State) - {State.QUEUED, State.TRIAGE, State.CLARIFYING}
_PAST_PLAN = _PAST_TRIAGE - {State.AWAITING_PLAN_APPROVAL}
_IN_PR = frozenset(
    {State.IN_REVIEW, State.AWAITING_APPROVAL, State.MERGING, State.MERGED, State.VERIFYING}
)


def persona_of(roster: Roster, role: str) -> Persona:
    member = roster.get(role)
    return Persona(name=member.name, emoji=member.emoji, role=member.title)


def progress_view(
    item: WorkItem, *, roster: Roster | None = None, now: datetime | None = None
) -> ProgressView:
    """Everything the progress comment shows, derived from the stored work item alone."""
    roster = roster or load_roster()
    roles = _team_roles(item)
    team = tuple(persona_of(roster, role) for role in roles)
    narration = item.extra.get("narration")
    return ProgressView(
        repo=item.repo,
        number=item.number,
        state=item.state.label,
        started_at=item.created_at,
        now=now or datetime.now(UTC),
        tokens=item.tokens,
        cost_usd=item.cost_usd,
        budget_usd=item.extra.get("budget_usd"),
        team=team,
        steps=tuple(_steps(item, roster)),
        narration=(
            Note(persona_of(roster, narration["role"]), narration["text"]) if narration else None
        ),
        handoff_notes=tuple(
            Note(persona_of(roster, role), note) for role, note in item.extra.get("handoffs", [])
        ),
        failure=item.failure if item.state is State.FAILED else None,
        mentions=frozenset({item.created_by.lower()}) if item.created_by else frozenset(),
    )


_PAST_QA = frozenset({State.AWAITING_APPROVAL, State.MERGING, State.MERGED})


def _team_roles(item: WorkItem) -> list[str]:
    roles: list[str] = list(item.roles)
    for task in (item.plan or {}).get("tasks", []):
        if task["role"] not in roles:
            roles.append(task["role"])
    return roles or ["cto"]


def _steps(item: WorkItem, roster: Roster) -> list[Step]:
    steps: list[Step] = []
    by_cto = "cto" in item.roles
    if by_cto:
        questions = len(item.extra.get("questions", []))
        detail = f"{roster.get('cto').name} asked {questions} question(s)" if questions else ""
        steps.append(Step("Triage and plan", done=item.state in _PAST_TRIAGE, detail=detail))
        approved_by = item.extra.get("approved_by")
        steps.append(
            Step(
                f"Plan approved by @{approved_by}" if approved_by else "Plan approval",
                done=bool(approved_by)
                or (item.state in _PAST_PLAN and not item.extra.get("needs_approval")),
            )
        )
    done_tasks = int(item.extra.get("tasks_done", 0))
    for index, task in enumerate((item.plan or {}).get("tasks", [])):
        member = roster.get(task["role"])
        steps.append(
            Step(
                f"{member.title}: {task['title']}",
                done=index < done_tasks,
                detail=member.name if index >= done_tasks else "",
            )
        )
    pr = f"Draft pull request #{item.pr_number}" if item.pr_number else "Draft pull request"
    steps.append(Step(pr, done=item.pr_number is not None))
    rounds = [
        f"{count} {what}"
        for count, what in (
            (item.review_rounds, "QA fix round(s)"),
            (item.fix_rounds, "review fix round(s)"),
            (item.ci_fix_attempts, "CI fix(es)"),
        )
        if count
    ]
    steps.append(
        Step(
            f"QA review by {roster.get('qa').name}",
            done=item.state in _PAST_QA,
            detail=", ".join(rounds),
        )
    )
    steps.append(Step("Your review", done=item.state is State.MERGED))
    return steps


async def publish_current(
    gh: GitHubAPI, redis: redis.asyncio.Redis, repo: str, number: int
) -> tuple[WorkItem | None, int | None]:
    """Publish the item as stored now, one writer at a time (`store.publish_lock`), so jobs
    publishing at once neither create two check runs nor write an older picture last."""
    async with store.publish_lock(redis, store.item_key(repo, number)):
        item = await store.load_item(redis, repo, number)
        if item is None:
            return None, None
        return item, await publish_progress(gh, item)


async def publish_progress(gh: GitHubAPI, item: WorkItem) -> int:
    """Upsert the progress comment (and the check run once a PR exists); returns the comment id."""
    view = progress_view(item)
    comment_id = await upsert_marked_comment(
        gh,
        item.repo,
        item.number,
        marker=progress_marker(item.repo, item.number),
        body=render_progress(view),
        known_id=item.progress_comment_id,
    )
    head_sha = item.extra.get("head_sha")
    if head_sha:
        await upsert_check_run(gh, item, head_sha, render_check_run(view))
    return comment_id


async def upsert_check_run(
    gh: GitHubAPI, item: WorkItem, head_sha: str, output: dict[str, str]
) -> int:
    """One "AIOS" check run per head commit, edited in place."""
    finished = item.state in (State.MERGED, State.CANCELLED, State.FAILED, State.AWAITING_APPROVAL)
    data: dict[str, Any] = {
        "name": CHECK_RUN_NAME,
        "head_sha": head_sha,
        "external_id": item.key,
        "output": output,
        "status": "completed" if finished else "in_progress",
    }
    if finished:
        data["conclusion"] = {"failed": "failure", "cancelled": "cancelled"}.get(
            item.state.value, "success"
        )
        data["completed_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    existing = await gh.getitem(
        "/repos/{+repo}/commits/{ref}/check-runs{?check_name}",
        {"repo": item.repo, "ref": head_sha, "check_name": CHECK_RUN_NAME},
    )
    ours = [run for run in existing.get("check_runs", []) if run.get("external_id") == item.key]
    if ours:
        run_id = int(ours[0]["id"])
        update = {k: v for k, v in data.items() if k != "head_sha"}
        await gh.patch(
            "/repos/{+repo}/check-runs/{check_run_id}",
            {"repo": item.repo, "check_run_id": run_id},
            data=update,
        )
        return run_id
    created = await gh.post("/repos/{+repo}/check-runs", {"repo": item.repo}, data=data)
    return int(created["id"])
