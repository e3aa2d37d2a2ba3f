"""`aios report`: the scorecard of one repository (or every one) from the stored history.

Reads Redis only (`REDIS_URL`): the work items, their audit trails and the facts recorded when
their pull requests ended; reverts are those the Control Center's refreshes found. Prints the
figures beside their targets, or with `--json` one object per repository.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio

from bot.config.repo_wide import load_repo_wide
from bot.render.scorecard import scorecard_rows
from bot.workitem import history, scorecard, store


async def known_repositories(client: redis.asyncio.Redis) -> dict[str, int | None]:
    """Every repository with a work item → an installation that has it (items stored before
    the repository index existed are only in their installation's set)."""
    found: dict[str, int | None] = {
        r.decode(): None for r in await client.smembers(store.REPOS_KEY)
    }
    async for key in client.scan_iter(
        match=store.INSTALLATION_ITEMS_KEY.format(installation_id="*")
    ):
        installation_id = int(key.decode().split(":")[2])
        for member in await client.smembers(key):
            found[member.decode().rpartition("#")[0]] = installation_id
    return found


async def repository_report(
    client: redis.asyncio.Redis,
    repo: str,
    *,
    window: timedelta,
    until: datetime | None = None,
    installation_id: int | None = None,
) -> scorecard.Scorecard:
    """The scorecard of `repo` over `window` ending `until` (now)."""
    wide = await load_repo_wide(client, repo)
    histories = await history.load_history(client, repo, installation_id=installation_id)
    return scorecard.compute(
        histories,
        until=until or datetime.now(UTC),
        window=window,
        human_cost_per_pr_usd=wide.human_cost_per_pr_usd,
    )


async def build_report(
    redis_url: str, *, repo: str | None, window: timedelta, until: datetime | None = None
) -> dict[str, scorecard.Scorecard]:
    """Repository → scorecard, for `repo` or every repository with a work item."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        known = await known_repositories(client)
        return {
            name: await repository_report(
                client, name, window=window, until=until, installation_id=known.get(name)
            )
            for name in ([repo] if repo else sorted(known))
        }
    finally:
        await client.aclose()


def as_json(report: dict[str, scorecard.Scorecard]) -> str:
    data: dict[str, Any] = {
        "repositories": {
            repo: {**card.to_dict(), "meets_target": card.meets()} for repo, card in report.items()
        },
        "targets": {
            "merged_share": scorecard.TARGET_MERGED_SHARE,
            "human_help_share": scorecard.TARGET_HUMAN_HELP_SHARE,
            "cost_saving": scorecard.TARGET_COST_SAVING,
        },
    }
    return json.dumps(data, indent=2, sort_keys=True)


def as_text(report: dict[str, scorecard.Scorecard]) -> str:
    if not report:
        return "No work items yet: label an issue `aios` to start one.\n"
    blocks = []
    for repo, card in report.items():
        rows = scorecard_rows(card)
        width = max(len(name) for name, _value, _target in rows)
        days = round((card.until - card.since).total_seconds() / 86400)
        lines = [f"{repo} — last {days} days (since {card.since:%Y-%m-%d %H:%M} UTC)"]
        for name, value, target in rows:
            lines.append(f"  {name:<{width}}  {value}{f'   (target: {target})' if target else ''}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
