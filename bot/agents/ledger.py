"""Usage and cost ledger in Redis, by job, work item, repository, installation and month."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import redis.asyncio

from bot.agents.llm.types import Usage
from bot.runtime.counters import (
    INSTALLATION_SPEND_KEY,
    MODEL_CALLS_KEY,
    MODEL_COST_KEY,
    MODEL_TOKENS_KEY,
)

MICRO = 1_000_000
"""Costs are stored as integer micro-dollars: HINCRBY never drifts the way floats add up."""
JOB_TTL_S = 90 * 24 * 3600
MONTH_TTL_S = 400 * 24 * 3600
LOG_MAXLEN = 10_000

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


@dataclass(frozen=True)
class UsageScope:
    """Where a call's cost is charged. `work_item` is the flows' id, e.g. `owner/repo#42`."""

    job_id: str
    work_item: str | None = None
    repo: str | None = None
    installation_id: int | None = None
    role: str | None = None
    """The agent role that made the call; labels `/metrics`' spend, not the ledger's keys."""


@dataclass(frozen=True)
class Totals:
    cost_usd: float = 0.0
    calls: int = 0
    usage: Usage = field(default_factory=Usage)


def month_of(at: datetime | None = None) -> str:
    """`YYYY-MM` in UTC, the period of monthly budgets."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


class Ledger(Protocol):
    async def record(
        self,
        scope: UsageScope,
        model: str,
        usage: Usage,
        cost_usd: float,
        *,
        at: datetime | None = None,
    ) -> None: ...

    async def job(self, job_id: str) -> Totals: ...

    async def work_item(self, work_item: str) -> Totals: ...

    async def repo_month(self, repo: str, month: str | None = None) -> Totals: ...

    async def installation_month(
        self, installation_id: int, month: str | None = None
    ) -> Totals: ...


def _keys(prefix: str, scope: UsageScope, month: str) -> list[tuple[str, int]]:
    keys = [(f"{prefix}:job:{scope.job_id}", JOB_TTL_S), (f"{prefix}:month:{month}", MONTH_TTL_S)]
    if scope.work_item:
        keys.append((f"{prefix}:item:{scope.work_item}", MONTH_TTL_S))
    if scope.repo:
        keys.append((f"{prefix}:repo:{scope.repo}:{month}", MONTH_TTL_S))
    if scope.installation_id is not None:
        keys.append((f"{prefix}:installation:{scope.installation_id}:{month}", MONTH_TTL_S))
    return keys


def _totals(raw: dict[str, int]) -> Totals:
    return Totals(
        cost_usd=raw.get("cost_micro", 0) / MICRO,
        calls=raw.get("calls", 0),
        usage=Usage(*(raw.get(f, 0) for f in _TOKEN_FIELDS)),
    )


