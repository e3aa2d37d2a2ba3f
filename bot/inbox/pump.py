"""Moves stored deliveries from the inbox stream into RQ route jobs, inside each worker.

Each loop also enqueues the Control Center refreshes that came due (`bot.runtime.refresh`):
paced refreshes wait as due times in Redis, never as a sleeping worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis
import structlog
from rq.registry import StartedJobRegistry
from rq.timeouts import BaseDeathPenalty

from bot.inbox import deliveries
from bot.runtime import refresh
from bot.runtime.catalog import CARRY_OUT_PENDING
from bot.runtime.queues import JobQueue, job_key
from bot.workitem.store import claim_pending

log = structlog.get_logger(__name__)

CLAIM_IDLE_MS = 30_000
"""An entry read but not acknowledged for this long belongs to a dead pump; take it over."""

HOUSEKEEPING_EVERY_S = 10.0
"""How often stale stream entries and abandoned RQ jobs are looked for."""

PENDING_EFFECTS_AFTER_S = 60.0
"""Effects pending this long belong to a job that died for good: the sweeper takes them.
A live job finishes its effects in seconds; one that waits out a rate limit may be caught
up with, which costs nothing: every effect is idempotent."""


class DeliveryPump:
    """Reads the inbox as one consumer of the group and enqueues one route job per entry.

    An entry is acknowledged only after its route job is enqueued; the job id is derived
    from the delivery id and enqueued with `unique=True`, so a pump that dies between the
    two steps costs nothing but a re-claim.
    """

    def __init__(
        self,
        connection: redis.Redis,
        jobs: JobQueue,
        consumer: str,
        *,
        redis_lost: Callable[[Exception], None] | None = None,
        batch: int = 100,
        block_ms: int = 1000,
        pending_after_s: float = PENDING_EFFECTS_AFTER_S,
    ) -> None:
        self._connection = connection
        self._jobs = jobs
        self._consumer = consumer
        self._redis_lost = redis_lost
        self._batch = batch
        self._block_ms = block_ms
        self._next_housekeeping = 0.0
        self._pending_after_s = pending_after_s
        # Looked for twice per threshold (at most every housekeeping period), so effects
        # are taken up between one and one and a half thresholds after they were stored.
        self._sweep_every_s = min(HOUSEKEEPING_EVERY_S, pending_after_s / 2)
        self._next_sweep = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except redis.RedisError as exc:
                # `redis_lost` speaks for the whole worker, once in a while (bot.app.redis_outage).
                lost = isinstance(exc, (redis.ConnectionError, redis.TimeoutError))
                if lost and self._redis_lost is not None:
                    self._redis_lost(exc)
                else:
                    log.warning("delivery pump cannot reach redis; retrying", error=str(exc))
                stop.wait(1.0)

    def run_once(self) -> int:
        """Move what is waiting (blocking up to `block_ms` when nothing is); returns the count."""
        try:
            return self._move_waiting()
        except redis.ResponseError as exc:
            # A fresh (or flushed) Redis has no group yet; create it and go on.
            if "NOGROUP" not in str(exc):
                raise
            deliveries.ensure_group(self._connection)
            return self._move_waiting()

    def _move_waiting(self) -> int:
        moved = 0
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY_S
            moved += self._move(
                deliveries.claim_stale(
                    self._connection, self._consumer, min_idle_ms=CLAIM_IDLE_MS, count=self._batch
                )
            )
            self._requeue_abandoned_jobs()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self._sweep_every_s
            try:
                self._sweep_pending_effects()
            except redis.RedisError:
                raise
            except Exception:
                # The pump moves every delivery: a sweep that fails must not stop it.
                log.exception("sweeping pending effects failed")
        refresh.enqueue_due(self._connection, self._jobs)
        moved += self._move(
            deliveries.read_new(
                self._connection, self._consumer, count=self._batch, block_ms=self._block_ms
            )
        )
        return moved

    def _move(self, batch: list[deliveries.Delivery]) -> int:
        for delivery in batch:
            self._jobs.enqueue_route(
                delivery.entry_id, delivery.delivery_id, delivery.installation_id
            )
        deliveries.acknowledge(self._connection, [d.entry_id for d in batch])
        if batch:
            log.debug("deliveries queued for routing", count=len(batch))
        return len(batch)

    def _requeue_abandoned_jobs(self) -> None:
        # RQ notices a job whose worker died (its heartbeat lapsed) when a registry is
        # cleaned; it then retries the job if it has retries left, and calls its failure
        # callback. Those run here, in a thread, where SIGALRM cannot time them.
        for queue in (self._jobs.route, self._jobs.agents):
            StartedJobRegistry(queue=queue, death_penalty_class=_Untimed).cleanup()

    def _sweep_pending_effects(self) -> None:
        now = time.time()
        for key in claim_pending(self._connection, older_than_s=self._pending_after_s, now=now):
            repo, _, number = key.rpartition("#")
            self._jobs.enqueue(
                CARRY_OUT_PENDING, repo, int(number), key=job_key("pending", key, now)
            )
            log.warning("effects left pending; carrying them out", item=key)


class _Untimed(BaseDeathPenalty):
    """No time limit: the only failure callback (`bot.jobs.lost.job_lost`) enqueues a job."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass
