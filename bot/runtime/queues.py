"""RQ queues and the one way jobs are enqueued: idempotency keys and per-installation limits."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import redis
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit

from bot.runtime.catalog import (
    AGENT_TIMEOUT_S,
    LOST_CALLBACK,
    ROUTE_DELIVERY,
    JobSpec,
    QueueName,
)
from bot.runtime.control import ControlledJob

RESULT_TTL_S = 7 * 24 * 3600
"""Finished jobs are kept as long as deliveries are deduplicated, so a unique job id stays taken."""

ENDED = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
"""The statuses of a job that will not run again."""

READY_ATTEMPTS = 20
"""How often a finished job's ready dependents are offered to their queue before the rest is
left to RQ's maintenance pass."""


class DependentsQueue(Queue):
    """RQ's queue, whose finished jobs' dependents reach their queue at once.

    RQ moves a job's ready dependents onto the queue under WATCH of the queue's one ready
    registry, and skips a dependent when anything else changed that registry meanwhile (another
    worker moving its own job's dependents at the same moment): "a later cleanup pass
    revisits it", which is the workers' maintenance, every ten minutes. Seen as a work item
    stuck after its agent finished (its `finish_implementation` never ran) when two agents
    finished together. Offering the skipped ones again, until none is left, closes that gap.
    """

    def enqueue_ready_jobs_by_queue(self, job_ids_by_queue_name: dict[str, list[str]]) -> None:
        waiting = job_ids_by_queue_name
        for _attempt in range(READY_ATTEMPTS):
            super().enqueue_ready_jobs_by_queue(waiting)
            left = {name: self._still_ready(name, ids) for name, ids in waiting.items()}
            waiting = {name: ids for name, ids in left.items() if ids}
            if not waiting:
                return

    def _still_ready(self, queue_name: str, job_ids: list[str]) -> list[str]:
        registry = Queue(queue_name, connection=self.connection).ready_job_registry
        return [
            job_id for job_id in job_ids if self.connection.zscore(registry.key, job_id) is not None
        ]


INSTALLATION_CONCURRENCY = 4
"""Agent jobs one installation may run at once; the rest wait in RQ's rate-limit registry."""

QUICK_CONCURRENCY = 1
"""Short jobs of one installation queued or running at once. The rest wait in RQ's rate-limit
registry and join the queue's tail one by one as each ends, so the queue holds at most one
job per installation: a burst of fifty labels on one installation waits behind itself, and
another installation's job is at most one job per installation from the front. (Its writes
are serialised anyway: GitHub asks for one at a time per installation.)"""


def job_key(kind: str, *parts: object) -> str:
    """A deterministic RQ job id for one logical piece of work.

    RQ ids allow only letters, digits, `_` and `-`, so the parts (repository names,
    delivery ids) are hashed; the readable prefix keeps `rq info` listings legible.
    """
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:24]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '-', kind)}-{digest}"


class JobQueue:
    """Enqueue AIOS jobs. Every job has a deterministic id, so enqueueing twice is harmless."""

    def __init__(self, connection: redis.Redis, *, agent_timeout_s: int = AGENT_TIMEOUT_S) -> None:
        self.connection = connection
        self.agent_timeout_s = agent_timeout_s
        self.route = DependentsQueue(
            QueueName.QUICK, connection=connection, job_class=ControlledJob
        )
        self.agents = DependentsQueue(
            QueueName.AGENTS, connection=connection, job_class=ControlledJob
        )

    def enqueue(
        self,
        spec: JobSpec,
        *args: Any,
        key: str,
        installation_id: int | None = None,
        depends_on: Job | str | None = None,
    ) -> Job:
        """Enqueue `spec`'s function with `args` once per `key`; the existing job if there is one.

        Args are primitives only (ids, names, numbers): a worker authenticates itself, so
        no token ever sits in Redis as a job argument. The installation, whose jobs are limited
        together, is `installation_id` or the job's own argument (`JobSpec.installation_arg`).
        """
        agent = spec.queue is QueueName.AGENTS
        options: dict[str, Any] = {
            "timeout": self.agent_timeout_s if agent else spec.timeout_s,
            # Retries run at once; a job that must wait (a write turn, a model outage) asks
            # for its later run itself (`bot.runtime.control`).
            "retry": Retry(max=spec.retries) if spec.retries else None,
            "depends_on": depends_on,
        }
        if spec.fails_item:
            options["on_failure"] = Callback(LOST_CALLBACK)
        if installation_id is None and spec.installation_arg is not None:
            installation_id = int(args[spec.installation_arg])
        agents = spec.queue is QueueName.AGENTS
        if agents and installation_id is None:
            raise ValueError(f"{spec.name} is an agent job: pass installation_id")
        if installation_id is not None:
            options["rate_limit"] = (
                RateLimit(
                    key=f"installation-{installation_id}", concurrency=INSTALLATION_CONCURRENCY
                )
                if agents
                else RateLimit(
                    key=f"installation-{installation_id}-quick", concurrency=QUICK_CONCURRENCY
                )
            )
        queue = self.agents if agents else self.route
        keep = spec.keep_s if spec.keep_s is not None else RESULT_TTL_S
        return self._enqueue_once(queue, spec.path, args, key=key, keep_s=keep, **options)

    def will_run(self, job_id: str) -> bool:
        """Whether the job is waiting, running, or will be retried: it has not ended."""
        try:
            status = Job.fetch(job_id, connection=self.connection).get_status()
        except (NoSuchJobError, InvalidJobOperation):
            return False
        return status not in ENDED

    def enqueue_route(
        self, entry_id: str, delivery_id: str, installation_id: int | None = None
    ) -> Job:
        """The route job of one stored delivery; its id comes from the delivery id."""
        return self.enqueue(
            ROUTE_DELIVERY,
            entry_id,
            delivery_id,
            key=job_key("route", delivery_id),
            installation_id=installation_id,
        )

    def _enqueue_once(
        self,
        queue: Queue,
        func: str,
        args: tuple[Any, ...],
        *,
        key: str,
        keep_s: int = RESULT_TTL_S,
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
                result_ttl=keep_s,
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
