"""Circuit breakers per provider and model: in memory for one process, or in Redis for every worker.

After `threshold` failures in a row of one model (anyone's calls count), the model is skipped
for a cooldown that doubles each time it opens again (up to `max_cooldown_s`); then one trial
call is let through (half-open) and its outcome closes the circuit or opens it again. A job
that finds every model of its chain open is rescheduled for when the first one may be tried
(`bot.agents.routing`), rather than failed or left holding its worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio
import structlog

log = structlog.get_logger(__name__)

THRESHOLD = 5
"""Failures in a row of one model, across all jobs, that open its circuit."""
COOLDOWN_S = 30.0
"""How long an opened circuit skips its model the first time; doubles on each reopening."""
MAX_COOLDOWN_S = 600.0
TRIAL_S = 120.0
"""A half-open trial call that has not reported back by then (a worker died) frees the trial."""
BUSY_TRIAL_WAIT_S = 5.0
"""What a caller is told to wait while another's trial call decides."""

KEY = "aios:llm:breaker:{key}"
INDEX_KEY = "aios:llm:breakers"
"""Set of the models that have a breaker hash, so /metrics reads them without a SCAN."""


class Breaker(Protocol):
    """What the router asks of a breaker; `key` is `provider:model`."""

    async def allow(self, key: str) -> float | None:
        """None: call the model now; else seconds until it may be tried."""
        ...

    async def success(self, key: str) -> None: ...

    async def failure(self, key: str) -> bool:
        """Record a retryable failure; True when this one opened the circuit."""
        ...


class CircuitBreaker:
    """The breaker of one process (`aios agent run`, tests); same rules as `RedisBreaker`."""

    def __init__(
        self,
        *,
        threshold: int = THRESHOLD,
        cooldown_s: float = COOLDOWN_S,
        max_cooldown_s: float = MAX_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._opens: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._trial: set[str] = set()

    async def allow(self, key: str) -> float | None:
        until = self._open_until.get(key)
        if until is None:
            return None
        now = self._clock()
        if now < until:
            return until - now
        if key in self._trial:
            return BUSY_TRIAL_WAIT_S
        self._trial.add(key)  # half-open: this caller's call decides
        return None

    def is_open(self, key: str) -> bool:
        return key in self._open_until

    async def success(self, key: str) -> None:
        for state in (self._failures, self._opens, self._open_until):
            state.pop(key, None)
        self._trial.discard(key)

    async def failure(self, key: str) -> bool:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        trial = key in self._trial
        if not trial and (count < self.threshold or key in self._open_until):
            return False
        opens = self._opens.get(key, 0) + 1
        self._opens[key] = opens
        cooldown = min(self.max_cooldown_s, self.cooldown_s * 2 ** (opens - 1))
        self._open_until[key] = self._clock() + cooldown
        self._trial.discard(key)
        log.warning("llm.circuit_open", model=key, failures=count, cooldown_s=cooldown)
        return True


# One script per event keeps each read-modify-write atomic across workers. Hash fields:
# failures, opens, open_until (epoch seconds), trial_until (a half-open trial in flight).
_ALLOW = """
local opened = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local now = tonumber(ARGV[1])
if opened == 0 then return false end
if now < opened then return tostring(opened - now) end
local trial = tonumber(redis.call('HGET', KEYS[1], 'trial_until') or '0')
if now < trial then return ARGV[3] end
redis.call('HSET', KEYS[1], 'trial_until', tostring(now + tonumber(ARGV[2])))
return false
"""
_FAILURE = """
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local opened = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local trial = tonumber(redis.call('HGET', KEYS[1], 'trial_until') or '0')
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[2], KEYS[1])
if now >= trial and (failures < threshold or opened > 0) then return false end
local opens = redis.call('HINCRBY', KEYS[1], 'opens', 1)
local cooldown = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (opens - 1))
redis.call('HSET', KEYS[1], 'open_until', tostring(now + cooldown), 'trial_until', '0')
return tostring(cooldown)
"""


class RedisBreaker:
    """The breaker every worker shares: a storm one job sees opens the circuit for all jobs."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        threshold: int = THRESHOLD,
        cooldown_s: float = COOLDOWN_S,
        max_cooldown_s: float = MAX_COOLDOWN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._allow = client.register_script(_ALLOW)
        self._failure = client.register_script(_FAILURE)

    async def allow(self, key: str) -> float | None:
        wait = await self._allow(
            keys=[KEY.format(key=key)], args=[repr(self._clock()), TRIAL_S, BUSY_TRIAL_WAIT_S]
        )
        return None if wait is None else float(wait)

    async def success(self, key: str) -> None:
        await self._client.delete(KEY.format(key=key))

    async def failure(self, key: str) -> bool:
        # Forgotten a day after the last failure: a model that failed four times last week
        # does not open on its next hiccup.
        cooldown = await self._failure(
            keys=[KEY.format(key=key), INDEX_KEY],
            args=[repr(self._clock()), self.threshold, self.cooldown_s, self.max_cooldown_s, 86400],
        )
        if cooldown is None:
            return False
        log.warning("llm.circuit_open", model=key, cooldown_s=float(cooldown))
        return True


async def open_circuits(client: redis.asyncio.Redis, now: float) -> dict[str, float]:
    """`provider:model` → seconds its circuit stays open, for /metrics."""
    keys = [k.decode() for k in await client.smembers(INDEX_KEY)]
    if not keys:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "open_until")
        values = await pipe.execute()
    prefix = KEY.format(key="")
    found = {}
    for key, value in zip(keys, values, strict=True):
        if value is None:
            await client.srem(INDEX_KEY, key)  # closed and gone
            continue
        found[key.removeprefix(prefix)] = max(0.0, float(value) - now)
    return found
