"""One worker process: an RQ worker on the AIOS queues plus the delivery pump beside it."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, cast

import redis
import structlog
from rq import Queue, SimpleWorker, Worker
from rq.callbacks import execute_failure_callback
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.utils import import_attribute

from bot import redact
from bot.app.processes import die_with_parent
from bot.app.recovery import recover_dead_local_workers, worker_name
from bot.app.redis_outage import RedisOutage, RidesOutRedisOutages, scheduler_waits
from bot.github.sessions import tls_context
from bot.inbox.pump import DeliveryPump
from bot.runtime import shutdown
from bot.runtime.catalog import CATALOG
from bot.runtime.context import redis_url_of
from bot.runtime.control import ControlledJob
from bot.runtime.queues import DependentsQueue, JobQueue
from bot.runtime.scope import HorseKilled
from bot.settings import Settings

log = structlog.get_logger(__name__)
SCHEDULER_STOP_S = 10.0
"""How long a stopping worker waits for its scheduler: a scheduler polls its stop flag at
least every 5 s, even while it waits for a lost Redis."""


class DyingScheduler(RQScheduler):
    """RQ's scheduler process, which dies with the worker that forked it: a worker killed
    outright must not leave a scheduler behind holding the scheduler lock. It outlives a
    Redis that goes away (RQ's dies with a traceback) and schedules again once it is back."""

    redis_url: str

    def work(self) -> None:
        die_with_parent(signal.SIGKILL)
        scheduler_waits(self.redis_url, super().work, lambda: bool(self._stop_requested))


class SchedulerDiesWithWorker:
    """Start RQ's scheduler as `DyingScheduler` (RQ's own `_start_scheduler`, class swapped)."""

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        worker = cast(Worker, self)
        outage = cast(RidesOutRedisOutages, self).outage
        scheduler = DyingScheduler(
            worker.queues,
            connection=worker.connection,
            # The lock names its worker, so a worker started after this one was killed can
            # release it at once (`recover_dead_local_workers`) instead of after its TTL.
            name=worker.name,
            logging_level=logging_level if logging_level is not None else worker.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=worker.serializer,
        )
        scheduler.redis_url = outage.url
        worker.scheduler = scheduler
        scheduler.acquire_locks()
        if not scheduler.acquired_locks:
            return
        if burst:
            try:
                scheduler.register_birth()
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
                scheduler.register_death()
        else:
            scheduler.start()

    def stop_scheduler(self) -> None:
        """RQ's, with a bounded wait: a scheduler that has not stopped `SCHEDULER_STOP_S` after
        SIGTERM (seen once while its Redis was away, under load) is killed, so that it never
        holds its worker's exit; the locks it kept expire with their TTL."""
        process = cast(Worker, self).scheduler._process
        if process is None or process.pid is None:
            return
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)
        process.join(SCHEDULER_STOP_S)
        if process.is_alive():
            log.warning(
                "scheduler did not stop: killed", pid=process.pid, waited_s=SCHEDULER_STOP_S
            )
            process.kill()
            process.join()


class QuickWorker(RidesOutRedisOutages, SchedulerDiesWithWorker, SimpleWorker):
    """The worker of short jobs: they run in its own process (no work horse)."""


