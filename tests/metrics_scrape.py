"""Scraping `/metrics` of a live app, and reading which metrics a PromQL expression names:
what the monitoring tests compare the dashboard and the alert rules against."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import redis
import redis.asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.agents.breaker import RedisBreaker
from bot.agents.ledger import RedisLedger, UsageScope
from bot.agents.llm.types import Usage
from bot.app.metrics import WORKER_COUNTERS
from bot.app.web import create_app
from bot.handlers import build_router
from bot.settings import Settings

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]

WEBHOOK_SECRET = "monitoring-test-secret"


def make_app(redis_url: str, **settings: Any) -> web.Application:
    client = redis.asyncio.Redis.from_url(redis_url)
    app = create_app(
        Settings(webhook_secret=WEBHOOK_SECRET, redis_url=redis_url, **settings),
        redis_client=client,
        router=build_router(),
    )

    async def close(_app: web.Application) -> None:
        await client.aclose()

    app.on_cleanup.append(close)
    return app


async def fetch_metrics(app: web.Application, headers: dict[str, str] | None = None) -> str:
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics", headers=headers or {})
        assert response.status == 200, await response.text()
        return await response.text()


def parse(text: str) -> Series:
    """(sample name, sorted labels) → value, for every sample of the exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def live_samples(redis_url: str) -> dict[str, set[str]]:
    """Sample name → label names, scraped over HTTP from a live app after one of everything
    was recorded: a value in every counter workers keep, a model call on the ledger, a work
    item's state, an open circuit, a delivery answered."""
    sync = redis.Redis.from_url(redis_url)
    for counter in WORKER_COUNTERS:
        sync.hset(counter.key, "|".join(["x"] * len(counter.labels)), 1)
    sync.close()

    async def scrape() -> str:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            await RedisBreaker(client, threshold=1).failure("anthropic:claude-sonnet-5-5")
            scope = UsageScope("job-1", "octo/hello#1", "octo/hello", 7, role="backend")
            await RedisLedger(client).record(scope, "anthropic:claude", Usage(1, 1, 1, 1), 0.01)
        finally:
            await client.aclose()
        app = make_app(redis_url)
        async with TestClient(TestServer(app)) as http:
            await http.post("/webhook", data=b"{}", headers={"X-GitHub-Event": "issues"})
            response = await http.get("/metrics")
            return await response.text()

    samples: dict[str, set[str]] = {}
    for (name, labels), _value in parse(asyncio.run(scrape())).items():
        samples.setdefault(name, set()).update(label for label, _ in labels)
    return samples


_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # a string: nothing in it is a name
    r"|\[[^\]]*\]"  # a range or subquery: [5m], [$__range]
    r"|(?P<name>[a-zA-Z_:][\w:]*)\s*(?P<labels>\{[^}]*\})?(?P<call>\s*\()?"
)
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"')
NOT_METRICS = frozenset(
    "sum min max avg group stddev stdvar count count_values bottomk topk quantile "
    "and or unless bool offset inf nan".split()
)
"""Aggregation operators and keywords: words in PromQL that are not metric names."""


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """Each metric a PromQL expression selects, with the label names its matchers use.

    Functions (a name before `(`), aggregations, keywords, strings, ranges and the label
    lists of `by (...)` and friends are not metric names; what is left is.
    """
    found: list[tuple[str, set[str]]] = []
    for match in _TOKEN.finditer(_GROUPING.sub(" ", expr)):
        name = match.group("name")
        if name is None or match.group("call") or name in NOT_METRICS:
            continue
        found.append((name, set(_MATCHER.findall(match.group("labels") or ""))))
    return found


def grouping_labels(expr: str) -> set[str]:
    """The label names of every `by (...)`, `on (...)` and friends in the expression."""
    return {
        label.strip() for labels in _GROUPING.findall(expr) for label in labels.split(",") if label
    }


def check_names_served(where: str, expr: str, samples: dict[str, set[str]]) -> None:
    """Every metric `expr` selects is served, with every label it matches or groups by."""
    named = selectors(expr)
    assert named, f"{where}: {expr!r} selects no metric"
    for name, labels in named:
        assert name in samples, f"{where}: /metrics serves no {name}"
        assert labels <= samples[name], f"{where}: {name} has no label {labels - samples[name]}"
    served = set().union(*(samples[name] for name, _ in named))
    missing = grouping_labels(expr) - served
    assert not missing, f"{where}: groups by {missing}, which none of its metrics has"
