"""The delivery inbox and pump on a real redis-server: stored once, routed once."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio
from rq import Queue
from rq.job import Job

from bot.inbox import deliveries
from bot.inbox.pump import DeliveryPump
from bot.runtime.catalog import QueueName
from bot.runtime.queues import JobQueue, job_key


async def accept(url: str, delivery_id: str, body: bytes = b"{}") -> bool:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await deliveries.DeliveryInbox(client).accept(
            delivery_id=delivery_id, event="issues", action="labeled", installation_id=7, body=body
        )
    finally:
        await client.aclose()


async def test_a_delivery_is_stored_once_even_when_copies_race(redis_url: str) -> None:
    results = await asyncio.gather(*(accept(redis_url, "d-1", b'{"n": 1}') for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    client = redis.Redis.from_url(redis_url)
    entries = client.xrange(deliveries.STREAM_KEY)
    assert len(entries) == 1
    stored = deliveries.Delivery.from_fields(entries[0][0].decode(), entries[0][1])
    assert (stored.delivery_id, stored.event, stored.action, stored.installation_id) == (
        "d-1",
        "issues",
        "labeled",
        7,
    )
    assert stored.body == b'{"n": 1}'
    assert 0 < client.ttl(deliveries.SEEN_KEY.format(delivery_id="d-1")) <= deliveries.SEEN_TTL_S


async def test_pump_enqueues_one_route_job_per_delivery(redis_url: str) -> None:
    for n in range(3):
        assert await accept(redis_url, f"d-{n}")
    connection = redis.Redis.from_url(redis_url)
    pump = DeliveryPump(connection, JobQueue(connection), consumer="test", block_ms=10)
    assert pump.run_once() == 3
    assert pump.run_once() == 0
    jobs = [Job.fetch(job_key("route", f"d-{n}"), connection=connection) for n in range(3)]
    assert [job.args[1] for job in jobs] == ["d-0", "d-1", "d-2"]
    # One installation's short jobs join the queue one at a time (RQ RateLimit).
    assert [job.get_status() for job in jobs] == ["queued", "rate_limited", "rate_limited"]
    assert Queue(QueueName.QUICK, connection=connection).job_ids == [jobs[0].id]
    assert connection.xpending(deliveries.STREAM_KEY, deliveries.GROUP)["pending"] == 0


async def test_a_dead_pumps_entries_are_claimed_and_not_enqueued_twice(redis_url: str) -> None:
    assert await accept(redis_url, "d-lost")
    connection = redis.Redis.from_url(redis_url)
    deliveries.ensure_group(connection)
    # A pump read the entry, enqueued its job, then died before acknowledging it.
    (taken,) = deliveries.read_new(connection, "dead-pump", count=10, block_ms=10)
    jobs = JobQueue(connection)
    first = jobs.enqueue_route(taken.entry_id, taken.delivery_id)
    reclaimed = deliveries.claim_stale(connection, "live-pump", min_idle_ms=0, count=10)
    assert [d.delivery_id for d in reclaimed] == ["d-lost"]
    assert jobs.enqueue_route(reclaimed[0].entry_id, reclaimed[0].delivery_id).id == first.id
    assert len(Queue(QueueName.QUICK, connection=connection).get_jobs()) == 1


async def test_routed_deliveries_are_marked_and_their_body_dropped(redis_url: str) -> None:
    assert await accept(redis_url, "d-9")
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        ((entry_id, _fields),) = await client.xrange(deliveries.STREAM_KEY)
        delivery = await deliveries.load(client, entry_id.decode())
        assert delivery is not None and not await deliveries.was_routed(client, "d-9")
        await deliveries.mark_routed(client, delivery)
        assert await deliveries.was_routed(client, "d-9")
        assert await deliveries.load(client, entry_id.decode()) is None
    finally:
        await client.aclose()
