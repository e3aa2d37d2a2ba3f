"""An item's job lost on its last attempt (abandoned, killed, RQ's timeout) reports its item."""

from __future__ import annotations

import threading

import redis
from rq.exceptions import AbandonedJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.timeouts import JobTimeoutException

from bot.inbox import deliveries
from bot.inbox.pump import DeliveryPump
from bot.jobs.lost import job_lost
from bot.runtime.catalog import REPORT_LOST_JOB, RUN_TASK
from bot.runtime.queues import JobQueue, job_key

REPO = "octo-org/hello"


def task_job(jobs: JobQueue, *, retries_left: int) -> Job:
    job = jobs.enqueue(RUN_TASK, 1, REPO, 7, 0, key="task-lost", installation_id=1)
    job.retries_left = retries_left
    job.save()
    return job


def reported(connection: redis.Redis) -> Job | None:
    key = job_key("lost", "task-lost")
    return Job.fetch(key, connection=connection) if Job.exists(key, connection) else None


def test_only_a_last_attempt_that_died_is_reported(redis_client: redis.Redis) -> None:
    jobs = JobQueue(redis_client)
    job = task_job(jobs, retries_left=1)
    job_lost(job, redis_client, AbandonedJobError, AbandonedJobError(), None)
    assert reported(redis_client) is None  # RQ runs it again
    job.retries_left = 0
    job_lost(job, redis_client, ValueError, ValueError("boom"), None)
    assert reported(redis_client) is None  # it raised: item_scope failed the item
    job_lost(job, redis_client, JobTimeoutException, JobTimeoutException("3600 s"), None)
    report = reported(redis_client)
    assert report is not None and report.func_name == REPORT_LOST_JOB.path
    assert report.args[:4] == (REPO, 7, "task-lost", "run_task")
    assert "did not finish within its time limit" in report.args[4]


def test_a_job_abandoned_on_its_last_attempt_is_reported_from_the_pump_thread(
    redis_client: redis.Redis,
) -> None:
    jobs = JobQueue(redis_client)
    job = task_job(jobs, retries_left=0)
    jobs.agents.remove(job)
    with redis_client.pipeline() as pipe:
        job.set_status(JobStatus.STARTED, pipeline=pipe)
        execution = Execution.create(job, ttl=600, pipeline=pipe)
        pipe.execute()
    # Its worker's heartbeat lapsed: the execution has expired.
    registry = StartedJobRegistry(queue=jobs.agents)
    redis_client.zadd(registry.key, {execution.composite_key: 0}, xx=True)

    # RQ's cleanup runs the failure callback under SIGALRM, which a thread cannot set.
    deliveries.ensure_group(redis_client)
    pump = DeliveryPump(redis_client, jobs, consumer="test", block_ms=10)
    thread = threading.Thread(target=pump.run_once)
    thread.start()
    thread.join(10)

    report = reported(redis_client)
    assert report is not None
    assert "worker died on every attempt (1)" in report.args[4]
