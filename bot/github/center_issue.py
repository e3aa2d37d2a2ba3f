"""The Control Center issue on GitHub: found by its marker among the App's own issues, created
once, edited in place.

Redis remembers the issue's number and the digest of the body last written, but it is only a
cache: with it lost (a flushed or replaced Redis), the issue is found again by listing the
issues the App itself opened (`creator=<app>[bot]`) and taking the one whose body opens with
the Control Center's marker, so a Redis loss never makes a second one. One writer at a time
per repository (a Redis lock): two refreshes finding no issue at once would each create one.
A Control Center a maintainer closed stays closed and is still kept current. A new one is
pinned (GitHub's GraphQL `pinIssue`; a repository with three pinned issues keeps it unpinned).
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio
import structlog
from gidgethub import BadRequest, GitHubException
from gidgethub.abc import GitHubAPI

from bot import redis_locks
from bot.workitem.names import CONTROL_CENTER_TITLE, is_control_center

log = structlog.get_logger(__name__)

CENTER_KEY = "aios:center:{repo}"
"""Hash: `issue` (its number) and `digest` (of the body last written) of a Control Center."""
CENTER_LOCK_KEY = "aios:lock:center:{repo}"
LOCK_TIMEOUT_S = 120


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


async def find_center(gh: GitHubAPI, repo: str, app_login: str) -> dict[str, Any] | None:
    """The Control Center issue of `repo`: opened by the App, its body opening with the marker.

    Pull requests (which the App opens too) and anything a person wrote are never it.
    """
    async for issue in gh.getiter(
        "/repos/{+repo}/issues{?creator,state,sort,direction,per_page}",
        {
            "repo": repo,
            "creator": app_login,
            "state": "all",
            "sort": "created",
            "direction": "asc",
            "per_page": 100,
        },
    ):
        user = issue.get("user") or {}
        if (
            "pull_request" not in issue
            and user.get("type") == "Bot"
            and is_control_center(issue.get("body"))
        ):
            return issue
    return None


async def forget_written(client: redis.asyncio.Redis, repo: str) -> None:
    """Make the next refresh write even an unchanged body (a tick to undo is on GitHub)."""
    await client.hdel(CENTER_KEY.format(repo=repo), "digest")


async def publish_center(
    gh: GitHubAPI, client: redis.asyncio.Redis, repo: str, body: str, *, app_login: str
) -> tuple[int, bool]:
    """Write `body` to the Control Center of `repo`, creating the issue if there is none.

    Returns (issue number, whether GitHub was written to).
    """
    if not is_control_center(body):
        raise ValueError("the body must open with the Control Center marker, or it is lost")
    key = CENTER_KEY.format(repo=repo)
    lock = client.lock(
        CENTER_LOCK_KEY.format(repo=repo),
        timeout=LOCK_TIMEOUT_S,
        blocking_timeout=LOCK_TIMEOUT_S,
    )
    async with redis_locks.held(lock):
        known = await client.hgetall(key)
        number = int(known[b"issue"]) if b"issue" in known else None
        wanted = digest(body)
        if number is not None and known.get(b"digest", b"").decode() == wanted:
            return number, False
        if number is not None and not await _edit(gh, repo, number, body):
            number = None  # deleted or transferred: look for another, else make one
        if number is None:
            found = await find_center(gh, repo, app_login)
            if found is not None:
                number = int(found["number"])
                if found.get("body") != body:
                    await _edit(gh, repo, number, body)
            else:
                created = await gh.post(
                    "/repos/{+repo}/issues",
                    {"repo": repo},
                    data={"title": CONTROL_CENTER_TITLE, "body": body},
                )
                number = int(created["number"])
                await pin(gh, repo, str(created.get("node_id") or ""))
        await client.hset(key, mapping={"issue": number, "digest": wanted})
        return number, True


PIN_ISSUE = """
mutation($id: ID!) { pinIssue(input: {issueId: $id}) { issue { id number } } }
"""


async def pin(gh: GitHubAPI, repo: str, node_id: str) -> bool:
    """Pin the new Control Center to the top of the repository's issues (once, when created).

    GitHub pins three issues at most and REST cannot pin; a refusal leaves it unpinned.
    """
    if not node_id:
        return False
    try:
        await gh.graphql(PIN_ISSUE, id=node_id)
    except GitHubException as exc:
        log.info("control center not pinned", repo=repo, why=str(exc)[:200])
        return False
    return True


async def _edit(gh: GitHubAPI, repo: str, number: int, body: str) -> bool:
    """Edit the issue's body; False when the issue is gone (404, 410)."""
    try:
        await gh.patch(
            "/repos/{+repo}/issues/{number}",
            {"repo": repo, "number": number},
            data={"body": body},
        )
    except BadRequest as exc:
        if exc.status_code in (404, 410):
            return False
        raise
    return True
