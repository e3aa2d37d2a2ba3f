"""Routing in-process for handler tests: a delivery stored, pumped, routed, its jobs run."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from bot.inbox import deliveries
from bot.inbox.pump import DeliveryPump
from bot.runtime.catalog import (
    ENSURE_LABELS,
    REFUSE_COMMAND,
    REPORT_EVENT,
    RUN_COMMAND,
    START_WORK_ITEM,
    QueueName,
)
from bot.runtime.control import ControlledJob
from bot.runtime.queues import JobQueue
from bot.testbed.github import FakeGitHub

REPO = "octo-org/hello"
Deliver = Callable[[str, dict[str, Any]], str]


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, github_fake: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    """The environment a worker process gets: the fake's App, this test's Redis, no .env."""
    monkeypatch.chdir(tmp_path)
    for key, value in {**github_fake.env(), "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIOS_DATA_DIR", str(tmp_path / "data"))


FIRST_JOBS = frozenset(
    {
        START_WORK_ITEM.path,
        ENSURE_LABELS.path,
        RUN_COMMAND.path,
        REFUSE_COMMAND.path,
        REPORT_EVENT.path,
    }
)
"""The jobs handlers enqueue; the agent jobs they lead to need a model and are not run here."""


@pytest.fixture
def deliver(worker_env: None, redis_client: redis.Redis, redis_url: str) -> Iterator[Deliver]:
    """Store a delivery as the web process does, pump it, route it, run the jobs it queued."""

    def run(event: str, payload: dict[str, Any], delivery_id: str | None = None) -> str:
        delivery_id = delivery_id or str(uuid.uuid4())
        asyncio.run(_accept(redis_url, event, payload, delivery_id))
        jobs = JobQueue(redis_client)
        DeliveryPump(redis_client, jobs, consumer="test", block_ms=10).run_once()
        work_off(redis_client, [jobs.route])
        run_queued(redis_client, FIRST_JOBS)
        return delivery_id

    yield run


def run_queued(connection: redis.Redis, functions: frozenset[str]) -> list[str]:
    """Run the queued agent-queue jobs of `functions`, one by one, through a real worker."""
    agents = Queue(QueueName.AGENTS, connection=connection)
    ran = []
    for job in agents.get_jobs():
        if job.func_name not in functions:
            continue
        agents.remove(job)
        single = Queue(f"test-{job.id}", connection=connection)
        single.enqueue_job(job)
        work_off(connection, [single])
        ran.append(job.func_name)
    return ran


def work_off(connection: redis.Redis, queues: list[Queue], timeout: float = 30.0) -> None:
    """Run `queues` dry through a real worker, jobs that asked to run later included.

    A short job whose installation's write turn is away is rescheduled (a second or two),
    not run late in place; the worker's scheduler enqueues it when due, as here.
    """
    deadline = time.monotonic() + timeout
    while True:
        worker = SimpleWorker(queues, connection=connection, job_class=ControlledJob)
        worker.work(burst=True, with_scheduler=True)
        scheduled = [ScheduledJobRegistry(queue=queue) for queue in queues]
        if not any(registry.count for registry in scheduled):
            return
        while not any(registry.get_jobs_to_schedule() for registry in scheduled):
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still scheduled after {timeout:.0f}s")
            time.sleep(0.05)  # polling the condition "a scheduled job is due", not a delay


async def _accept(url: str, event: str, payload: dict[str, Any], delivery_id: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        action = str(payload.get("action", ""))
        assert await deliveries.DeliveryInbox(client).accept(
            delivery_id=delivery_id,
            event=event,
            action=action,
            installation_id=payload["installation"]["id"],
            body=json.dumps(payload).encode(),
        )
    finally:
        await client.aclose()
