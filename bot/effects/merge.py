"""The merge effect: merge an agent's pull request when, and only when, the policy holds at
its head commit; otherwise say what blocks it, or wait for the checks still running.

The policy: enough approvals of the *current* head commit from people with write access
(not bots, and not the requester when `require_independent_approval`), the required
checks green at that commit, and GitHub saying the PR can merge. A push after an
approval makes that approval stale. AIOS never approves anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.config.load import read_repo_config
from bot.config.model import WorkflowConfig
from bot.effects.done import Done, FollowUp
from bot.github.checks import CHECK_RUN_NAME
from bot.github.comments import upsert_marked_comment
from bot.github.permissions import can_steer
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.names import merge_blocked_marker
from bot.workitem.states import Event

OK_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


@dataclass
class MergeCheck:
    """Whether to merge now; `waiting` means only checks still running stand in the way."""

    blockers: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    head_sha: str = ""
    approvers: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.blockers and not self.waiting


async def check_merge(
    ctx: WorkerContext, gh: GitHubAPI, item: WorkItem, config: WorkflowConfig, *, app_check: str
) -> MergeCheck:
    """Evaluate the policy at the PR's current head."""
    owner, name = item.repo.split("/")
    pr = await gh.getitem(
        "/repos/{+repo}/pulls/{number}", {"repo": item.repo, "number": item.pr_number}
    )
    result = MergeCheck(head_sha=str(pr["head"]["sha"]))
    if pr.get("state") != "open":
        result.blockers.append("the pull request is not open")
        return result
    result.approvers = await _approvals(ctx, gh, item, result.head_sha, owner, name, config)
    needed = config.required_approvals
    if len(result.approvers) < needed:
        result.blockers.append(
            f"it needs {needed} approving review(s) of the head commit "
            f"`{result.head_sha[:7]}` from people with write access (has {len(result.approvers)})"
        )
    await _checks(gh, item, pr, result, app_check)
    if pr.get("mergeable") is False:
        result.blockers.append("it conflicts with its base branch")
    elif pr.get("mergeable") is None:
        result.waiting.append("GitHub is still computing whether it can merge")
    return result


async def _approvals(
    ctx: WorkerContext,
    gh: GitHubAPI,
    item: WorkItem,
    head_sha: str,
    owner: str,
    name: str,
    config: WorkflowConfig,
) -> list[str]:
    latest: dict[str, dict[str, Any]] = {}
    async for review in gh.getiter(
        "/repos/{+repo}/pulls/{number}/reviews{?per_page}",
        {"repo": item.repo, "number": item.pr_number, "per_page": 100},
    ):
        login = str((review.get("user") or {}).get("login") or "")
        if review.get("state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = review  # a reviewer's last verdict counts
    approvers = []
    for login, review in latest.items():
        user = review.get("user") or {}
        if review.get("state") != "APPROVED" or review.get("commit_id") != head_sha:
            continue
        if config.require_independent_approval and login.lower() == item.created_by.lower():
            continue
        if await can_steer(
            gh, ctx.redis, owner=owner, repo=name, login=login, user_type=user.get("type")
        ):
            approvers.append(login)
    return approvers


async def _checks(
    gh: GitHubAPI, item: WorkItem, pr: dict[str, Any], result: MergeCheck, app_check: str
) -> None:
    required = await _required_contexts(gh, item.repo, str(pr["base"]["ref"]))
    runs = await gh.getitem(
        "/repos/{+repo}/commits/{ref}/check-runs", {"repo": item.repo, "ref": result.head_sha}
    )
    seen: dict[str, dict[str, Any]] = {}
    for run in runs.get("check_runs", []):
        if run.get("name") != app_check:
            seen[str(run["name"])] = run
    names = required if required is not None else list(seen)
    for check in names:
        run = seen.get(check)
        if run is None:
            result.waiting.append(f"the required check `{check}` has not reported yet")
        elif run.get("status") != "completed":
            result.waiting.append(f"the check `{check}` is still running")
        elif run.get("conclusion") not in OK_CONCLUSIONS:
            result.blockers.append(f"the check `{check}` ended with {run.get('conclusion')}")


async def _required_contexts(gh: GitHubAPI, repo: str, branch: str) -> list[str] | None:
    """The base branch's required checks; None when it has no protection (then all must pass)."""
    try:
        data = await gh.getitem(
            "/repos/{+repo}/branches/{branch}", {"repo": repo, "branch": branch}
        )
    except BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    checks = (data.get("protection") or {}).get("required_status_checks") or {}
    contexts = checks.get("contexts")
    return list(contexts) if data.get("protected") and contexts is not None else None


async def merge_at(gh: GitHubAPI, item: WorkItem, config: WorkflowConfig, head_sha: str) -> None:
    """Merge with the configured method at exactly `head_sha`, then delete the branch."""
    await gh.put(
        "/repos/{+repo}/pulls/{number}/merge",
        {"repo": item.repo, "number": item.pr_number},
        data={"merge_method": str(config.merge_method), "sha": head_sha},
    )
    if config.delete_branch_on_merge and item.branch:
        try:
            await gh.delete(
                "/repos/{+repo}/git/refs/{+ref}", {"repo": item.repo, "ref": f"heads/{item.branch}"}
            )
        except BadRequest as exc:
            if exc.status_code != 422:  # already deleted (GitHub's auto-delete setting)
                raise


async def merge(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Merge if the policy holds now; otherwise say what blocks it, or wait for the checks."""
    config = (await read_repo_config(gh, item.repo)).config.workflow
    check = await check_merge(ctx, gh, item, config, app_check=CHECK_RUN_NAME)
    waiting = bool(check.waiting) and not check.blockers

    def note(current: WorkItem) -> WorkItem:
        seen = replace(current.pr, head_sha=check.head_sha, merge_waiting=waiting)
        return replace(current, pr=seen)

    if check.ready:
        await merge_at(gh, item, config, check.head_sha)
        approvers = ", ".join(check.approvers)
        return Done(note, FollowUp(Event.MERGED, "aios", f"approved by {approvers}"))
    reasons = check.blockers or check.waiting
    if check.blockers:
        marker = merge_blocked_marker(item.key)
        body = (
            f"{marker}\nAIOS will merge this pull request once nothing blocks it. Right now:\n\n"
            + "\n".join(f"- {reason}" for reason in check.blockers)
        )
        await upsert_marked_comment(
            gh, item.repo, item.pr_number or item.number, marker=marker, body=body
        )
    return Done(note, FollowUp(Event.MERGE_BLOCKED, "aios", "; ".join(reasons)))