class AgentWorker(RidesOutRedisOutages, SchedulerDiesWithWorker, Worker):
    """RQ's forking worker, whose work horse dies with it.

    RQ puts the horse in a process group of its own and kills it only when the worker
    lives to do so. A worker killed outright (SIGKILL, the OOM killer, `aios serve` giving
    up on a warm shutdown) used to leave its horse running the agent, racing the retry
    of the same job: twice the model spend. Linux's parent-death signal ends it instead,
    and RQ's abandoned-job handling gives the job to the next worker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._worker_pid = os.getpid()

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        die_with_parent(signal.SIGKILL)
        if os.getppid() != self._worker_pid:
            os._exit(1)  # the worker died between the fork and the line above
        super().main_work_horse(job, queue)

    def handle_warm_shutdown_request(self) -> None:
        """RQ waits for the running job; an agent's job would run for minutes more. Ask the
        horse to stop after its current step (it checkpoints, and its job is requeued)."""
        super().handle_warm_shutdown_request()
        if not self.horse_pid:
            return
        try:
            os.kill(self.horse_pid, shutdown.STOP_AFTER_STEP)
        except ProcessLookupError:
            return  # it just ended its job
        log.info("asked the running agent to stop after its current step", horse=self.horse_pid)

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        """RQ retries a job whose horse died but calls no failure callback for it: call it,
        so a job killed on its last attempt fails its work item instead of leaving it."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        signum = os.WTERMSIG(ret_val) if ret_val and os.WIFSIGNALED(ret_val) else None
        why = f"signal {signal.Signals(signum).name}" if signum else f"exit status {ret_val}"
        try:
            execute_failure_callback(
                job, self.death_penalty_class, HorseKilled, HorseKilled(why), None
            )
        except Exception:
            log.exception("failure callback of a killed job failed", job_id=job.id)


def run_worker(settings: Settings, *, burst: bool = False, quick_only: bool = False) -> bool:
    """Work until told to stop (SIGTERM: finish the current job, then exit).

    Returns whether any job was run (RQ's answer, useful in burst mode).
    """
    url = redis_url_of(settings)
    connection = redis.Redis.from_url(url)
    jobs = JobQueue(connection, agent_timeout_s=settings.agent_timeout_s)
    name = worker_name()
    outage = RedisOutage(url, name)
    stop = threading.Event()
    # The pump gets a connection pool of its own: RQ forks a work horse per job, and a
    # pool lock held by the pump thread at that moment must not be shared with the child.
    pump_connection = redis.Redis.from_url(url)
    pump_jobs = JobQueue(pump_connection, agent_timeout_s=settings.agent_timeout_s)
    pump = DeliveryPump(
        pump_connection,
        pump_jobs,
        consumer=name,
        redis_lost=outage.noticed,
        pending_after_s=settings.pending_effects_after_s,
    )
    pump_thread = threading.Thread(
        target=pump.run,
        args=(stop,),
        name="delivery-pump",
        daemon=True,
    )
    pump_thread.start()
    _preload()
    shutdown.install()  # before the first fork: every work horse is born with the handler
    recover_dead_local_workers(connection, [jobs.route, jobs.agents])
    # Short jobs are listed first: a worker takes routing and commands before agent work.
    queues = [jobs.route] if quick_only else [jobs.route, jobs.agents]
    # Short jobs run in the worker's own process: forking a work horse per job costs more
    # than most of them take. Agent runs keep RQ's horse, which isolates and times them out.
    worker_class = QuickWorker if quick_only else AgentWorker
    # ControlledJob: a job may ask to run later (a write turn, a model outage) as an RQ Retry.
    # DependentsQueue: the queue RQ hands a dequeued job's end to moves its dependents at once.
    worker = worker_class(
        queues,
        connection=connection,
        name=name,
        job_class=ControlledJob,
        queue_class=DependentsQueue,
    )
    worker.outage = outage
    log.info("worker started", worker=name, queues=[queue.name for queue in queues])
    try:
        # The scheduler brings back jobs rescheduled for later (a write turn, a model outage);
        # its process dies with its worker (see SchedulerDiesWithWorker).
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level))
    finally:
        stop.set()
        pump_thread.join(timeout=5)
        pump_connection.close()
        connection.close()


def _preload() -> None:
    """Import what jobs use before RQ forks a work horse per job, so no job pays for it.

    Measured with benchmarks/reaction.py: without it each job spent ~1.7 s importing
    (the LLM SDKs, mostly) and a labeled issue waited ~3.7 s for its 👀.
    """
    for spec in CATALOG:
        import_attribute(spec.path)
    tls_context()
    redact.warm()  # gitleaks' rules compile in ~0.2 s: once here, not in every work horse