class RedisLedger:
    """Hashes `{prefix}:{job|item|repo|installation|month}:…` with integer counters, plus a
    capped stream `{prefix}:log` of every call (model, tokens, cost, scope)."""

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str = "aios:usage") -> None:
        self._redis = client
        self._prefix = prefix

    async def record(
        self,
        scope: UsageScope,
        model: str,
        usage: Usage,
        cost_usd: float,
        *,
        at: datetime | None = None,
    ) -> None:
        month = month_of(at)
        micro = round(cost_usd * MICRO)
        pipe = self._redis.pipeline(transaction=True)
        for key, ttl in _keys(self._prefix, scope, month):
            pipe.hincrby(key, "cost_micro", micro)
            pipe.hincrby(key, "calls", 1)
            for name in _TOKEN_FIELDS:
                pipe.hincrby(key, name, getattr(usage, name))
            pipe.hincrby(key, f"cost_micro@{model}", micro)
            pipe.expire(key, ttl)
        entry = {
            "job": scope.job_id,
            "item": scope.work_item or "",
            "repo": scope.repo or "",
            "installation": "" if scope.installation_id is None else str(scope.installation_id),
            "model": model,
            "cost_micro": micro,
            **{name: getattr(usage, name) for name in _TOKEN_FIELDS},
        }
        pipe.xadd(f"{self._prefix}:log", entry, maxlen=LOG_MAXLEN, approximate=True)
        _count_for_metrics(pipe, scope, model, usage, micro, month)
        await pipe.execute()

    async def _read(self, key: str) -> Totals:
        raw = await self._redis.hgetall(key)
        return _totals(
            {_s(k): int(v) for k, v in raw.items() if not _s(k).startswith("cost_micro@")}
        )

    async def by_model(self, key_suffix: str) -> dict[str, float]:
        """Cost per model under `{prefix}:{key_suffix}`, e.g. `job:abc`."""
        raw = await self._redis.hgetall(f"{self._prefix}:{key_suffix}")
        return {
            _s(k).split("@", 1)[1]: int(v) / MICRO
            for k, v in raw.items()
            if _s(k).startswith("cost_micro@")
        }

    async def job(self, job_id: str) -> Totals:
        return await self._read(f"{self._prefix}:job:{job_id}")

    async def work_item(self, work_item: str) -> Totals:
        return await self._read(f"{self._prefix}:item:{work_item}")

    async def repo_month(self, repo: str, month: str | None = None) -> Totals:
        return await self._read(f"{self._prefix}:repo:{repo}:{month or month_of()}")

    async def installation_month(self, installation_id: int, month: str | None = None) -> Totals:
        return await self._read(
            f"{self._prefix}:installation:{installation_id}:{month or month_of()}"
        )


def _count_for_metrics(
    pipe: redis.asyncio.client.Pipeline,
    scope: UsageScope,
    model: str,
    usage: Usage,
    micro: int,
    month: str,
) -> None:
    """Add the call to `/metrics`' counters in the ledger's own transaction: counted once,
    whichever worker process made it, and never lost between the two."""
    labels = f"{model}|{scope.role or 'none'}"
    pipe.hincrby(MODEL_COST_KEY, labels, micro)
    pipe.hincrby(MODEL_CALLS_KEY, labels, 1)
    for name in _TOKEN_FIELDS:
        pipe.hincrby(
            MODEL_TOKENS_KEY, f"{labels}|{name.removesuffix('_tokens')}", getattr(usage, name)
        )
    if scope.installation_id is not None:
        key = INSTALLATION_SPEND_KEY.format(month=month)
        pipe.hincrby(key, str(scope.installation_id), micro)
        pipe.expire(key, MONTH_TTL_S)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class MemoryLedger:
    """The same ledger in process memory, for `aios agent run` without Redis."""

    def __init__(self) -> None:
        self._hashes: dict[str, dict[str, int]] = {}

    async def record(
        self,
        scope: UsageScope,
        model: str,
        usage: Usage,
        cost_usd: float,
        *,
        at: datetime | None = None,
    ) -> None:
        micro = round(cost_usd * MICRO)
        for key, _ttl in _keys("mem", scope, month_of(at)):
            h = self._hashes.setdefault(key, {})
            h["cost_micro"] = h.get("cost_micro", 0) + micro
            h["calls"] = h.get("calls", 0) + 1
            for name in _TOKEN_FIELDS:
                h[name] = h.get(name, 0) + getattr(usage, name)

    async def job(self, job_id: str) -> Totals:
        return _totals(self._hashes.get(f"mem:job:{job_id}", {}))

    async def work_item(self, work_item: str) -> Totals:
        return _totals(self._hashes.get(f"mem:item:{work_item}", {}))

    async def repo_month(self, repo: str, month: str | None = None) -> Totals:
        return _totals(self._hashes.get(f"mem:repo:{repo}:{month or month_of()}", {}))

    async def installation_month(self, installation_id: int, month: str | None = None) -> Totals:
        return _totals(
            self._hashes.get(f"mem:installation:{installation_id}:{month or month_of()}", {})
        )
