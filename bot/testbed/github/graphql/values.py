"""Values behind the fake's GraphQL fields: pull requests, review threads, their mutations."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.testbed.github.diff import DiffCache
from bot.testbed.github.git import BareRepo
from bot.testbed.github.graphql.parse import Unsupported
from bot.testbed.github.rest_json.renderer import node_id
from bot.testbed.github.reviews import thread_comments, threads_of, where
from bot.testbed.github.routes.pulls import refresh
from bot.testbed.github.state import PullRequest, Repo, ReviewThread, State, iso

MAX_PAGE = 100


class FieldError(Exception):
    """A field GitHub answers with null and an entry in `errors` (NOT_FOUND and the like)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


Lazy = Callable[[dict[str, Any]], Any]
"""A field whose value depends on its arguments (lookups, connections)."""


@dataclass
class Context:
    """One request: the state, the repositories the token sees, where links point."""

    state: State
    visible: list[str]
    html: str
    variables: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


# -- values ------------------------------------------------------------------------------------


def paged(name: str, items: list[Any]) -> Lazy:
    """A connection over `items`: `first` is required (at most 100), `after` is a cursor."""

    def page(args: dict[str, Any]) -> dict[str, Any]:
        first = args.get("first")
        if first is None:
            raise FieldError(
                "MISSING_PAGINATION_BOUNDARIES",
                "You must provide a `first` or "
                f"`last` value to properly paginate the `{name}` connection.",
            )
        if first > MAX_PAGE:
            raise FieldError(
                "EXCESSIVE_PAGINATION",
                f"Requesting {first} records on the "
                f"`{name}` connection exceeds the `first` limit of 100 records.",
            )
        start = _offset(args.get("after"))
        chunk = items[start : start + first]
        end = start + len(chunk)
        return {
            "totalCount": len(items),
            "pageInfo": {
                "hasNextPage": end < len(items),
                "endCursor": _cursor(end) if chunk else None,
            },
            "nodes": chunk,
        }

    return page


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:v2:{offset}".encode()).decode()


