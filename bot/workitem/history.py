"""A repository's work-item history: items, their audit trails and what their PRs came to.

The Control Center, the scorecard and `aios report` read the same history: every stored work
item of the repository (`store.repo_item_keys`), its audit stream (who reported what, when),
and the facts AIOS learned about its pull request once it ended (`PullRequestFacts`: the
merge commit, commits people pushed to the agents' branch, a revert on the default branch).
Reads are pipelined: a repository with 500 items costs three round trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio

from bot.workitem import store
from bot.workitem.audit import AuditEntry
from bot.workitem.item import WorkItem
from bot.workitem.states import State

FACTS_KEY = "aios:facts:{key}"
"""Hash of what AIOS learned about a work item's pull request after it ended."""

FACTS_TTL_S = 400 * 24 * 3600
"""Kept as long as monthly costs: the scorecard looks back 30 days, `aios report` further."""


@dataclass(frozen=True)
class PullRequestFacts:
    """What a work item's pull request came to, recorded when it was merged or closed."""

    merge_sha: str | None = None
    """The commit the merge put on the base branch (a revert names it)."""
    human_commits: int = 0
    """Commits on the agents' branch that people pushed (no `AIOS-Agent:` trailer, no bot)."""
    reverted_by: str | None = None
    """The commit on the default branch that reverted the merge."""
    reverted_at: datetime | None = None

    @classmethod
    def from_fields(cls, raw: Mapping[bytes | str, bytes | str]) -> PullRequestFacts:
        data = {_text(k): _text(v) for k, v in raw.items()}
        reverted_at = data.get("reverted_at")
        try:
            return cls(
                merge_sha=data.get("merge_sha") or None,
                human_commits=int(data.get("human_commits") or 0),
                reverted_by=data.get("reverted_by") or None,
                reverted_at=datetime.fromisoformat(reverted_at) if reverted_at else None,
            )
        except ValueError:
            return cls()


@dataclass(frozen=True)
class ItemHistory:
    """One work item as the scorecard sees it: the item, its trail, its PR's outcome."""

    item: WorkItem
    audit: tuple[AuditEntry, ...] = ()
    facts: PullRequestFacts = PullRequestFacts()

    def first_at(self, state: State) -> datetime | None:
        """When the item first entered `state` (accepted transitions only), or None."""
        return next((e.at for e in self.audit if e.to_state is state and not e.rejected), None)

    def last_at(self, state: State) -> datetime | None:
        return next(
            (e.at for e in reversed(self.audit) if e.to_state is state and not e.rejected), None
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(
    raw: list[tuple[bytes, dict[bytes, bytes]]], *, since: datetime
) -> tuple[AuditEntry, ...]:
    """Parse a stream; an entry this version cannot read (a newer event) is left out, and so
    are those of an earlier item of the same issue (labeled again after it ended)."""
    parsed = []
    for _id, values in raw:
        try:
            entry = AuditEntry.from_dict({_text(k): _text(v) for k, v in values.items()})
        except (KeyError, ValueError):
            continue
        if entry.at >= since:
            parsed.append(entry)
    return tuple(parsed)


async def load_history(
    client: redis.asyncio.Redis, repo: str, *, installation_id: int | None = None
) -> list[ItemHistory]:
    """Every work item of `repo` with its audit trail and PR facts, by issue number."""
    keys = await store.repo_item_keys(client, repo, installation_id)
    items = await store.load_items(client, keys)
    if not items:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for item in items:
            pipe.xrange(store.AUDIT_KEY.format(key=item.key))
            pipe.hgetall(FACTS_KEY.format(key=item.key))
        replies = await pipe.execute()
    trails, facts = replies[0::2], replies[1::2]
    return [
        ItemHistory(item, _entries(trail, since=item.created_at), PullRequestFacts.from_fields(f))
        for item, trail, f in zip(items, trails, facts, strict=True)
    ]


async def record_facts(
    client: redis.asyncio.Redis,
    key: str,
    *,
    merge_sha: str | None = None,
    human_commits: int | None = None,
    reverted_by: str | None = None,
    reverted_at: datetime | None = None,
) -> None:
    """Store what a work item's pull request came to; the fields not given are kept."""
    given = {
        "merge_sha": merge_sha,
        "human_commits": human_commits,
        "reverted_by": reverted_by,
        "reverted_at": reverted_at.isoformat() if reverted_at else None,
    }
    values = {name: str(value) for name, value in given.items() if value is not None}
    if not values:
        return
    name = FACTS_KEY.format(key=key)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(name, mapping=values)  # type: ignore[arg-type]
        pipe.expire(name, FACTS_TTL_S)
        await pipe.execute()


async def load_facts(client: redis.asyncio.Redis, key: str) -> PullRequestFacts:
    return PullRequestFacts.from_fields(await client.hgetall(FACTS_KEY.format(key=key)))


SCORECARD_KEY = "aios:scorecard:{repo}"
"""Hash: the figures of a repository's last computed scorecard, for `/metrics`."""
SCORECARD_REPOS_KEY = "aios:scorecard:repos"
SCORECARD_FIGURES = (
    "started",
    "ended",
    "merged",
    "merged_share",
    "human_help",
    "human_help_share",
    "review_rounds_per_merged",
    "ci_fix_attempts",
    "ci_fixes_green",
    "ci_fix_success",
    "label_to_pr_s",
    "label_to_merge_s",
    "cost_usd",
    "cost_per_merged_usd",
    "cost_saving",
    "reverts",
)
"""The numbers of a `Scorecard` `/metrics` exports (a figure with nothing to count is left out)."""


async def store_scorecard(client: redis.asyncio.Redis, repo: str, card: Any) -> None:
    """Keep a repository's latest scorecard figures for `/metrics` (a `Scorecard`)."""
    values = {
        name: repr(float(value))
        for name in SCORECARD_FIGURES
        if (value := getattr(card, name)) is not None
    }
    key = SCORECARD_KEY.format(repo=repo)
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if values:
            pipe.hset(key, mapping=values)  # type: ignore[arg-type]
        pipe.sadd(SCORECARD_REPOS_KEY, repo)
        await pipe.execute()


async def load_scorecards(client: redis.asyncio.Redis) -> dict[str, dict[str, float]]:
    """Every repository's latest scorecard figures: repo → figure → value."""
    repos = sorted(r.decode() for r in await client.smembers(SCORECARD_REPOS_KEY))
    if not repos:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for repo in repos:
            pipe.hgetall(SCORECARD_KEY.format(repo=repo))
        replies = await pipe.execute()
    return {
        repo: {k.decode(): float(v) for k, v in raw.items()}
        for repo, raw in zip(repos, replies, strict=True)
    }
