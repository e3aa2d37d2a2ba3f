"""Prometheus metrics: the web process's own, plus counters workers keep in Redis.

Workers run on other processes and machines, so they do not expose metrics
themselves: they add to Redis hashes, and `/metrics` on any web process reads them,
which keeps one scrape target for the whole deployment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.agents.breaker import open_circuits
from bot.app.metrics_disk import DiskGauges
from bot.app.metrics_work import MICRO, WorkGauges, installation_budget
from bot.inbox.deliveries import STREAM_KEY
from bot.runtime.catalog import QueueName
from bot.runtime.counters import (
    AGENT_LOOPS_KEY,
    AGENT_OUTCOMES_KEY,
    GITHUB_CALLS_KEY,
    JOB_OUTCOMES_KEY,
    JOB_RETRIES_KEY,
    LLM_STOPS_KEY,
    MODEL_CALLS_KEY,
    MODEL_COST_KEY,
    MODEL_TOKENS_KEY,
)
from bot.workitem.history import SCORECARD_FIGURES, load_scorecards
from bot.workitem.scorecard import TARGET_COST_SAVING, TARGET_HUMAN_HELP_SHARE, TARGET_MERGED_SHARE

QUEUE_NAMES = tuple(QueueName)

MAX_LABEL_SETS = 500
"""Distinct (event, action, outcome) series kept; unsigned requests can name any event."""


class WebMetrics:
    """Metrics of one web process, in a registry of its own (no module-level globals)."""

    def __init__(self, data_dir: Path) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "aios_webhook_deliveries",
            "Webhook deliveries received, by event, action and outcome",
            ["event", "action", "outcome"],
            registry=self.registry,
        )
        self.responses = Counter(
            "aios_webhook_responses",
            "Webhook deliveries answered, by HTTP status code (5xx: GitHub marks them failed)",
            ["code"],
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "aios_webhook_ack_seconds",
            "Time from reading a delivery to answering GitHub",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "aios_queue_depth",
            "Jobs waiting in each queue; `deliveries` counts stored deliveries not yet routed",
            ["queue"],
            registry=self.registry,
        )
        self.circuit_open = Gauge(
            "aios_llm_circuit_open",
            "1 while a model's circuit breaker is open: every job skips it until its cooldown "
            "ends, and jobs whose whole chain is open are rescheduled",
            ["provider", "model"],
            registry=self.registry,
        )
        self._delivery_counters: dict[tuple[str, str, str], Any] = {}
        self._worker_counters = _RedisCounters()
        self.registry.register(self._worker_counters)
        self._scorecards = _Scorecards()
        self.registry.register(self._scorecards)
        # The budget the workers apply: they read it from the same environment.
        self._work = WorkGauges(installation_budget(os.environ))
        self.registry.register(self._work)
        self._disk = DiskGauges(data_dir, os.environ)
        self.registry.register(self._disk)

    def delivered(
        self, event: str, action: str, outcome: str, seconds: float, *, status: int
    ) -> None:
        """Count one answered delivery; label children are cached, this runs per request."""
        key = (event or "-", action or "-", outcome)
        child = self._delivery_counters.get(key)
        if child is None:
            # Event names come from the request: bound the label set a sender can grow.
            if len(self._delivery_counters) >= MAX_LABEL_SETS:
                key = ("other", "other", outcome)
            child = self._delivery_counters[key] = self.deliveries.labels(*key)
        child.inc()
        self.responses.labels(code=str(status)).inc()  # the handler answers a few codes only
        self.ack_latency.observe(seconds)

    async def render(self, client: redis.asyncio.Redis) -> bytes:
        """Refresh what lives in Redis, then render the Prometheus text format."""
        async with client.pipeline(transaction=False) as pipe:
            for name in QUEUE_NAMES:
                pipe.llen(f"rq:queue:{name}")
            pipe.xlen(STREAM_KEY)
            for counter in WORKER_COUNTERS:
                pipe.hgetall(counter.key)
            answers = await pipe.execute()
        depths, stream_length = answers[: len(QUEUE_NAMES)], answers[len(QUEUE_NAMES)]
        for name, depth in zip(QUEUE_NAMES, depths, strict=True):
            self.queue_depth.labels(queue=name).set(depth)
        self.queue_depth.labels(queue="deliveries").set(stream_length)
        self._worker_counters.snapshot = answers[len(QUEUE_NAMES) + 1 :]
        self.circuit_open.clear()  # a circuit that closed since the last scrape is gone
        for key, open_for in (await open_circuits(client, time.time())).items():
            provider, _, model = key.partition(":")
            self.circuit_open.labels(provider=provider, model=model).set(1 if open_for else 0)
        self._scorecards.snapshot = await load_scorecards(client)
        await self._work.refresh(client)
        await self._disk.refresh()
        return generate_latest(self.registry)


@dataclass(frozen=True)
class WorkerCounter:
    """A counter workers keep in a Redis hash whose fields are its labels joined by `|`."""

    key: str
    name: str
    help: str
    labels: tuple[str, ...]
    divisor: int = 1
    """Units in Redis per unit of the metric (micro-dollars per dollar)."""


WORKER_COUNTERS = (
    WorkerCounter(
        JOB_OUTCOMES_KEY,
        "aios_job_outcomes",
        "Jobs that ended for good, by function and outcome (one per job, not per attempt)",
        ("function", "outcome"),
    ),
    WorkerCounter(
        JOB_RETRIES_KEY,
        "aios_job_retries",
        "Job attempts after which the job runs again: `error` (RQ retries it) or "
        "`rescheduled:<why>` (it asked to run later: a write turn, a model outage)",
        ("function", "reason"),
    ),
    WorkerCounter(
        GITHUB_CALLS_KEY,
        "aios_github_api_calls",
        "GitHub API calls made by workers, retries included, by method and status (0: no answer)",
        ("method", "status"),
    ),
    WorkerCounter(
        LLM_STOPS_KEY,
        "aios_llm_stops",
        "Agent runs a model provider stopped for good, by provider, model and reason "
        "(`spend_limit`: the account is out of credit or over its spend limit)",
        ("provider", "model", "reason"),
    ),
    WorkerCounter(
        MODEL_COST_KEY,
        "aios_model_cost_usd",
        "Model spend in USD by model (`provider:model`) and agent role, at the price table's "
        "prices (0 for an unpriced model)",
        ("model", "role"),
        divisor=MICRO,
    ),
    WorkerCounter(
        MODEL_TOKENS_KEY,
        "aios_model_tokens",
        "Model tokens by model, agent role and kind (input, output, cache_write, cache_read)",
        ("model", "role", "kind"),
    ),
    WorkerCounter(
        MODEL_CALLS_KEY,
        "aios_model_calls",
        "Model calls answered, by model and role",
        ("model", "role"),
    ),
    WorkerCounter(
        AGENT_OUTCOMES_KEY,
        "aios_agent_outcomes",
        "Work items that ended: merged, failed (a retried item that fails again counts again) "
        "or cancelled",
        ("outcome",),
    ),
    WorkerCounter(
        AGENT_LOOPS_KEY,
        "aios_agent_loops",
        "Rounds the agents looped: `ci_fix_attempts` (CI failed), `review_rounds` (the QA agent "
        "asked for changes), `fix_rounds` (a maintainer asked for changes)",
        ("loop",),
    ),
)


class _RedisCounters(Collector):
    def __init__(self) -> None:
        self.snapshot: list[dict[bytes, bytes]] = [{} for _ in WORKER_COUNTERS]

    def collect(self) -> Iterator[CounterMetricFamily]:
        for counter, fields in zip(WORKER_COUNTERS, self.snapshot, strict=True):
            family = CounterMetricFamily(counter.name, counter.help, labels=counter.labels)
            for field, count in fields.items():
                values = field.decode().split("|", len(counter.labels) - 1)
                if len(values) == len(counter.labels):
                    family.add_metric(values, int(count) / counter.divisor)
            yield family


SCORECARD_HELP = {
    "started": "Work items started (labeled) in the last 30 days",
    "ended": "Of those, the ones that ended (merged, failed or cancelled)",
    "merged": "Of those, the ones merged",
    "merged_share": "Merged share of the items that ended (target above 0.95)",
    "human_help": "Items that needed human help (a pushed commit, extra review rounds, a question)",
    "human_help_share": "Share of started items that needed human help (target under 0.10)",
    "review_rounds_per_merged": "QA and maintainer review rounds per merged pull request",
    "ci_fix_attempts": "CI fix attempts that got a CI verdict",
    "ci_fixes_green": "CI fix attempts after which CI was green",
    "ci_fix_success": "Share of CI fix attempts after which CI was green",
    "label_to_pr_s": "Median seconds from the label to the draft pull request",
    "label_to_merge_s": "Median seconds from the label to the merge",
    "cost_usd": "Model cost of the items started in the window, USD",
    "cost_per_merged_usd": "Model cost per merged pull request, USD",
    "cost_saving": "1 - cost per merged PR / what people cost per PR (target above 0.90)",
    "reverts": "Merged agent PRs reverted within 14 days of the merge",
}
"""Each scorecard figure `/metrics` exports, as `aios_scorecard_<figure>{repo=…}`."""


class _Scorecards(Collector):
    """The last scorecard each Control Center refresh computed (`bot.workitem.scorecard`)."""

    def __init__(self) -> None:
        self.snapshot: dict[str, dict[str, float]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for figure in SCORECARD_FIGURES:
            family = GaugeMetricFamily(
                f"aios_scorecard_{figure}", SCORECARD_HELP[figure], labels=["repo"]
            )
            for repo, figures in self.snapshot.items():
                if figure in figures:
                    family.add_metric([repo], figures[figure])
            yield family
        targets = GaugeMetricFamily(
            "aios_scorecard_target", "The seed's target for a scorecard figure", labels=["figure"]
        )
        for figure, value in (
            ("merged_share", TARGET_MERGED_SHARE),
            ("human_help_share", TARGET_HUMAN_HELP_SHARE),
            ("cost_saving", TARGET_COST_SAVING),
        ):
            targets.add_metric([figure], value)
        yield targets
