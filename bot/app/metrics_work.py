"""Gauges `/metrics` computes at scrape time: work items by state, and each installation's
model spend this month beside the monthly budget that caps it.

Counters live in Redis hashes workers add to (`bot.runtime.counters`); these two are states,
not counts, so they are read as they are now: a work item's state is its stored item's, and
the month's spend is the hash the usage ledger adds to on every call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import orjson
import redis.asyncio
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.runtime.counters import INSTALLATION_SPEND_KEY
from bot.workitem import store
from bot.workitem.states import State

MICRO = 1_000_000
"""The ledger stores micro-dollars (`bot.agents.ledger.MICRO`)."""

ITEMS_PER_READ = 500
"""Work items fetched per MGET: bounded replies, however many items are stored."""

INSTALLATION_BUDGET_VARIABLE = "AIOS_BUDGET_INSTALLATION_MONTH_USD"
DEFAULT_INSTALLATION_BUDGET_USD = 500.0
"""The workers' ceiling when the variable is unset (`bot.agents.budget.Budgets`; the web
process loads no agent code, so the default is repeated here and a test pins the two)."""


def installation_budget(environ: Mapping[str, str]) -> float | None:
    """The monthly installation budget the workers apply, read as they read it; None when it
    is unlimited or malformed (the workers refuse to start on a malformed one)."""
    raw = environ.get(INSTALLATION_BUDGET_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_INSTALLATION_BUDGET_USD
    if raw.lower() in ("none", "unlimited", "off"):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def current_month() -> str:
    """`YYYY-MM` in UTC, the ledger's month (`bot.agents.ledger.month_of`)."""
    return datetime.now(UTC).strftime("%Y-%m")


async def items_by_state(client: redis.asyncio.Redis) -> Counter[str]:
    """How many stored work items are in each state: every repository's item index, then
    the items in bounded MGETs (what the Control Center reads, for all repositories)."""
    repos = sorted(r.decode() for r in await client.smembers(store.REPOS_KEY))
    async with client.pipeline(transaction=False) as pipe:
        for repo in repos:
            pipe.smembers(store.REPO_ITEMS_KEY.format(repo=repo))
        indexes = await pipe.execute()
    keys = sorted({key.decode() for members in indexes for key in members})
    counts: Counter[str] = Counter()
    for start in range(0, len(keys), ITEMS_PER_READ):
        chunk = keys[start : start + ITEMS_PER_READ]
        for raw in await client.mget([store.ITEM_KEY.format(key=key) for key in chunk]):
            if raw is not None:
                counts[str(orjson.loads(raw).get("state"))] += 1
    return counts


class WorkGauges(Collector):
    """The last scrape's work items by state and installations' monthly spend and budget."""

    def __init__(self, budget_usd: float | None) -> None:
        self.budget_usd = budget_usd
        self.states: Counter[str] = Counter()
        self.spend_micro: dict[str, int] = {}

    async def refresh(self, client: redis.asyncio.Redis) -> None:
        self.states = await items_by_state(client)
        raw = await client.hgetall(INSTALLATION_SPEND_KEY.format(month=current_month()))
        self.spend_micro = {k.decode(): int(v) for k, v in raw.items()}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        items = GaugeMetricFamily(
            "aios_work_items", "Stored work items in each state", labels=["state"]
        )
        for state in State:  # every state, zeros included: a panel's series never vanish
            items.add_metric([state.value], self.states.get(state.value, 0))
        yield items
        spend = GaugeMetricFamily(
            "aios_installation_month_spend_usd",
            "Model spend of each installation this month (UTC), USD",
            labels=["installation"],
        )
        budget = GaugeMetricFamily(
            "aios_installation_month_budget_usd",
            f"The monthly installation budget ({INSTALLATION_BUDGET_VARIABLE}), USD; "
            "absent when unlimited",
            labels=["installation"],
        )
        for installation, micro in sorted(self.spend_micro.items()):
            spend.add_metric([installation], micro / MICRO)
            if self.budget_usd is not None:
                budget.add_metric([installation], self.budget_usd)
        yield spend
        yield budget
