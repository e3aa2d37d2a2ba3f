"""The merge effect: merge an agent's pull request when, and only when, the policy holds at
its head commit; otherwise say what blocks it, or wait for the checks still running.

The policy, as the work item stored it when it started (editing `.github/aios.yml` changes
the next items, not this one): enough approvals of the *current* head commit from people
with write access (not bots, and not the requester with `require_independent_approval`);
every required check green at that commit, counting check runs and commit statuses alike,
required by name as branch protection or rulesets define them (with neither, every check on
the commit must pass); and GitHub saying the PR can merge. A push after an approval makes
that approval stale. AIOS never approves anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.effects.done import Done, FollowUp
from bot.github.checks import CHECK_RUN_NAME
from bot.github.ci import CIReport, read_ci
from bot.github.comments import upsert_marked_comment
from bot.github.permissions import can_steer
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.names import merge_blocked_marker
from bot.workitem.parts import ItemSettings
from bot.workitem.states import Event


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


async def check_merge(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> MergeCheck:
    """Evaluate the item's merge policy at the PR's current head."""
    settings = item.settings
    pr = await gh.getitem(
        "/repos/{+repo}/pulls/{number}", {"repo": item.repo, "number": item.pr_number}
    )
    result = MergeCheck(head_sha=str(pr["head"]["sha"]))
    if pr.get("state") != "open":
        result.blockers.append("the pull request is not open")
        return result
    result.approvers = await _approvals(ctx, gh, item, result.head_sha, settings)
    needed = settings.required_approvals
    if len(result.approvers) < needed:
        result.blockers.append(
            f"it needs {needed} approving review(s) of the head commit "
            f"`{result.head_sha[:7]}` from people with write access (has {len(result.approvers)})"
        )
    required = await required_checks(gh, item.repo, str(pr["base"]["ref"]))
    report = await read_ci(
        gh,
        item.repo,
        result.head_sha,
        own_app_id=ctx.settings.app_id,
        own_check_name=CHECK_RUN_NAME,
        with_details=False,
    )
    _judge_checks(report, required, result)
    if pr.get("mergeable") is False:
        result.blockers.append("it conflicts with its base branch")
    elif pr.get("mergeable") is None:
        result.waiting.append("GitHub is still computing whether it can merge")
    return result


def _judge_checks(report: CIReport, required: list[str] | None, result: MergeCheck) -> None:
    """Required checks by name, check runs and commit statuses alike; with none required,
    every check on the commit."""
    failed = {check.name: check for check in report.failed}
    pending, passed = set(report.pending), set(report.passed)
    names = required if required is not None else [*failed, *report.pending]
    for name in dict.fromkeys(names):
        if name in failed:
            check = failed[name]
            kind = "commit status" if check.source == "status" else "check"
            result.blockers.append(f"the {kind} `{name}` ended with {check.conclusion}")
        elif name in pending:
            result.waiting.append(f"the check `{name}` is still running")
        elif name not in passed:
            result.waiting.append(f"the required check `{name}` has not reported yet")


async def _approvals(
    ctx: WorkerContext, gh: GitHubAPI, item: WorkItem, head_sha: str, settings: ItemSettings
) -> list[str]:
    owner, name = item.repo.split("/")
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
        if settings.require_independent_approval and login.lower() == item.created_by.lower():
            continue
        if await can_steer(
            gh, ctx.redis, owner=owner, repo=name, login=login, user_type=user.get("type")
        ):
            approvers.append(login)
    return approvers


async def required_checks(gh: GitHubAPI, repo: str, branch: str) -> list[str] | None:
    """The base branch's required checks, from branch protection and rulesets together;
    None when neither requires any (then every check on the commit must pass)."""
    contexts: list[str] = []
    protected = False
    try:
        data = await gh.getitem(
            "/repos/{+repo}/branches/{branch}", {"repo": repo, "branch": branch}
        )
    except BadRequest as exc:
        if exc.status_code != 404:
            raise
    else:
        checks = (data.get("protection") or {}).get("required_status_checks") or {}
        if data.get("protected") and checks.get("contexts") is not None:
            protected = True
            contexts += [str(c) for c in checks["contexts"]]
    try:
        async for rule in gh.getiter(
            "/repos/{+repo}/rules/branches/{branch}{?per_page}",
            {"repo": repo, "branch": branch, "per_page": 100},
        ):
            if rule.get("type") == "required_status_checks":
                protected = True
                listed = (rule.get("parameters") or {}).get("required_status_checks") or []
                contexts += [str(c.get("context")) for c in listed if c.get("context")]
    except BadRequest as exc:
        if exc.status_code != 404:  # rulesets unavailable (GHES before 3.9): protection only
            raise
    return list(dict.fromkeys(contexts)) if protected else None


async def merge_at(gh: GitHubAPI, item: WorkItem, head_sha: str) -> None:
    """Merge with the item's method at exactly `head_sha`, then delete the branch."""
    await gh.put(
        "/repos/{+repo}/pulls/{number}/merge",
        {"repo": item.repo, "number": item.pr_number},
        data={"merge_method": item.settings.merge_method, "sha": head_sha},
    )
    if item.settings.delete_branch_on_merge and item.branch:
        try:
            await gh.delete(
                "/repos/{+repo}/git/refs/{+ref}", {"repo": item.repo, "ref": f"heads/{item.branch}"}
            )
        except BadRequest as exc:
            if exc.status_code != 422:  # already deleted (GitHub's auto-delete setting)
                raise


async def merge(ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Merge if the policy holds now; otherwise say what blocks it, or wait for the checks."""
    check = await check_merge(ctx, gh, item)
    waiting = bool(check.waiting) and not check.blockers

    def note(current: WorkItem) -> WorkItem:
        seen = replace(current.pr, head_sha=check.head_sha, merge_waiting=waiting)
        return replace(current, pr=seen)

    if check.ready:
        await merge_at(gh, item, check.head_sha)
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
    why = "; ".join(reasons)

    def blocked(current: WorkItem) -> WorkItem:
        noted = note(current)
        return replace(noted, needs_human=why) if check.blockers else noted

    return Done(blocked, FollowUp(Event.MERGE_BLOCKED, "aios", why))
