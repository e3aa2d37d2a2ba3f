"""Effects on the agents' pull request: open it (an upsert), then hand it to the maintainers."""

from __future__ import annotations

from dataclasses import replace

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.effects.done import NOTHING, Done, FollowUp
from bot.render.pull_request import pull_request_body
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.states import Event

PR_REFUSED_HINT = (
    "Next step: fix what GitHub names (push to the branch yourself if needed), then comment "
    "`/aios retry`; or `/aios cancel`."
)

READY_FOR_REVIEW = (
    "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id})"
    " { pullRequest { isDraft number } } }"
)


async def open_draft_pr(_ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Upsert: the open PR of the item's branch (its body refreshed), or a new draft one."""
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
        try:
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
        except BadRequest as exc:
            if exc.status_code != 422:
                raise
            # GitHub's words say what is wrong (no commits, a branch gone, an open PR).
            why = f"GitHub refused to open the pull request: {exc}"
            return Done(follow_up=FollowUp(Event.JOB_FAILED, "aios", why, hint=PR_REFUSED_HINT))
    number, sha, node_id = int(pr["number"]), str(pr["head"]["sha"]), str(pr["node_id"])

    def record(current: WorkItem) -> WorkItem:
        opened = replace(current.pr, head_sha=sha, node_id=node_id)
        return replace(current, pr_number=number, pr=opened)

    return Done(change=record)


async def request_review(_ctx: WorkerContext, gh: GitHubAPI, item: WorkItem) -> Done:
    """Mark the draft ready and ask the person who asked for the work to review it."""
    if item.pr_number is None:
        return NOTHING
    await gh.graphql(READY_FOR_REVIEW, id=item.pr.node_id)
    if item.created_by:
        await gh.post(
            "/repos/{+repo}/pulls/{number}/requested_reviewers",
            {"repo": item.repo, "number": item.pr_number},
            data={"reviewers": [item.created_by]},
        )
    return NOTHING
