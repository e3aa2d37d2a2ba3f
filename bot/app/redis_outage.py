"""A running worker rides out a Redis that goes away (a restart, a network blip): it says so
now and then, keeps its process, and takes jobs again once Redis answers.

RQ retries a lost Redis inside its dequeue loop with an error line per try, backing off
to a minute (so a Redis back after a long outage waited up to a minute for its workers);
its pubsub thread logs every 2 s; its scheduler process dies with a traceback; and a worker
stopped meanwhile ends in one. `serve`'s supervisor would restart it into the same failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
import structlog
from rq import Worker
from rq.exceptions import DequeueTimeout
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from bot.app.readiness import redis_unreachable
from bot.app.recovery import worker_name
from bot.runtime import redis_clients

log = structlog.get_logger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
"""Retries back off to one every 5 s: cheap for a Redis that is down, quick once it is back."""
NOTE_EVERY_S = 30.0
"""At most one log line per this many seconds while Redis stays away."""

LOST = (redis.ConnectionError, redis.TimeoutError)
"""What a Redis that went away raises (a ConnectionError from a refused or reset socket)."""


class RedisOutage:
    """One worker process's account of its Redis being away, whichever of its threads (the
    RQ loop, RQ's pubsub thread, the delivery pump) notices: at most one line per
    `note_every_s`, and one when Redis is back."""

    def __init__(self, url: str, worker: str, *, note_every_s: float = NOTE_EVERY_S) -> None:
        self.url = url
        self._worker = worker
        self._note_every_s = note_every_s
        self._lock = threading.Lock()
        self._noted_at: float | None = None

    def noticed(self, error: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            if self._noted_at is not None and now - self._noted_at < self._note_every_s:
                return
            self._noted_at = now
        log.warning(
            f"{redis_unreachable(self.url, error)}; this worker waits for it "
            f"(retrying every {MAX_DELAY_S:g} s at most)",
            worker=self._worker,
        )

    def over(self) -> None:
        with self._lock:
            if self._noted_at is None:
                return
            self._noted_at = None
        log.info("redis reachable again; worker resumes", worker=self._worker)

    def wait(self, stop: Callable[[], bool], note: Callable[[Exception], None]) -> bool:
        """Block until Redis answers PING, retrying with backoff; `note` each failure.

        Returns False when `stop()` turned true first. A client of its own, without
        redis-py's retries: one refused connection is answer enough.
        """
        client = redis_clients.sync_client(self.url)
        delay = FIRST_DELAY_S
        try:
            while not stop():
                try:
                    client.ping()
                    return True
                except redis.RedisError as error:
                    note(error)
                time.sleep(delay)
                delay = min(MAX_DELAY_S, delay * 2)
            return False
        finally:
            client.close()


class RidesOutRedisOutages:
    """An RQ worker that waits for its Redis instead of retrying noisily or quitting.

    Set `outage` before `work()`. Every step of RQ's work loop that touches Redis waits a
    lost Redis out: the blocking dequeue, where the worker is almost always, and the
    start-up, suspension check and maintenance around it, where RQ quits with a traceback
    (and `serve` would start a new worker, under another name, into the same outage).
    """

    outage: RedisOutage

    def _wait_out(self, error: Exception) -> None:
        self.outage.noticed(error)
        # RQ's signal handler raises StopRequested out of this wait when idle.
        self.outage.wait(lambda: False, self.outage.noticed)
        self.outage.over()

    def _riding_out(self, step: Callable[[], T]) -> T:
        """`step` (idempotent), again each time a Redis lost meanwhile is back."""
        while True:
            try:
                return step()
            except LOST as error:
                self._wait_out(error)
                self._register_again()

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        worker = cast(Worker, self)
        while True:
            try:
                cast(Any, super()).bootstrap(*args, **kwargs)
                return
            except LOST as error:
                self._wait_out(error)
                # RQ registers before it subscribes: a registration that made it is this
                # worker's own (the name holds its pid), and would stop RQ's from repeating.
                worker.connection.delete(worker.key)

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        rq_worker = cast(Any, super())  # zero-argument super() does not work in a lambda
        self._riding_out(lambda: rq_worker._start_scheduler(*args, **kwargs))

    def check_for_suspension(self, burst: bool) -> None:
        rq_worker = cast(Any, super())
        self._riding_out(lambda: rq_worker.check_for_suspension(burst))

    def run_maintenance_tasks(self) -> None:
        self._riding_out(cast(Any, super()).run_maintenance_tasks)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's own (heartbeat, maintenance, blocking dequeue), minus its connection retry;
        without `max_idle_time`, which AIOS does not use."""
        worker = cast(Worker, self)
        if max_idle_time is not None:
            return cast(Any, super()).dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while True:
            try:
                worker.set_state(WorkerStatus.IDLE)
                worker.procline("Listening on " + ",".join(worker.queue_names()))
                worker.heartbeat()
                if worker.should_run_maintenance_tasks:
                    worker.run_maintenance_tasks()
                result = worker.queue_class.dequeue_any(
                    worker._ordered_queues,
                    timeout,
                    connection=worker.connection,
                    job_class=worker.job_class,
                    serializer=worker.serializer,
                    death_penalty_class=worker.death_penalty_class,
                )
            except DequeueTimeout:
                continue
            except LOST as error:
                self._wait_out(error)
                self._register_again()
                continue
            if result is not None:
                job, queue = result
                worker.reorder_queues(reference_queue=queue)
                job.redis_server_version = worker.get_redis_server_version()
                worker.log.info("Worker %s: %s: %s", worker.name, queue.name, job.id)
            worker.heartbeat()
            return result

    def _register_again(self) -> None:
        """A Redis that came back empty (no persistence) forgot this worker: /readyz counts
        registered workers, and RQ's monitoring shows them."""
        worker = cast(Worker, self)
        if not worker.connection.exists(worker.key):
            worker.register_birth()

    def _pubsub_exception_handler(self, exc: Exception, pubsub: Any, pubsub_thread: Any) -> None:
        """RQ's pubsub thread logs an error every 2 s while Redis is away: note it instead
        (redis-py subscribes again once it reconnects)."""
        if not isinstance(exc, LOST):
            cast(Any, super())._pubsub_exception_handler(exc, pubsub, pubsub_thread)
            return
        self.outage.noticed(exc)
        time.sleep(2.0)

    def teardown(self) -> None:
        """Stopped while Redis is away: its scheduler is stopped first, then RQ's
        unregistering fails; the registration expires with its TTL."""
        try:
            cast(Any, super()).teardown()
        except LOST as error:
            log.warning(
                "worker stopped without unregistering: redis unreachable",
                worker=cast(Worker, self).name,
                error=str(error),
            )


def scheduler_waits(url: str, work: Callable[[], None], stopping: Callable[[], bool]) -> None:
    """Run RQ's scheduler loop `work`, again each time Redis comes back, until it returns.

    Silent: its worker says that Redis is away. Asked to stop while Redis is away, it
    returns without releasing its locks (they expire, or the next worker here frees them).
    """
    outage = RedisOutage(url, "scheduler")
    while True:
        try:
            work()
            return
        except LOST:
            if not outage.wait(stopping, lambda _error: None):
                return


def wait_for_redis(url: str) -> None:
    """Block until the Redis at `url` answers, for a worker that starts before its Redis:
    waiting, not exiting, since `aios serve` would restart it into the same failure."""
    outage = RedisOutage(url, worker_name())
    outage.wait(lambda: False, outage.noticed)
    outage.over()
