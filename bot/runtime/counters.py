"""Counters workers keep in Redis, so one scrape of any web process's /metrics sees them all."""

from __future__ import annotations

from collections import Counter

import redis
import redis.asyncio

JOB_OUTCOMES_KEY = "aios:metrics:job-outcomes"
"""Hash of `<function>|<outcome>` → count: one per job, when it has ended for good."""

JOB_RETRIES_KEY = "aios:metrics:job-retries"
"""Hash of `<function>|<reason>` → count: attempts that end with the job running again
(`error`: RQ retries it; `rescheduled:<why>`: it asked to run later)."""

GITHUB_CALLS_KEY = "aios:metrics:github-calls"
"""Hash of `<method>|<status>` → count, incremented by workers (status 0: no answer)."""

LLM_STOPS_KEY = "aios:metrics:llm-stops"
"""Hash of `<provider>|<model>|<reason>` → count of agent runs a provider stopped for good."""


def count_job_outcome(client: redis.Redis, function: str, outcome: str) -> None:
    client.hincrby(JOB_OUTCOMES_KEY, f"{function}|{outcome}", 1)


def count_job_retry(client: redis.Redis, function: str, reason: str) -> None:
    client.hincrby(JOB_RETRIES_KEY, f"{function}|{reason}", 1)


async def count_llm_stop(
    client: redis.asyncio.Redis, provider: str, model: str, reason: str
) -> None:
    await client.hincrby(LLM_STOPS_KEY, f"{provider}|{model}|{reason}", 1)


class GitHubCalls:
    """GitHub API calls of one job, counted in memory as they happen (the client's
    `on_response` hook is synchronous) and added to Redis in one round trip when it ends."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def record(self, method: str, status: int) -> None:
        self._counts[f"{method}|{status}"] += 1

    async def flush(self, client: redis.asyncio.Redis) -> None:
        counts, self._counts = self._counts, Counter()
        if not counts:
            return
        async with client.pipeline(transaction=False) as pipe:
            for field, count in counts.items():
                pipe.hincrby(GITHUB_CALLS_KEY, field, count)
            await pipe.execute()


MODEL_COST_KEY = "aios:metrics:model-cost"
"""Hash of `<model>|<role>` → micro-dollars spent, added by the usage ledger on every call."""

MODEL_TOKENS_KEY = "aios:metrics:model-tokens"
"""Hash of `<model>|<role>|<kind>` → tokens (kind: input, output, cache_write, cache_read)."""

MODEL_CALLS_KEY = "aios:metrics:model-calls"
"""Hash of `<model>|<role>` → model calls answered."""

INSTALLATION_SPEND_KEY = "aios:metrics:installation-spend:{month}"
"""Hash of `<installation id>` → micro-dollars spent in `YYYY-MM`: the month the budget
`AIOS_BUDGET_INSTALLATION_MONTH_USD` caps, one hash read per scrape."""

AGENT_OUTCOMES_KEY = "aios:metrics:agent-outcomes"
"""Hash of `<state>` → work items that entered merged, failed or cancelled (a retried item
that fails again counts again)."""

AGENT_LOOPS_KEY = "aios:metrics:agent-loops"
"""Hash of `<counter>` → rounds the agents looped: `ci_fix_attempts` (CI failed, fix it),
`review_rounds` (the QA agent asked for changes), `fix_rounds` (a maintainer did)."""

OUTCOME_STATES = ("merged", "failed", "cancelled")
"""The work-item states counted in AGENT_OUTCOMES_KEY when an item enters them."""
