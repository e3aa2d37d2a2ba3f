"""RQ queues and the one way jobs are enqueued: idempotency keys and per-installation limits."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.rate_limit import RateLimit

ROUTE_QUEUE = "aios-route"
"""Short jobs: routing a delivery, commands, reports, labels, opening the PR. `aios serve`
keeps one worker on this queue alone, so a maintainer's `/aios cancel` is not stuck behind
an agent that works for twenty minutes."""

AGENT_QUEUE = "aios-agents"
"""Agent runs (the CTO's triage, the plan's tasks): long, and limited per installation."""

ROUTE_TIMEOUT_S = 120
AGENT_TIMEOUT_S = 3600
RESULT_TTL_S = 7 * 24 * 3600
"""Finished jobs are kept as long as deliveries are deduplicated, so a unique job id stays taken."""

INSTALLATION_CONCURRENCY = 4
"""Agent jobs one installation may run at once; the rest wait in RQ's rate-limit registry."""


def job_key(kind: str, *parts: object) -> str:
    """A deterministic RQ job id for one logical piece of work.

    RQ ids allow only letters, digits, `_` and `-`, so the parts (repository names,
    delivery ids) are hashed; the readable prefix keeps `rq info` listings legible.
    """
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:24]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '-', kind)}-{digest}"


class JobQueue:
    """Enqueue AIOS jobs. Every job has a deterministic id, so enqueueing twice is harmless."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection
        self.route = Queue(ROUTE_QUEUE, connection=connection)
        self.agents = Queue(AGENT_QUEUE, connection=connection)

    def enqueue_route(self, entry_id: str, delivery_id: str) -> Job:
        return self._enqueue_once(
            self.route,
            "bot.jobs.route_delivery",
            (entry_id, delivery_id),
            key=job_key("route", delivery_id),
            timeout=ROUTE_TIMEOUT_S,
            # A worker killed mid-route leaves the job abandoned; RQ re-runs it. No interval:
            # a delayed retry needs RQ's scheduler, whose lock a dead worker may still hold.
            retry=Retry(max=3),
        )

    def enqueue_agent_job(
        self,
        func: str | Callable[..., Any],
        *args: Any,
        key: str,
        installation_id: int,
        timeout: int = AGENT_TIMEOUT_S,
        retry: Retry | None = None,
        depends_on: Job | str | None = None,
    ) -> Job:
        """Enqueue an agent run `func(*args)` once per `key`; the existing job if there is one.

        Args are primitives only (ids, names, numbers): a worker authenticates itself, so
        no token ever sits in Redis as a job argument.
        """
        return self._enqueue_once(
            self.agents,
            func,
            args,
            key=key,
            timeout=timeout,
            retry=retry or Retry(max=2),
            depends_on=depends_on,
            rate_limit=RateLimit(
                key=f"installation-{installation_id}", concurrency=INSTALLATION_CONCURRENCY
            ),
        )

    def enqueue_quick_job(
        self,
        func: str | Callable[..., Any],
        *args: Any,
        key: str,
        timeout: int = 300,
        depends_on: Job | str | None = None,
    ) -> Job:
        """Enqueue a short job once per `key` on the route queue (no per-installation limit)."""
        return self._enqueue_once(
            self.route,
            func,
            args,
            key=key,
            timeout=timeout,
            retry=Retry(max=2),
            depends_on=depends_on,
        )

    def _enqueue_once(
        self,
        queue: Queue,
        func: str | Callable[..., Any],
        args: tuple[Any, ...],
        *,
        key: str,
        **options: Any,
    ) -> Job:
        # Returning the existing job keeps `depends_on` chains right when a retried job
        # enqueues its followers again. RQ's own `unique=True` is atomic but refuses
        # dependencies and rate limits, so those check first: two jobs racing on one key
        # is the only gap, and every job is idempotent (markers, lookups before creates).
        if Job.exists(key, connection=self.connection):
            return Job.fetch(key, connection=self.connection)
        atomic = options.get("depends_on") is None and options.get("rate_limit") is None
        try:
            return queue.enqueue_call(
                func,
                args=args,
                job_id=key,
                unique=atomic,
                result_ttl=RESULT_TTL_S,
                failure_ttl=RESULT_TTL_S,
                **options,
            )
        except DuplicateJobError:
            return Job.fetch(key, connection=self.connection)


ITEM_JOBS_KEY = "aios:item-jobs:{key}"
"""Set of the RQ job ids enqueued for one work item, so `/aios cancel` can stop them all."""


def track(connection: redis.Redis, item_key: str, job: Job) -> None:
    key = ITEM_JOBS_KEY.format(key=item_key)
    connection.sadd(key, job.id)
    connection.expire(key, RESULT_TTL_S)


def cancel_tracked(connection: redis.Redis, item_key: str) -> list[str]:
    """Cancel the item's waiting jobs and stop its running ones; returns the ids touched."""
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import JobStatus

    touched = []
    for raw in connection.smembers(ITEM_JOBS_KEY.format(key=item_key)):
        job_id = raw.decode()
        try:
            job = Job.fetch(job_id, connection=connection)
            status = job.get_status()
            if status == JobStatus.STARTED:
                send_stop_job_command(connection, job_id)
            elif status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
                job.cancel()
            else:
                continue
        except (NoSuchJobError, InvalidJobOperation):
            continue
        touched.append(job_id)
    return touched
