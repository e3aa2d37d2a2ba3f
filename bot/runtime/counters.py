"""Counters workers keep in Redis, so one scrape of any web process's /metrics sees them all."""

from __future__ import annotations

import redis
import redis.asyncio

JOB_OUTCOMES_KEY = "aios:metrics:job-outcomes"
"""Hash of `<function>|<outcome>` → count, incremented by workers."""

GITHUB_CALLS_KEY = "aios:metrics:github-calls"
"""Hash of `<method>|<status>` → count, incremented by workers."""


def count_job_outcome(client: redis.Redis, function: str, outcome: str) -> None:
    client.hincrby(JOB_OUTCOMES_KEY, f"{function}|{outcome}", 1)


async def count_github_call(client: redis.asyncio.Redis, method: str, status: int) -> None:
    await client.hincrby(GITHUB_CALLS_KEY, f"{method}|{status}", 1)