def _offset(cursor: Any) -> int:
    if cursor is None:
        return 0
    try:
        return int(base64.b64decode(str(cursor)).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise FieldError(
            "INVALID_CURSOR_ARGUMENTS", f"`{cursor}` does not appear to be a valid cursor."
        ) from exc


def _actor(ctx: Context, login: str) -> dict[str, Any]:
    user = ctx.state.user(login)
    if user.type == "Bot":
        slug = login.removesuffix("[bot]")
        return {"__typename": "Bot", "login": slug, "url": f"{ctx.html}/apps/{slug}"}
    return {"__typename": user.type, "login": user.login, "url": f"{ctx.html}/{user.login}"}


def _pull(ctx: Context, repo: Repo, pr: PullRequest) -> dict[str, Any]:
    refresh(repo, pr)
    cache = DiffCache(BareRepo(repo.git_dir)) if repo.git_dir is not None else None
    threads = [_thread(ctx, repo, pr, t, cache) for t in threads_of(repo, pr.number)]
    return {
        "__typename": "PullRequest",
        "id": node_id("PullRequest", pr.id),
        "number": pr.number,
        "isDraft": pr.draft,
        "title": pr.title,
        "state": "MERGED" if pr.merged_at else pr.state.upper(),
        "url": f"{ctx.html}/{repo.full_name}/pull/{pr.number}",
        "reviewThreads": paged("reviewThreads", threads),
    }


def _thread(
    ctx: Context, repo: Repo, pr: PullRequest, thread: ReviewThread, cache: DiffCache | None
) -> dict[str, Any]:
    root = repo.review_comments[thread.root_id]
    shown = where(cache, pr, root)
    comments = []
    for comment in thread_comments(repo, thread):
        place = where(cache, pr, comment)
        comments.append(
            {
                "__typename": "PullRequestReviewComment",
                "id": node_id("PullRequestReviewComment", comment.id),
                "databaseId": comment.id,
                "body": comment.body,
                "path": comment.path,
                "line": place.line,
                "originalLine": comment.original_line,
                "startLine": place.start_line,
                "originalStartLine": comment.original_start_line,
                "diffHunk": comment.diff_hunk,
                "createdAt": comment.created_at,
                "url": f"{ctx.html}/{repo.full_name}/pull/{pr.number}#discussion_r{comment.id}",
                "outdated": place.outdated,
                "author": _actor(ctx, comment.user),
                "replyTo": {
                    "id": node_id("PullRequestReviewComment", comment.in_reply_to_id),
                    "databaseId": comment.in_reply_to_id,
                }
                if comment.in_reply_to_id is not None
                else None,
            }
        )
    return {
        "__typename": "PullRequestReviewThread",
        "id": node_id("PullRequestReviewThread", thread.id),
        "isResolved": thread.resolved,
        "isOutdated": shown.outdated,
        "path": root.path,
        "line": shown.line,
        "originalLine": root.original_line,
        "startLine": shown.start_line,
        "diffSide": root.side,
        "viewerCanResolve": True,
        "resolvedBy": _actor(ctx, thread.resolved_by) if thread.resolved_by else None,
        "comments": paged("comments", comments),
    }


def _repository(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    full_name = f"{args.get('owner')}/{args.get('name')}"
    repo = ctx.state.repo(full_name)
    if repo is None or full_name.lower() not in {name.lower() for name in ctx.visible}:
        raise FieldError(
            "NOT_FOUND", f"Could not resolve to a Repository with the name '{full_name}'."
        )

    def pull(pull_args: dict[str, Any]) -> dict[str, Any]:
        pr = repo.pulls.get(int(pull_args.get("number") or 0))
        if pr is None:
            raise FieldError(
                "NOT_FOUND",
                f"Could not resolve to a PullRequest with the number of {pull_args.get('number')}.",
            )
        return _pull(ctx, repo, pr)

    return {
        "__typename": "Repository",
        "id": node_id("Repository", repo.id),
        "nameWithOwner": repo.full_name,
        "pullRequest": pull,
    }


def _input(args: dict[str, Any], key: str, mutation: str) -> tuple[str, Any]:
    given = args.get("input")
    if not isinstance(given, dict) or not isinstance(given.get(key), str):
        raise Unsupported(f"{mutation} without input.{key}")
    return given[key], given.get("clientMutationId")


def _not_a_node(ident: str) -> FieldError:
    return FieldError("NOT_FOUND", f"Could not resolve to a node with the global id of '{ident}'")


def _ready(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ident, mutation_id = _input(args, "pullRequestId", "markPullRequestReadyForReview")
    for name in ctx.visible:
        repo = ctx.state.repo(name)
        for pr in repo.pulls.values() if repo else ():
            if repo is not None and node_id("PullRequest", pr.id) == ident:
                pr.draft = False
                pr.issue.updated_at = iso()
                return {
                    "__typename": "MarkPullRequestReadyForReviewPayload",
                    "clientMutationId": mutation_id,
                    "pullRequest": _pull(ctx, repo, pr),
                }
    raise _not_a_node(ident)


def _resolution(resolved: bool) -> Callable[[Context, dict[str, Any]], dict[str, Any]]:
    mutation = "resolveReviewThread" if resolved else "unresolveReviewThread"

    def run(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
        ident, mutation_id = _input(args, "threadId", mutation)
        for name in ctx.visible:
            repo = ctx.state.repo(name)
            for thread in list(repo.threads.values()) if repo else ():
                if repo is not None and node_id("PullRequestReviewThread", thread.id) == ident:
                    thread.resolved_by = ctx.state.app.bot_login if resolved else None
                    pr = repo.pulls[thread.number]
                    refresh(repo, pr)
                    cache = DiffCache(BareRepo(repo.git_dir)) if repo.git_dir else None
                    return {
                        "__typename": f"{mutation[0].upper()}{mutation[1:]}Payload",
                        "clientMutationId": mutation_id,
                        "thread": _thread(ctx, repo, pr, thread, cache),
                    }
        raise _not_a_node(ident)

    return run


MAX_PINNED = 3
"""GitHub pins at most three issues per repository."""


def _pin(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ident, mutation_id = _input(args, "issueId", "pinIssue")
    for name in ctx.visible:
        repo = ctx.state.repo(name)
        for issue in repo.issues.values() if repo else ():
            if repo is not None and node_id("Issue", issue.id) == ident:
                pinned = [i for i in repo.issues.values() if i.pinned]
                if not issue.pinned and len(pinned) >= MAX_PINNED:
                    raise FieldError("UNPROCESSABLE", "You can only pin 3 issues per repository.")
                issue.pinned = True
                value = {"__typename": "Issue", "id": ident, "number": issue.number}
                return {"__typename": "PinIssuePayload", "clientMutationId": mutation_id,
                        "issue": value}  # fmt: skip
    raise _not_a_node(ident)


ROOT_VALUES: dict[str, Callable[[Context, dict[str, Any]], Any]] = {
    "pinIssue": _pin,
    "markPullRequestReadyForReview": _ready,
    "resolveReviewThread": _resolution(True),
    "unresolveReviewThread": _resolution(False),
    "repository": _repository,
}
