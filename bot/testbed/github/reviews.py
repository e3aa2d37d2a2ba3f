"""Reviews, inline comments and threads on the fake's pull requests: GitHub's rules, no HTTP.

Shared by the REST routes (the App reviewing) and the test-side helpers (people reviewing).
A comment is anchored on the diff `base...commit_id` when it is made. Later it is shown on
the current head when its file did not change since and its line is still in the diff;
otherwise it is *outdated*: `line` and `position` become null and its thread `isOutdated`
(the fake's simplification of GitHub's line tracking: any change to the file outdates it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.testbed.github.diff import RIGHT, SIDES, DiffCache, FileDiff
from bot.testbed.github.state import (
    PullRequest,
    Repo,
    Review,
    ReviewComment,
    ReviewThread,
    State,
    iso,
)

EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
OWN_PULL = {
    "APPROVE": "Can not approve your own pull request",
    "REQUEST_CHANGES": "Can not request changes on your own pull request",
}
ONE_PENDING = "User can only have one pending review per pull request"
# GitHub's wording for this refusal is not documented; the rule is.
BODY_REQUIRED = "Review body is required for REQUEST_CHANGES, and for COMMENT without comments"


class Unanchored(Exception):
    """An inline comment that cannot land on the diff; `reason` is GitHub's message for reviews."""

    def __init__(self, reason: str, field_name: str, path: str, line: Any, side: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field_name = field_name  # pull_request_review_thread.<field> in single-comment errors
        self.where = f"{path}:{line} ({side})"


@dataclass(frozen=True)
class Draft:
    """A validated inline comment, ready to be stored."""

    path: str
    side: str
    line: int
    position: int
    diff_hunk: str
    body: str
    start_line: int | None = None
    start_side: str | None = None


@dataclass(frozen=True)
class Where:
    """Where a comment shows now: on the head (current) or on its old commit (outdated)."""

    commit_id: str
    line: int | None
    start_line: int | None
    position: int | None
    outdated: bool


def anchor(files: dict[str, FileDiff], item: dict[str, Any]) -> Draft:
    """Check one `comments[]` entry against the diff; Unanchored when GitHub would refuse it."""
    path = str(item.get("path", ""))
    side = str(item.get("side") or RIGHT).upper()
    line = item.get("line")
    diff = files.get(path)
    if diff is None:
        raise Unanchored("Path could not be resolved", "path", path, line, side)
    if line is None and item.get("position") is not None:
        found = diff.at_position(int(item["position"]))
        if found is None:
            raise Unanchored("Position could not be resolved", "position", path, None, side)
        side, line = found
    if side not in SIDES or not isinstance(line, int):
        raise Unanchored("Line could not be resolved", "line", path, line, side)
    end = diff.anchor(side, line)
    if end is None:
        raise Unanchored("Line could not be resolved", "line", path, line, side)
    start_line = item.get("start_line")
    start_side = str(item.get("start_side") or side).upper() if start_line is not None else None
    if start_line is not None and start_side is not None:
        start = diff.anchor(start_side, int(start_line))
        if start is None:
            raise Unanchored(
                "Start line could not be resolved", "start_line", path, start_line, start_side
            )
        if start.hunk != end.hunk:
            raise Unanchored(
                "Pull request review thread start line must be part of the same hunk as the line.",
                "start_line",
                path,
                start_line,
                start_side,
            )
        if start.position >= end.position:
            raise Unanchored(
                "Pull request review thread start line must precede the end line.",
                "start_line",
                path,
                start_line,
                start_side,
            )
    return Draft(
        path=path,
        side=side,
        line=line,
        position=end.position,
        diff_hunk=diff.diff_hunk(end.position),
        body=str(item.get("body", "")),
        start_line=int(start_line) if start_line is not None else None,
        start_side=start_side,
    )


def review_refusal(
    pr: PullRequest, user: str, event: str | None, body: str, comments: int, pending: bool
) -> str | None:
    """GitHub's reason to refuse this review before looking at its comments, or None."""
    if event in OWN_PULL and user.lower() == pr.user.lower():
        return OWN_PULL[event]
    if event is None and pending:
        return ONE_PENDING
    if not body.strip() and (event == "REQUEST_CHANGES" or (event == "COMMENT" and not comments)):
        return BODY_REQUIRED
    return None


def pending_review(repo: Repo, number: int, user: str) -> Review | None:
    for review in repo.reviews.values():
        if review.number == number and review.state == "PENDING" and review.user == user:
            return review
    return None


def add_review(
    state: State,
    repo: Repo,
    pr: PullRequest,
    user: str,
    event: str | None,
    body: str,
    commit_id: str,
    drafts: list[Draft],
) -> Review:
    """Store a review (PENDING when `event` is None) with a new thread per inline comment."""
    review = Review(
        id=state.next_id(),
        repo=repo.full_name,
        number=pr.number,
        user=state.user(user).login,
        state=EVENTS[event] if event else "PENDING",
        body=body,
        commit_id=commit_id,
        submitted_at=iso() if event else None,
    )
    repo.reviews[review.id] = review
    for draft in drafts:
        thread = ReviewThread(state.next_id(), repo.full_name, pr.number, 0)
        comment = ReviewComment(
            id=state.next_id(),
            repo=repo.full_name,
            number=pr.number,
            review_id=review.id,
            thread_id=thread.id,
            user=review.user,
            body=draft.body,
            path=draft.path,
            side=draft.side,
            original_line=draft.line,
            original_position=draft.position,
            original_commit_id=commit_id,
            diff_hunk=draft.diff_hunk,
            original_start_line=draft.start_line,
            start_side=draft.start_side,
        )
        thread.root_id = comment.id
        repo.threads[thread.id] = thread
        repo.review_comments[comment.id] = comment
    pr.issue.updated_at = iso()
    return review


def submit(review: Review, event: str, body: str | None) -> None:
    review.state = EVENTS[event]
    if body is not None:
        review.body = body
    review.submitted_at = iso()


def add_reply(
    state: State, repo: Repo, pr: PullRequest, root: ReviewComment, user: str, body: str
) -> ReviewComment:
    """A reply in `root`'s thread; like GitHub, it comes with its own COMMENTED review."""
    review = add_review(state, repo, pr, user, "COMMENT", "", root.original_commit_id, [])
    reply = ReviewComment(
        id=state.next_id(),
        repo=repo.full_name,
        number=pr.number,
        review_id=review.id,
        thread_id=root.thread_id,
        user=review.user,
        body=body,
        path=root.path,
        side=root.side,
        original_line=root.original_line,
        original_position=root.original_position,
        original_commit_id=root.original_commit_id,
        diff_hunk=root.diff_hunk,
        original_start_line=root.original_start_line,
        start_side=root.start_side,
        in_reply_to_id=root.id,
    )
    repo.review_comments[reply.id] = reply
    return reply


def visible(repo: Repo, comment: ReviewComment) -> bool:
    """Comments of a pending review are drafts nobody else sees (and the lists leave out)."""
    return repo.reviews[comment.review_id].state != "PENDING"


def comments_of(repo: Repo, number: int) -> list[ReviewComment]:
    """The pull request's submitted review comments, oldest first."""
    return [
        c
        for c in sorted(repo.review_comments.values(), key=lambda c: c.id)
        if c.number == number and visible(repo, c)
    ]


def thread_comments(repo: Repo, thread: ReviewThread) -> list[ReviewComment]:
    return [c for c in comments_of(repo, thread.number) if c.thread_id == thread.id]


def threads_of(repo: Repo, number: int) -> list[ReviewThread]:
    """Threads with at least one submitted comment, oldest first."""
    shown = {c.thread_id for c in comments_of(repo, number)}
    return [t for t in sorted(repo.threads.values(), key=lambda t: t.id) if t.id in shown]


def where(cache: DiffCache | None, pr: PullRequest, comment: ReviewComment) -> Where:
    """Where `comment` shows on the pull request's current head (see the module docstring)."""
    original = Where(
        comment.original_commit_id,
        comment.original_line,
        comment.original_start_line,
        comment.original_position,
        False,
    )
    if cache is None or comment.original_commit_id == pr.head_sha:
        return original
    outdated = Where(comment.original_commit_id, None, None, None, True)
    if cache.changed(comment.path, comment.original_commit_id, pr.head_sha):
        return outdated
    diff = cache.files(pr.base_sha, pr.head_sha).get(comment.path)
    end = diff.anchor(comment.side, comment.original_line) if diff else None
    if end is None:
        return outdated
    return Where(
        pr.head_sha, comment.original_line, comment.original_start_line, end.position, False
    )
