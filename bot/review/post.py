"""Posting a QA review draft to a pull request as one GitHub review, once per commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.github.diff import ReviewComment
from bot.review.draft import ReviewDraft, cap_markdown, code_path
from bot.workitem.names import qa_review_marker

log = structlog.get_logger(__name__)

MAX_REVIEW_BYTES = 65_000
"""GitHub refuses a review body over 65,536 characters; counting UTF-8 bytes stays under however
GitHub counts."""


async def find_review(gh: GitHubAPI, repo: str, pr_number: int, marker: str) -> int | None:
    """The id of a bot's review on the pull request whose body starts with `marker`, if any.

    Only a bot's review counts: a person pasting our marker must not stop the QA review.
    """
    async for review in gh.getiter(
        "/repos/{+repo}/pulls/{number}/reviews{?per_page}",
        {"repo": repo, "number": pr_number, "per_page": 100},
    ):
        if (review.get("body") or "").startswith(marker) and (
            (review.get("user") or {}).get("type") == "Bot"
        ):
            return int(review["id"])
    return None


async def post_review(
    gh: GitHubAPI, repo: str, pr_number: int, commit_id: str, draft: ReviewDraft
) -> int:
    """Post `draft` as one COMMENT review on `commit_id`, once; returns the review's id.

    A review already carrying this PR's and commit's marker is returned as is (a re-run job).
    If GitHub refuses the inline comments (422: the head moved, a line left the diff), the
    review is posted again once with those comments listed in its body.
    """
    marker = qa_review_marker(pr_number, commit_id)
    existing = await find_review(gh, repo, pr_number, marker)
    if existing is not None:
        log.info("qa review already posted", repo=repo, pr=pr_number, review_id=existing)
        return existing
    url = "/repos/{+repo}/pulls/{number}/reviews"
    where = {"repo": repo, "number": pr_number}
    data: dict[str, Any] = {
        "commit_id": commit_id,
        "body": cap_markdown(f"{marker}\n{draft.body}", MAX_REVIEW_BYTES),
        "event": "COMMENT",
    }
    if draft.comments:
        data["comments"] = draft.comments
    try:
        review = await gh.post(url, where, data=data)
    except BadRequest as error:
        if error.status_code != 422 or not draft.comments:
            raise
        log.warning(
            "qa review inline comments refused; posting them in the body",
            repo=repo,
            pr=pr_number,
            comments=len(draft.comments),
            error=str(error)[:300],
        )
        body = f"{marker}\n{draft.body.rstrip()}\n\n{_refused_markdown(draft.comments)}"
        data = {
            "commit_id": commit_id,
            "body": cap_markdown(body, MAX_REVIEW_BYTES),
            "event": "COMMENT",
        }
        review = await gh.post(url, where, data=data)
    log.info(
        "qa review posted", repo=repo, pr=pr_number, review_id=review["id"], blocking=draft.blocking
    )
    return int(review["id"])


def _refused_markdown(comments: Sequence[ReviewComment]) -> str:
    items = []
    for comment in comments:
        where = f"line {comment['line']}"
        start = comment.get("start_line")
        if start is not None and start != comment["line"]:
            where = f"lines {start} to {comment['line']}"
        if comment["side"].upper() == "LEFT":
            where += " (old version)"
        body = comment["body"].strip().replace("\n", "\n  ")
        items.append(f"- {code_path(comment['path'])} {where}: {body}")
    return (
        "GitHub did not accept these comments on the diff (the pull request probably changed "
        "since this review started), so here they are:\n\n" + "\n".join(items) + "\n"
    )
