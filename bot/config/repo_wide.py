"""The repository-wide settings (Control Center, memory, scorecard) as last read, kept in Redis.

A work item keeps the settings it started with (`ItemSettings`), but memories, the Control
Center and the scorecard belong to the repository, not to one item: they follow the file on
the default branch. Jobs that read the file anyway (the Control Center's refresh, learning
from a pull request) store what they read here; jobs that do not (an agent building its
prompt) read it back, and the schema's defaults apply until the file was read once.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio

from bot.config.model import RepoConfig

REPO_WIDE_KEY = "aios:repo-settings:{repo}"
"""Hash of the repository-wide settings as last read from `.github/aios.yml`."""

REPO_WIDE_TTL_S = 30 * 24 * 3600
"""Forgotten after a month without a refresh; the defaults are a safe reading meanwhile."""


@dataclass(frozen=True)
class RepoWide:
    """`control_center`, `memory.*` and `scorecard.*` of a repository's settings."""

    control_center: bool
    memory_auto_accept: bool
    memory_expire_after_days: int
    human_cost_per_pr_usd: float

    @classmethod
    def of(cls, config: RepoConfig) -> RepoWide:
        return cls(
            control_center=config.control_center,
            memory_auto_accept=config.memory.auto_accept,
            memory_expire_after_days=config.memory.expire_after_days,
            human_cost_per_pr_usd=config.scorecard.human_cost_per_pr_usd,
        )


DEFAULTS = RepoWide.of(RepoConfig())


async def store_repo_wide(client: redis.asyncio.Redis, repo: str, wide: RepoWide) -> None:
    key = REPO_WIDE_KEY.format(repo=repo)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(
            key,
            mapping={
                "control_center": int(wide.control_center),
                "memory_auto_accept": int(wide.memory_auto_accept),
                "memory_expire_after_days": wide.memory_expire_after_days,
                "human_cost_per_pr_usd": repr(wide.human_cost_per_pr_usd),
            },
        )
        pipe.expire(key, REPO_WIDE_TTL_S)
        await pipe.execute()


async def load_repo_wide(client: redis.asyncio.Redis, repo: str) -> RepoWide:
    """The settings as last read, or the defaults when they never were (or are unreadable)."""
    raw = {
        k.decode(): v.decode()
        for k, v in (await client.hgetall(REPO_WIDE_KEY.format(repo=repo))).items()
    }
    try:
        return RepoWide(
            control_center=raw["control_center"] == "1",
            memory_auto_accept=raw["memory_auto_accept"] == "1",
            memory_expire_after_days=int(raw["memory_expire_after_days"]),
            human_cost_per_pr_usd=float(raw["human_cost_per_pr_usd"]),
        )
    except (KeyError, ValueError):
        return DEFAULTS
