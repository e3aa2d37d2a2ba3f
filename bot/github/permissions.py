"""The permission gate: only people with write access to a repository may steer AIOS on it."""

from __future__ import annotations

from typing import Any, Protocol

import gidgethub
import redis.asyncio
import structlog

log = structlog.get_logger(__name__)

WRITE_ROLES = frozenset({"admin", "maintain", "write"})
"""Roles (`role_name`) that may start or steer work."""

LEGACY_WRITE_PERMISSIONS = frozenset({"admin", "write"})
"""`permission` carries the legacy base role: maintain reads as write, triage as read."""

PERMISSION_KEY = "aios:gh:perm:{owner}/{repo}:{login}"


class Reader(Protocol):
    """What the gate needs from a GitHub client: any gidgethub GitHubAPI fits."""

    async def getitem(self, url: str, url_vars: Any = ...) -> Any: ...


def is_bot(login: str, user_type: str | None) -> bool:
    """GitHub Apps and other bots act as `Bot` users whose login ends in `[bot]`."""
    return user_type == "Bot" or login.lower().endswith("[bot]")


async def can_steer(
    gh: Reader,
    redis: redis.asyncio.Redis,
    *,
    owner: str,
    repo: str,
    login: str,
    user_type: str | None = None,
    app_slug: str | None = None,
    cache_ttl_s: int = 300,
) -> bool:
    """Whether `login` may trigger work on owner/repo: write, maintain or admin, never a bot.

    Asks GitHub (`author_association` says nothing reliable about write access) and
    caches the answer, yes or no, for `cache_ttl_s` seconds.

    Raises:
        gidgethub.HTTPException: GitHub failed with something other than 404; nothing
            is cached, so the caller can retry the job rather than silently refuse.
    """
    if is_bot(login, user_type) or (app_slug and login.lower() == f"{app_slug}[bot]".lower()):
        log.info("permission.refused_bot", login=login)
        return False
    key = PERMISSION_KEY.format(owner=owner.lower(), repo=repo.lower(), login=login.lower())
    cached = await redis.get(key)
    if cached is not None:
        return cached in (b"1", "1")
    try:
        answer = await gh.getitem(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            {"owner": owner, "repo": repo, "username": login},
        )
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) != 404:
            raise
        allowed = False  # not a collaborator
        role = "none"
    else:
        allowed = has_write_access(answer)
        role = str(answer.get("role_name") or answer.get("permission"))
    await redis.set(key, "1" if allowed else "0", ex=max(1, cache_ttl_s))
    log.info("permission.checked", repo=f"{owner}/{repo}", login=login, role=role, allowed=allowed)
    return allowed


def has_write_access(answer: dict[str, Any]) -> bool:
    """Read a `collaborators/{username}/permission` response.

    `role_name` names the role (admin, maintain, write, triage, read, or a custom role);
    a custom role's base shows in the legacy `permission` (admin/write/read/none).
    """
    role = str(answer.get("role_name") or "").lower()
    permission = str(answer.get("permission") or "").lower()
    return role in WRITE_ROLES or permission in LEGACY_WRITE_PERMISSIONS
