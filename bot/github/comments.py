"""Upsert issue comments found by a hidden marker, so every write AIOS makes is idempotent."""

from __future__ import annotations

from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI


async def find_marked_comment(
    gh: GitHubAPI, repo: str, number: int, marker: str, *, author: str | None = None
) -> dict[str, Any] | None:
    """The first comment on the issue whose body contains `marker` (and by `author`, if given)."""
    async for comment in gh.getiter(
        "/repos/{+repo}/issues/{number}/comments{?per_page}",
        {"repo": repo, "number": number, "per_page": 100},
    ):
        if marker in (comment.get("body") or "") and (
            author is None or (comment.get("user") or {}).get("login") == author
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
    author: str | None = None,
) -> int:
    """Edit the comment carrying `marker`, or create it; returns the comment id.

    `known_id` skips the search when the id was stored; a stale id (comment deleted
    by a human) falls back to searching and then creating.
    """
    if marker not in body:
        raise ValueError("the body must carry its own marker, or the next upsert cannot find it")
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
    existing = await find_marked_comment(gh, repo, number, marker, author=author)
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
