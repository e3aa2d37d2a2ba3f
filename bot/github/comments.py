"""Upsert issue comments found by a hidden marker, so every write AIOS makes is idempotent."""

from __future__ import annotations

from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI


async def find_marked_comment(
    gh: GitHubAPI, repo: str, number: int, marker: str
) -> dict[str, Any] | None:
    """The first comment on the issue that a bot wrote and that starts with `marker`.

    Only a bot's comment counts: a person quoting or pasting our marker into their own
    comment must not make AIOS edit (or fail to edit) the wrong comment.
    """
    async for comment in gh.getiter(
        "/repos/{+repo}/issues/{number}/comments{?per_page}",
        {"repo": repo, "number": number, "per_page": 100},
    ):
        if (comment.get("body") or "").startswith(marker) and (
            (comment.get("user") or {}).get("type") == "Bot"
        ):
            return comment
    return None


async def upsert_marked_comment(
    gh: GitHubAPI,
    repo: str,
    number: int,
    *,
    marker: str,
    body: str,
    known_id: int | None = None,
) -> int:
    """Edit the comment carrying `marker`, or create it; returns the comment id.

    `known_id` skips the search when the id was stored; a stale id (comment deleted
    by a human) falls back to searching and then creating.
    """
    if not body.startswith(marker):
        raise ValueError("the body must start with its marker, or the next upsert cannot find it")
    if known_id is not None:
        try:
            await gh.patch(
                "/repos/{+repo}/issues/comments/{comment_id}",
                {"repo": repo, "comment_id": known_id},
                data={"body": body},
            )
            return known_id
        except BadRequest as exc:
            if exc.status_code != 404:
                raise
    existing = await find_marked_comment(gh, repo, number, marker)
    if existing is not None:
        if existing.get("body") != body:
            await gh.patch(
                "/repos/{+repo}/issues/comments/{comment_id}",
                {"repo": repo, "comment_id": existing["id"]},
                data={"body": body},
            )
        return int(existing["id"])
    created = await gh.post(
        "/repos/{+repo}/issues/{number}/comments",
        {"repo": repo, "number": number},
        data={"body": body},
    )
    return int(created["id"])
