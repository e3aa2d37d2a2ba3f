"""The Control Center's pacing in Redis: one job per due time however many ask, at most one
edit per interval, the trailing change always due, and no sleeping anywhere."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio
from rq import Queue
from rq.rate_limit import RateLimitRegistry

from bot.runtime import refresh
from bot.runtime.queues import JobQueue

REPO = "octo-org/hello"
T = 1_700_000_000_000  # a fixed clock, in ms
INTERVAL_MS = int(refresh.CENTER_MIN_INTERVAL_S * 1000)


def queued(connection: redis.Redis) -> list[str]:
    """Refreshes that will run: queued, or waiting behind their installation's quick job."""
    waiting = [
        job_id
        for registry in RateLimitRegistry.all(connection)
        for job_id in registry.get_rate_limited_job_ids()
    ]
    return Queue("aios-route", connection=connection).get_job_ids() + waiting


async def test_fifty_changes_at_once_enqueue_one_refresh(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    jobs = JobQueue(redis_client)
    dues = await asyncio.gather(
        *(refresh.request(aredis, jobs, 1, REPO, at_ms=T) for _ in range(50))
    )
    assert dues == [T] * 50
    assert len(queued(redis_client)) == 1  # only the request that made it due enqueued
    assert refresh.enqueue_due(redis_client, jobs, at_ms=T + 10) == 1
    assert len(queued(redis_client)) == 1  # the pump finds the same job by its id


async def test_clocks_out_of_order_may_enqueue_twice_but_only_one_job_writes(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    """Workers' clocks differ: a later 'now' first, then an earlier one lowers the due time
    and enqueues again. Both jobs are due; the first to claim writes, the other finds the
    repository refreshed and returns."""
    jobs = JobQueue(redis_client)
    await refresh.request(aredis, jobs, 1, REPO, at_ms=T + 2)
    await refresh.request(aredis, jobs, 1, REPO, at_ms=T)
    assert len(queued(redis_client)) == 2
    claims = await asyncio.gather(*(refresh.claim(aredis, 1, REPO, at_ms=T + 5) for _ in range(2)))
    assert sorted(claims) == [False, True]


async def test_one_claim_per_slot_and_the_trailing_change_comes_due_one_interval_later(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    jobs = JobQueue(redis_client)
    await refresh.request(aredis, jobs, 1, REPO, at_ms=T)
    assert await refresh.claim(aredis, 1, REPO, at_ms=T + 5)
    assert not await refresh.claim(aredis, 1, REPO, at_ms=T + 6)  # a second job: nothing to do

    # Changes while the first edit is written wait for the next slot, and only there.
    for offset in (10, 20, 30):
        due = await refresh.request(aredis, jobs, 1, REPO, at_ms=T + offset)
        assert due == T + 5 + INTERVAL_MS
    assert len(queued(redis_client)) == 1
    assert refresh.enqueue_due(redis_client, jobs, at_ms=T + 5 + INTERVAL_MS - 1) == 0
    assert not await refresh.claim(aredis, 1, REPO, at_ms=T + 5 + INTERVAL_MS - 1)
    assert refresh.enqueue_due(redis_client, jobs, at_ms=T + 5 + INTERVAL_MS) == 1
    assert len(queued(redis_client)) == 2
    assert await refresh.claim(aredis, 1, REPO, at_ms=T + 5 + INTERVAL_MS)


async def test_a_claimed_center_is_still_refreshed_hourly_and_a_change_comes_first(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    jobs = JobQueue(redis_client)
    await refresh.request(aredis, jobs, 1, REPO, at_ms=T)
    assert await refresh.claim(aredis, 1, REPO, at_ms=T)
    routine = int(refresh.ROUTINE_REFRESH_S * 1000)
    assert redis_client.zscore(refresh.DUE_KEY, f"1|{REPO}") == T + routine
    late = T + INTERVAL_MS * 10
    assert await refresh.request(aredis, jobs, 1, REPO, at_ms=late) == late  # the slot is free
    assert redis_client.zscore(refresh.DUE_KEY, f"1|{REPO}") == late


async def test_repositories_are_paced_apart_and_forgotten_with_their_installation(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    jobs = JobQueue(redis_client)
    await refresh.request(aredis, jobs, 1, REPO, at_ms=T)
    await refresh.request(aredis, jobs, 1, "octo-org/other", at_ms=T)
    await refresh.request(aredis, jobs, 2, "someone/else", at_ms=T)
    assert len(queued(redis_client)) == 3
    assert await refresh.forget_installation(aredis, 1) == 2
    assert [m.decode() for m in redis_client.zrange(refresh.DUE_KEY, 0, -1)] == ["2|someone/else"]


async def test_edits_are_an_interval_apart_from_the_write_however_long_the_rebuild(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    jobs = JobQueue(redis_client)
    await refresh.request(aredis, jobs, 1, REPO, at_ms=T)
    assert await refresh.claim(aredis, 1, REPO, at_ms=T)
    due = await refresh.request(aredis, jobs, 1, REPO, at_ms=T + 100)  # a change mid-rebuild
    assert due == T + INTERVAL_MS
    await refresh.written(aredis, 1, REPO, at_ms=T + 1500)  # a slow rebuild wrote at 1.5 s
    assert redis_client.zscore(refresh.DUE_KEY, f"1|{REPO}") == T + 1500 + INTERVAL_MS
    assert not await refresh.claim(aredis, 1, REPO, at_ms=T + INTERVAL_MS)
    assert await refresh.claim(aredis, 1, REPO, at_ms=T + 1500 + INTERVAL_MS)
    # Nothing pending: the write leaves the routine refresh an hour away.
    await refresh.written(aredis, 1, REPO, at_ms=T + 1600 + INTERVAL_MS)
    routine = int(refresh.ROUTINE_REFRESH_S * 1000)
    assert redis_client.zscore(refresh.DUE_KEY, f"1|{REPO}") == T + 1500 + INTERVAL_MS + routine
