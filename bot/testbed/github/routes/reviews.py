"""Fake GitHub routes for pull request reviews and review comments, anchored on the real diff.

Refusals a correct bot never earns are also recorded as violations, so a test notices even
when the bot swallows the 422: an inline comment off the diff, approving or requesting
changes on a pull request the App opened itself, and a reply to a reply.
"""

from __future__ import annotations

from typing import Any

from bot.testbed.github.diff import DiffCache
from bot.testbed.github.rest_json import reviews as render_reviews
from bot.testbed.github.reviews import (
    OWN_PULL,
    Draft,
    Unanchored,
    add_reply,
    add_review,
    anchor,
    comments_of,
    pending_review,
    review_refusal,
    submit,
    where,
)
from bot.testbed.github.routes.pulls import bare, find_pull, refresh
from bot.testbed.github.routes.toolkit import (
    Call,
    HTTPError,
    Reply,
    RouteTable,
    not_found,
    paginate,
)
from bot.testbed.github.state import PullRequest, Repo, Review, ReviewComment

routes = RouteTable()

UNPROCESSABLE = "Unprocessable Entity"


def _cache(repo: Repo) -> DiffCache | None:
    git = bare(repo)
    return DiffCache(git) if git is not None else None


def _shown(
    call: Call, repo: Repo, pr: PullRequest, comment: ReviewComment, cache: DiffCache | None
) -> dict[str, Any]:
    return render_reviews.review_comment(call.render, repo, comment, where(cache, pr, comment))


def _refuse(call: Call, reason: str, *, violation: str | None = None) -> HTTPError:
    if violation is not None:
        call.violations.append(f"{call.method} {call.path}: {violation}")
    return HTTPError(422, UNPROCESSABLE, errors=[reason])


def _commit(call: Call, repo: Repo, pr: PullRequest, given: Any) -> str:
    """The commit a review is made on: `commit_id` when it is one of the pull request's."""
    if given is None:
        return pr.head_sha
    git = bare(repo)
    sha = git.rev_parse(str(given)) if git is not None else None
    if sha is None or git is None or git.count_commits(pr.base_sha, sha) == 0:
        raise HTTPError(
            422,
            "Validation Failed",
            errors=[{"resource": "PullRequestReview", "code": "invalid", "field": "commit_id"}],
        )
    return sha


def _drafts(
    call: Call, repo: Repo, pr: PullRequest, commit: str, items: list[dict[str, Any]]
) -> list[Draft]:
    if not items:
        return []
    cache = _cache(repo)
    if cache is None:
        raise call.unsupported("inline review comments on a repository without a git remote")
    files = cache.files(pr.base_sha, commit)
    drafts, problems = [], []
    for item in items:
        if item.get("subject_type") == "file" or (
            item.get("line") is None and item.get("position") is None
        ):
            raise call.unsupported("file-level review comments (without `line` or `position`)")
        try:
            drafts.append(anchor(files, item))
        except Unanchored as exc:
            problems.append(exc)
    if problems:
        for exc in problems:
            call.violations.append(
                f"{call.method} {call.path}: inline comment on {exc.where} is not on the pull "
                f"request's diff ({exc.reason}); GitHub refuses the whole review"
            )
        raise HTTPError(422, UNPROCESSABLE, errors=sorted({exc.reason for exc in problems}))
    return drafts


def _check(
    call: Call,
    pr: PullRequest,
    user: str,
    event: str | None,
    body: str,
    comments: int,
    pending: bool,
) -> None:
    reason = review_refusal(pr, user, event, body, comments, pending)
    if reason is None:
        return
    if reason in OWN_PULL.values():
        raise _refuse(call, reason, violation=f"{reason} (#{pr.number} was opened by {pr.user})")
    raise _refuse(call, reason)


@routes.op("pulls/create-review")
def create_review(call: Call) -> Reply:
    repo, pr = find_pull(call)
    refresh(repo, pr)
    user = call.actor or "ghost"
    event = call.field("event")
    body = str(call.field("body") or "")
    items = list(call.field("comments") or [])
    pending = pending_review(repo, pr.number, call.state.user(user).login) is not None
    _check(call, pr, user, event, body, len(items), pending)
    commit = _commit(call, repo, pr, call.field("commit_id"))
    drafts = _drafts(call, repo, pr, commit, items)
    review = add_review(call.state, repo, pr, user, event, body, commit, drafts)
    return Reply(200, render_reviews.review(call.render, repo, review))


def _review(call: Call) -> tuple[Repo, PullRequest, Review]:
    repo, pr = find_pull(call)
    review = repo.reviews.get(int(call.params["review_id"]))
    if review is None or review.number != pr.number or not _sees(call, review):
        raise not_found()
    return repo, pr, review


def _sees(call: Call, review: Review) -> bool:
    """A pending review is visible to its author only."""
    return review.state != "PENDING" or review.user.lower() == (call.actor or "").lower()


