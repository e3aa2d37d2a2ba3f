"""One worker process: an RQ worker on the AIOS queues plus the delivery pump beside it."""

from __future__ import annotations

import threading

import redis
import structlog
from rq import SimpleWorker, Worker
from rq.utils import import_attribute

from bot import redact
from bot.app.recovery import recover_dead_local_workers, worker_name
from bot.github.sessions import tls_context
from bot.inbox.pump import DeliveryPump
from bot.runtime.catalog import CATALOG
from bot.runtime.context import redis_url_of
from bot.runtime.queues import JobQueue
from bot.settings import Settings

log = structlog.get_logger(__name__)


def run_worker(settings: Settings, *, burst: bool = False, quick_only: bool = False) -> bool:
    """Work until told to stop (SIGTERM: finish the current job, then exit).

    Returns whether any job was run (RQ's answer, useful in burst mode).
    """
    url = redis_url_of(settings)
    connection = redis.Redis.from_url(url)
    jobs = JobQueue(connection)
    name = worker_name()
    stop = threading.Event()
    # The pump gets a connection pool of its own: RQ forks a work horse per job, and a
    # pool lock held by the pump thread at that moment must not be shared with the child.
    pump_connection = redis.Redis.from_url(url)
    pump = threading.Thread(
        target=DeliveryPump(pump_connection, JobQueue(pump_connection), consumer=name).run,
        args=(stop,),
        name="delivery-pump",
        daemon=True,
    )
    pump.start()
    _preload()
    recover_dead_local_workers(connection, [jobs.route, jobs.agents])
    # Short jobs are listed first: a worker takes routing and commands before agent work.
    queues = [jobs.route] if quick_only else [jobs.route, jobs.agents]
    # Short jobs run in the worker's own process: forking a work horse per job costs more
    # than most of them take. Agent runs keep RQ's horse, which isolates and times them out.
    worker_class = SimpleWorker if quick_only else Worker
    worker = worker_class(queues, connection=connection, name=name)
    log.info("worker started", worker=name, queues=[queue.name for queue in queues])
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level))
    finally:
        stop.set()
        pump.join(timeout=5)
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
