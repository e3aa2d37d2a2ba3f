"""GitHub's GraphQL endpoint in the fake: the few operations AIOS uses; loud errors otherwise.

Supported, each as the only root field of its operation (variables and aliases work; fragments,
directives and other root fields are recorded as violations and answered with an error):

    mutation { pinIssue(input: {issueId}) { clientMutationId issue { __typename id number } } }
    mutation { markPullRequestReadyForReview(input: {pullRequestId}) { clientMutationId
               pullRequest { <PullRequest> } } }
    mutation { resolveReviewThread(input: {threadId}) { clientMutationId thread { <Thread> } } }
    mutation { unresolveReviewThread(input: {threadId}) { … the same … } }
    query { repository(owner, name) { id nameWithOwner pullRequest(number) { <PullRequest> } } }

    <PullRequest>: __typename id number isDraft title state url
                   reviewThreads(first ≤ 100, after) { totalCount pageInfo { hasNextPage
                   endCursor } nodes { <Thread> } }
    <Thread>:  __typename id isResolved isOutdated path line originalLine startLine diffSide
               viewerCanResolve resolvedBy { <Actor> }
               comments(first ≤ 100, after) { totalCount pageInfo { … } nodes { <Comment> } }
    <Comment>: __typename id databaseId body path line originalLine startLine originalStartLine
               diffHunk createdAt url outdated author { <Actor> } replyTo { id databaseId }
    <Actor>:   __typename login url  (a GitHub App's bot is `Bot` with its login WITHOUT the
               `[bot]` suffix REST uses, as on GitHub)

Thread ids are the threads' node ids; a comment's `databaseId` is its REST id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.testbed.github.graphql.parse import Field, Parser, Unsupported, resolve
from bot.testbed.github.graphql.values import ROOT_VALUES, Context, FieldError
from bot.testbed.github.state import State

DOCS = "https://docs.github.com/graphql"


@dataclass(frozen=True)
class Obj:
    """An object type as far as the fake answers it; `args` are those its field may take."""

    type: str
    fields: Mapping[str, Obj | None]
    args: frozenset[str] = frozenset()


def leaves(*names: str) -> dict[str, Obj | None]:
    return dict.fromkeys(names)


def connection(node: Obj) -> Obj:
    page_info = Obj("PageInfo", leaves("hasNextPage", "endCursor"))
    fields = {**leaves("totalCount"), "pageInfo": page_info, "nodes": node}
    return Obj(f"{node.type}Connection", fields, frozenset({"first", "after"}))


ACTOR = Obj("Actor", leaves("__typename", "login", "url"))
COMMENT = Obj(
    "PullRequestReviewComment",
    {
        **leaves(
            "__typename",
            "id",
            "databaseId",
            "body",
            "path",
            "line",
            "originalLine",
            "startLine",
            "originalStartLine",
            "diffHunk",
            "createdAt",
            "url",
            "outdated",
        ),
        "author": ACTOR,
        "replyTo": Obj("PullRequestReviewComment", leaves("id", "databaseId")),
    },
)
THREAD = Obj(
    "PullRequestReviewThread",
    {
        **leaves(
            "__typename",
            "id",
            "isResolved",
            "isOutdated",
            "path",
            "line",
            "originalLine",
            "startLine",
            "diffSide",
            "viewerCanResolve",
        ),
        "resolvedBy": ACTOR,
        "comments": connection(COMMENT),
    },
)
PULL = Obj(
    "PullRequest",
    {
        **leaves("__typename", "id", "number", "isDraft", "title", "state", "url"),
        "reviewThreads": connection(THREAD),
    },
)
INPUT = frozenset({"input"})
RESOLVED = Obj(
    "ResolveReviewThreadPayload",
    {**leaves("__typename", "clientMutationId"), "thread": THREAD},
    INPUT,
)
ROOTS: dict[tuple[str, str], Obj] = {
    ("mutation", "pinIssue"): Obj(
        "PinIssuePayload",
        {
            **leaves("__typename", "clientMutationId"),
            "issue": Obj("Issue", leaves("__typename", "id", "number")),
        },
        INPUT,
    ),
    ("mutation", "markPullRequestReadyForReview"): Obj(
        "MarkPullRequestReadyForReviewPayload",
        {**leaves("__typename", "clientMutationId"), "pullRequest": PULL},
        INPUT,
    ),
    ("mutation", "resolveReviewThread"): RESOLVED,
    ("mutation", "unresolveReviewThread"): replace(RESOLVED, type="UnresolveReviewThreadPayload"),
    ("query", "repository"): Obj(
        "Repository",
        {
            **leaves("__typename", "id", "nameWithOwner"),
            "pullRequest": replace(PULL, args=frozenset({"number"})),
        },
        frozenset({"owner", "name"}),
    ),
}


@dataclass
class Answer:
    body: dict[str, Any]
    unsupported: str | None = None  # what the fake lacks, for a violation


def execute(state: State, body: Any, visible: list[str], *, html: str) -> Answer:
    """Run one GraphQL request for a token that sees the repositories `visible`."""
    try:
        return _execute(state, body, visible, html)
    except Unsupported as exc:
        return Answer(
            {"errors": [{"message": f"fake does not implement GraphQL: {exc}"}]}, str(exc)
        )


def _execute(state: State, body: Any, visible: list[str], html: str) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise Unsupported("a request without a `query` string")
    operations = Parser(body["query"]).document()
    wanted = body.get("operationName")
    chosen = [op for op in operations if wanted is None or op.name == wanted]
    if len(chosen) != 1:
        raise Unsupported(f"{len(chosen)} operations to choose from (operationName={wanted!r})")
    operation = chosen[0]
    names = [f.name for f in operation.selections]
    spec = ROOTS.get((operation.kind, names[0])) if len(names) == 1 else None
    if spec is None:
        raise Unsupported(f"{operation.kind} {{{' '.join(names)}}}")
    root = operation.selections[0]
    _validate([root], Obj(operation.kind.capitalize(), {root.name: spec}))
    ctx = Context(state, visible, html, body.get("variables") or {})
    args = resolve(root.args, ctx.variables)
    try:
        value = ROOT_VALUES[root.name](ctx, args)
        data: Any = {root.key: _select(ctx, root.selections, value, [root.key])}
    except FieldError as exc:
        data = {root.key: None}
        ctx.errors.append(_error(exc, [root.key]))
    answer: dict[str, Any] = {"data": data}
    if ctx.errors:
        answer["errors"] = ctx.errors
    return Answer(answer)


def _validate(fields: list[Field], spec: Obj) -> None:
    """Refuse selections the fake cannot answer before anything runs, as GraphQL validates."""
    for item in fields:
        if item.name not in spec.fields:
            raise Unsupported(f"{spec.type}.{item.name}")
        nested = spec.fields[item.name]
        extra = set(item.args) - (nested.args if nested is not None else frozenset())
        if extra:
            raise Unsupported(f"{spec.type}.{item.name}({', '.join(sorted(extra))}:)")
        if bool(item.selections) != (nested is not None):
            raise Unsupported(f"{spec.type}.{item.name} with{'out' if nested else ''} a selection")
        if nested is not None:
            _validate(item.selections, nested)


def _select(ctx: Context, fields: list[Field], value: Any, path: list[Any]) -> Any:
    if isinstance(value, list):
        return [_select(ctx, fields, item, [*path, i]) for i, item in enumerate(value)]
    out: dict[str, Any] = {}
    for item in fields:
        here = [*path, item.key]
        found = value[item.name]
        try:
            if callable(found):
                found = found(resolve(item.args, ctx.variables))
        except FieldError as exc:
            ctx.errors.append(_error(exc, here))
            found = None
        if item.selections and found is not None:
            found = _select(ctx, item.selections, found, here)
        out[item.key] = found
    return out


def _error(exc: FieldError, path: list[Any]) -> dict[str, Any]:
    return {
        "type": exc.kind,
        "path": path,
        "locations": [{"line": 1, "column": 1}],
        "message": exc.message,
    }