@routes.op("pulls/list-reviews")
def list_reviews(call: Call) -> Reply:
    repo, pr = find_pull(call)
    reviews = [
        r
        for r in sorted(repo.reviews.values(), key=lambda r: r.id)
        if r.number == pr.number and _sees(call, r)
    ]
    return paginate(call, [render_reviews.review(call.render, repo, r) for r in reviews])


@routes.op("pulls/get-review")
def get_review(call: Call) -> Reply:
    repo, _pr, review = _review(call)
    return Reply(200, render_reviews.review(call.render, repo, review))


@routes.op("pulls/submit-review")
def submit_review(call: Call) -> Reply:
    repo, pr, review = _review(call)
    if review.state != "PENDING":
        raise _refuse(call, "Can not submit a non-pending review")
    event = str(call.field("event"))
    body = call.field("body")
    comments = sum(1 for c in repo.review_comments.values() if c.review_id == review.id)
    _check(call, pr, review.user, event, str(body or review.body), comments, False)
    submit(review, event, body)
    return Reply(200, render_reviews.review(call.render, repo, review))


@routes.op("pulls/list-review-comments")
def list_review_comments(call: Call) -> Reply:
    repo, pr = find_pull(call)
    refresh(repo, pr)
    since = call.query.get("since", "")
    comments = [c for c in comments_of(repo, pr.number) if c.updated_at >= since]
    if call.query.get("sort") == "updated":
        comments.sort(key=lambda c: (c.updated_at, c.id))
    if call.query.get("sort") is not None and call.query.get("direction", "desc") == "desc":
        comments.reverse()
    cache = _cache(repo)
    return paginate(call, [_shown(call, repo, pr, c, cache) for c in comments])


def _comment(call: Call) -> tuple[Repo, ReviewComment]:
    repo = call.repo()
    comment = repo.review_comments.get(int(call.params["comment_id"]))
    if comment is None or not _sees(call, repo.reviews[comment.review_id]):
        raise not_found()
    return repo, comment


@routes.op("pulls/get-review-comment")
def get_review_comment(call: Call) -> Reply:
    repo, comment = _comment(call)
    pr = repo.pulls[comment.number]
    refresh(repo, pr)
    return Reply(200, _shown(call, repo, pr, comment, _cache(repo)))


def _reply(call: Call, repo: Repo, pr: PullRequest, to: ReviewComment) -> Reply:
    if to.in_reply_to_id is not None:
        raise _refuse(
            call,
            "Replies to replies are not supported",
            violation=f"reply to comment {to.id}, itself a reply; answer the thread's first "
            f"comment ({to.in_reply_to_id}) instead",
        )
    reply = add_reply(call.state, repo, pr, to, call.actor or "ghost", str(call.field("body")))
    body = _shown(call, repo, pr, reply, _cache(repo))
    return Reply(201, body, {"Location": body["url"]})


@routes.op("pulls/create-reply-for-review-comment")
def create_reply(call: Call) -> Reply:
    repo, pr = find_pull(call)
    refresh(repo, pr)
    repo, to = _comment(call)
    if to.number != pr.number:
        raise not_found()
    return _reply(call, repo, pr, to)


def _single_comment_error(reason: str) -> HTTPError:
    """The same refusal as POST …/comments words it (field errors, not review-level strings)."""
    error: dict[str, Any] = {"resource": "PullRequestReviewComment"}
    if reason.startswith("Path"):
        error.update(code="invalid", field="pull_request_review_thread.path")
    else:
        field = "start_line" if "tart line" in reason else "line"
        error.update(
            code="custom",
            field=f"pull_request_review_thread.{field}",
            message=f"pull_request_review_thread.{field} must be part of the diff",
        )
    return HTTPError(422, "Validation Failed", errors=[error])


@routes.op("pulls/create-review-comment")
def create_review_comment(call: Call) -> Reply:
    repo, pr = find_pull(call)
    refresh(repo, pr)
    if call.field("in_reply_to") is not None:
        to = repo.review_comments.get(int(call.field("in_reply_to")))
        if to is None or to.number != pr.number:
            raise not_found()
        return _reply(call, repo, pr, to)
    commit = _commit(call, repo, pr, call.field("commit_id"))
    try:
        [draft] = _drafts(call, repo, pr, commit, [dict(call.body)])
    except HTTPError as exc:
        if exc.status != 422 or not exc.errors:
            raise
        raise _single_comment_error(str(exc.errors[0])) from exc
    review = add_review(call.state, repo, pr, call.actor or "ghost", "COMMENT", "", commit, [draft])
    [comment] = [c for c in repo.review_comments.values() if c.review_id == review.id]
    body = _shown(call, repo, pr, comment, _cache(repo))
    return Reply(201, body, {"Location": body["url"]})
