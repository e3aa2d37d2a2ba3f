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
"""Route jobs: run a stored delivery through the handlers. Short, so they get their own queue."""

AGENT_QUEUE = "aios-agents"
"""Agent and GitHub-effect jobs."""

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

    def enqueue_route(self, entry_id: str, delivery_id: str) -> Job | None:
        return self._enqueue_unique(
            self.route,
            "bot.jobs.route_delivery",
            (entry_id, delivery_id),
            job_id=job_key("route", delivery_id),
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
    ) -> Job | None:
        """Enqueue `func(*args)` once per `key`; None when a job with that key exists.

        Args are primitives only (ids, names, numbers): a worker authenticates itself, so
        no token ever sits in Redis as a job argument.
        """
        # RQ refuses `unique=True` together with a rate limit, so uniqueness is checked
        # first. Two routers racing on the same key is the only gap, and agent jobs are
        # idempotent (hidden markers, lookups before creates), so a rare double run is safe.
        if Job.exists(key, connection=self.connection):
            return None
        return self.agents.enqueue_call(
            func,
            args=args,
            job_id=key,
            timeout=timeout,
            retry=retry or Retry(max=2),
            depends_on=depends_on,
            result_ttl=RESULT_TTL_S,
            failure_ttl=RESULT_TTL_S,
            rate_limit=RateLimit(
                key=f"installation-{installation_id}", concurrency=INSTALLATION_CONCURRENCY
            ),
        )

    def _enqueue_unique(
        self, queue: Queue, func: str | Callable[..., Any], args: tuple[Any, ...], **options: Any
    ) -> Job | None:
        try:
            return queue.enqueue_call(
                func,
                args=args,
                unique=True,
                result_ttl=RESULT_TTL_S,
                failure_ttl=RESULT_TTL_S,
                **options,
            )
        except DuplicateJobError:
            return None


ITEM_JOBS_KEY = "aios:item-jobs:{key}"
"""Set of the RQ job ids enqueued for one work item, so `/aios cancel` can stop them all."""


def track(connection: redis.Redis, item_key: str, job: Job | None) -> None:
    if job is not None:
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
