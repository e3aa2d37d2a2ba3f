"""Give the jobs of workers that died on this machine back to RQ at once, not after their TTL.

RQ finds a job abandoned when its execution's heartbeat lapses (a minute and a half
by default). A worker restarted on the same host can do better: a registered worker
of this host whose process no longer exists died, so its executions are expired now
and RQ's own cleanup retries them (jobs with retries left) or fails them; the scheduler
locks it held are released, so the scheduler moves to a live worker at once.
"""

from __future__ import annotations

import os
import socket

import redis
import structlog
from rq import Queue, Worker
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.registry import StartedJobRegistry
from rq.scheduler import RQScheduler

log = structlog.get_logger(__name__)

NAME_PREFIX = "aios"


def worker_name(pid: int | None = None) -> str:
    """`aios-<host>-<pid>`: enough for a later worker on this host to tell if it is alive."""
    return f"{NAME_PREFIX}-{socket.gethostname()}-{pid or os.getpid()}"


def _dead_here(name: str) -> bool:
    prefix = f"{NAME_PREFIX}-{socket.gethostname()}-"
    if not name.startswith(prefix):
        return False
    try:
        pid = int(name[len(prefix) :])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def recover_dead_local_workers(connection: redis.Redis, queues: list[Queue]) -> list[str]:
    """Expire the executions of this host's dead workers and let RQ retry their jobs.

    Returns the names of the dead workers found.
    """
    dead = [w for w in Worker.all(connection=connection) if _dead_here(w.name)]
    for worker in dead:
        executions = connection.smembers(WORKER_EXECUTIONS_KEY_TEMPLATE.format(worker.name))
        with connection.pipeline() as pipe:
            for queue in queues:
                registry = StartedJobRegistry(queue=queue)
                for composite in executions:
                    pipe.zadd(registry.key, {composite: 0}, xx=True)
            pipe.execute()
        worker.register_death()
        log.warning("recovered the jobs of a dead worker", worker=worker.name, jobs=len(executions))
        _release_scheduler_locks(connection, queues, worker.name)
    if dead:
        for queue in queues:
            StartedJobRegistry(queue=queue).cleanup()
    return [w.name for w in dead]


_RELEASE_IF_HELD_BY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _release_scheduler_locks(connection: redis.Redis, queues: list[Queue], holder: str) -> None:
    """A dead worker's scheduler held its queues' scheduler locks for another minute, and
    jobs rescheduled for later (a write turn, a model outage) waited that long: free them,
    so the worker starting now runs the scheduler."""
    for queue in queues:
        key = RQScheduler.get_locking_key(queue.name)
        if connection.eval(_RELEASE_IF_HELD_BY, 1, key, holder):
            log.info("released a dead worker's scheduler lock", queue=queue.name, worker=holder)
