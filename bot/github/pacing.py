"""Write turns per installation: a burst, then one write per interval, shared by every worker.

A turn is reserved atomically in Redis (GCRA: one "theoretical arrival time" per scope), so
workers never queue on a lock to learn when they may write. A short job looks before it starts
(`next_turn_in`) and is run later when its installation's turn is away; a caller that may not
wait (`wait_limit`: the route job, before its first write) gets `WriteDeferred` before anything
was sent and without taking the turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis.asyncio

PACE_KEY = "aios:gh:write-gap:{scope}"

_TAKE_TURN = """
local now = tonumber(ARGV[1])
local spacing = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - spacing * (burst - 1)
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then
  return {0, tostring(wait)}
end
local next_tat = tat + spacing
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - now) * 1000) + 1)
return {1, tostring(wait)}
"""


class WriteDeferred(BaseException):
    """The installation's next write turn is `wait_s` away, longer than this caller may wait.

    Nothing was sent and no turn taken. A `BaseException`, like `bot.runtime.control`'s
    `Reschedule` that the worker turns it into: handlers of failures must let it through.
    """

    def __init__(self, scope: str, wait_s: float) -> None:
        super().__init__(f"next write turn of {scope} in {wait_s:.2f}s")
        self.scope = scope
        self.wait_s = wait_s


@dataclass
class _Patience:
    limit_s: float | None
    wrote: bool = False


_PATIENCE: ContextVar[_Patience | None] = ContextVar("aios_write_patience", default=None)


@contextmanager
def wait_limit(seconds: float | None) -> Iterator[None]:
    """Within this block the first write waits at most `seconds` for its turn (None: as long
    as it takes) and raises `WriteDeferred` instead of waiting longer.

    Only the first: running the job again after it has written would write that again (and
    take another turn for it, for ever). Its later writes wait in place, a turn apart.
    """
    token = _PATIENCE.set(_Patience(seconds))
    try:
        yield
    finally:
        _PATIENCE.reset(token)


def current_wait_limit() -> float | None:
    """How long the next write may wait for its turn; None: as long as it takes."""
    patience = _PATIENCE.get()
    if patience is None or patience.wrote:
        return None
    return patience.limit_s


def note_write() -> None:
    """A write took its turn: from now on this block's writes wait in place."""
    patience = _PATIENCE.get()
    if patience is not None:
        patience.wrote = True


async def next_turn_in(
    client: redis.asyncio.Redis, scope: str, *, now: float, spacing_s: float, burst: int
) -> float:
    """Seconds until `scope` has a write turn free, reserving nothing (a look before a job
    starts: whether to start it now or run it when the turn comes)."""
    stored = await client.get(PACE_KEY.format(scope=scope))
    tat = max(float(stored) if stored else now, now)
    return max(0.0, tat - now - spacing_s * (burst - 1))


async def take_turn(
    client: redis.asyncio.Redis,
    scope: str,
    *,
    now: float,
    spacing_s: float,
    burst: int,
    max_wait_s: float | None,
) -> tuple[bool, float]:
    """(granted, wait): a turn `wait` seconds from `now`, reserved when granted; when the
    wait is over `max_wait_s` nothing is reserved and `granted` is False."""
    script = client.register_script(_TAKE_TURN)
    limit = -1.0 if max_wait_s is None else max_wait_s
    granted, wait = await script(
        keys=[PACE_KEY.format(scope=scope)], args=[repr(now), spacing_s, burst, limit]
    )
    return bool(int(granted)), float(wait)
