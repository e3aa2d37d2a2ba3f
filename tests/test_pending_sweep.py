"""The sweeper's bookkeeping on real Redis: which items owe effects, since when, who owns them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import redis
import redis.asyncio
from rq import Queue

from bot.runtime.queues import JobQueue
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.parts import PendingEffects

REPO = "octo-org/hello"


def item(number: int, pending: PendingEffects | None) -> WorkItem:
    made = WorkItem.new(REPO, number, 1, title="t", created_by="alice", at=datetime.now(UTC))
    return replace(made, pending=pending)


OWED = PendingEffects("labeled_cto", "alice", ("run_cto_triage", "update_progress"), "job-1")


async def test_items_owing_effects_are_claimed_once_per_period(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    await store.save_item(aredis, item(1, OWED), pending_since=1000.0)
    await store.save_item(aredis, item(2, OWED), pending_since=1050.0)
    await store.save_item(aredis, item(3, None))

    assert store.claim_pending(redis_client, older_than_s=60, now=1070.0) == [f"{REPO}#1"]
    # Claimed: the other workers' sweepers pass it by until another period has gone by.
    assert store.claim_pending(redis_client, older_than_s=60, now=1100.0) == []
    assert store.claim_pending(redis_client, older_than_s=60, now=1200.0) == [
        f"{REPO}#2",
        f"{REPO}#1",
    ]
    # Saving the item without pending effects (they were carried out) takes it off the list.
    await store.save_item(aredis, item(1, None))
    assert store.claim_pending(redis_client, older_than_s=60, now=9999.0) == [f"{REPO}#2"]


async def test_saving_other_data_keeps_the_time_effects_were_left(
    aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    await store.save_item(aredis, item(1, OWED), pending_since=1000.0)
    await store.save_item(aredis, replace(item(1, OWED), tokens=5))  # narration, cost…
    assert redis_client.zscore(store.PENDING_KEY, f"{REPO}#1") == 1000.0


def test_only_a_job_that_has_not_ended_owns_its_pending_effects(redis_client: redis.Redis) -> None:
    jobs = JobQueue(redis_client)
    queued = Queue("aios-route", connection=redis_client).enqueue_call("math.floor", args=(1.5,))
    assert jobs.will_run(queued.id)
    queued.cancel()
    assert not jobs.will_run(queued.id)
    assert not jobs.will_run("no-such-job")
