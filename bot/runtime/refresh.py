"""Paced refreshes of each repository's Control Center: a due time in Redis, a quick job when due.

Any change (a transition, a memory, a tick) asks for a refresh; the Control Center is edited
at most once per `CENTER_MIN_INTERVAL_S` per repository, and the last change always reaches
it. No worker ever sleeps to pace: a refresh that is not due yet is a score in Redis.

- `aios:center:due` is a sorted set: member `<installation>|<owner/repo>`, score the earliest
  time (ms) the next refresh may run. `request` sets it to max(now, the repository's next
  slot) unless it is already earlier (`ZADD LT`), in one Lua call.
- Whoever makes the repository due *now* enqueues the refresh job at once; a due time in the
  future is picked up by the delivery pump of every worker (`enqueue_due`, one
  `ZRANGEBYSCORE` per pump loop). The job id comes from (member, due time), so however many
  changes and pumps ask, one job runs per due time.
- The job `claim`s the refresh before it renders: the member must be due and the slot free
  (else it is rescheduled to the slot); its next slot becomes now + the interval and its score
  an hour from now (the routine refresh that keeps ages, the scorecard and revert detection
  current). A change while the job works lowers the score to that next slot, so the trailing
  change reaches the issue one interval later. Once the edit is written (`written`), the slot
  and any earlier due time move to one interval after the write: edits are never closer
  than the interval, however long a rebuild took.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio

from bot.runtime import catalog
from bot.runtime.queues import JobQueue, job_key

DUE_KEY = "aios:center:due"
"""Sorted set: `<installation>|<owner/repo>` → when (epoch ms) its Control Center is due."""
SLOT_KEY = "aios:center:slot:{repo}"
"""The earliest time (epoch ms) the repository's Control Center may be edited again."""

CENTER_MIN_INTERVAL_S = 3.0
"""Least time between two edits of one Control Center: the progress comments' pacing."""
ROUTINE_REFRESH_S = 3600.0
"""A Control Center nothing changed is still refreshed this often (ages, scorecard, reverts)."""
MAX_DUE_PER_LOOP = 100

_REQUEST = """
local slot = tonumber(redis.call('GET', KEYS[2]) or '0')
local due = math.max(tonumber(ARGV[2]), slot)
local changed = redis.call('ZADD', KEYS[1], 'LT', 'CH', due, ARGV[1])
return {changed, string.format('%d', due)}
"""

_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then
  return 0
end
local slot = tonumber(redis.call('GET', KEYS[2]) or '0')
if slot > tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], slot, ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[4]), ARGV[1])
redis.call('SET', KEYS[2], string.format('%d', tonumber(ARGV[2]) + tonumber(ARGV[3])),
           'PX', math.floor(tonumber(ARGV[3])) + 1)
return 1
"""

_WRITTEN = """
local slot = tonumber(ARGV[2]) + tonumber(ARGV[3])
redis.call('SET', KEYS[2], string.format('%d', slot), 'PX', math.floor(tonumber(ARGV[3])) + 1)
redis.call('ZADD', KEYS[1], 'XX', 'GT', slot, ARGV[1])
return 1
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def member(installation_id: int, repo: str) -> str:
    return f"{installation_id}|{repo}"


def parse_member(value: str | bytes) -> tuple[int, str]:
    text = value.decode() if isinstance(value, bytes) else value
    installation, _, repo = text.partition("|")
    return int(installation), repo


def _enqueue(jobs: JobQueue, name: str, due_ms: int) -> None:
    installation_id, repo = parse_member(name)
    jobs.enqueue(
        catalog.REFRESH_CONTROL_CENTER,
        installation_id,
        repo,
        key=job_key("center", name, due_ms),
    )


async def request(
    client: redis.asyncio.Redis,
    jobs: JobQueue,
    installation_id: int,
    repo: str,
    *,
    at_ms: int | None = None,
) -> int:
    """Ask for a refresh of `repo`'s Control Center; returns when (epoch ms) it is due.

    Enqueues the job when this request made it due now; later due times wait for the pump.
    """
    now = now_ms() if at_ms is None else at_ms
    name = member(installation_id, repo)
    changed, due = await client.eval(  # type: ignore[misc]
        _REQUEST, 2, DUE_KEY, SLOT_KEY.format(repo=repo), name, now
    )
    due_ms = int(due)
    if int(changed) and due_ms <= now:
        _enqueue(jobs, name, due_ms)
    return due_ms


async def claim(
    client: redis.asyncio.Redis,
    installation_id: int,
    repo: str,
    *,
    at_ms: int | None = None,
    interval_s: float = CENTER_MIN_INTERVAL_S,
) -> bool:
    """Whether this job may refresh `repo`'s Control Center now (and takes the slot if so)."""
    now = now_ms() if at_ms is None else at_ms
    claimed = await client.eval(  # type: ignore[misc]
        _CLAIM,
        2,
        DUE_KEY,
        SLOT_KEY.format(repo=repo),
        member(installation_id, repo),
        now,
        int(interval_s * 1000),
        int(ROUTINE_REFRESH_S * 1000),
    )
    return bool(int(claimed))


async def written(
    client: redis.asyncio.Redis,
    installation_id: int,
    repo: str,
    *,
    at_ms: int | None = None,
    interval_s: float = CENTER_MIN_INTERVAL_S,
) -> None:
    """The edit reached GitHub: the next may start one interval from now, not from the claim
    (a slow rebuild must not bring two edits closer than the interval)."""
    now = now_ms() if at_ms is None else at_ms
    await client.eval(  # type: ignore[misc]
        _WRITTEN,
        2,
        DUE_KEY,
        SLOT_KEY.format(repo=repo),
        member(installation_id, repo),
        now,
        int(interval_s * 1000),
    )


def enqueue_due(connection: redis.Redis, jobs: JobQueue, *, at_ms: int | None = None) -> int:
    """Enqueue the refresh of every Control Center that is due (the pump, each loop)."""
    now = now_ms() if at_ms is None else at_ms
    due: list[Any] = connection.zrangebyscore(
        DUE_KEY, "-inf", now, start=0, num=MAX_DUE_PER_LOOP, withscores=True
    )
    for name, score in due:
        _enqueue(jobs, name.decode(), int(score))
    return len(due)


async def forget(client: redis.asyncio.Redis, installation_id: int, repo: str) -> None:
    """Stop refreshing `repo`'s Control Center (the App lost access, or it was uninstalled)."""
    await client.zrem(DUE_KEY, member(installation_id, repo))


async def forget_installation(client: redis.asyncio.Redis, installation_id: int) -> int:
    """Stop refreshing the Control Centers of an uninstalled installation."""
    prefix = f"{installation_id}|".encode()
    names = [bytes(n) for n in await client.zrange(DUE_KEY, 0, -1)]
    mine = [n for n in names if n.startswith(prefix)]
    return int(await client.zrem(DUE_KEY, *mine)) if mine else 0
