"""Jobs in a real RQ worker: a paced write reschedules its job instead of holding the worker,
and the metrics count jobs once, their retries apart, and every GitHub call."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import redis
import redis.asyncio
from rq import Queue, Retry, SimpleWorker, get_current_job
from rq.job import JobStatus

from bot.app.metrics import WebMetrics
from bot.github import pacing
from bot.github.scopes import TALK
from bot.inbox.pump import DeliveryPump
from bot.runtime.catalog import ENSURE_LABELS, START_WORK_ITEM
from bot.runtime.control import ControlledJob
from bot.runtime.counters import JOB_OUTCOMES_KEY, JOB_RETRIES_KEY
from bot.runtime.queues import JobQueue, job_key
from bot.runtime.scope import job_scope
from bot.testbed.github import FakeGitHub, app_events
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.states import State
from tests.routing_harness import REPO, _accept, work_off

OTHER_REPO = "quiet-org/site"


def eyes(fake: FakeGitHub, repo: str, number: int) -> bool:
    with fake.lock:
        return any(r.content == "eyes" for r in fake.repo(repo).issues[number].reactions)


def counts(client: redis.Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(key).items()}


async def spend_write_budget(url: str, installation_id: int, turns: int) -> None:
    """Writes of other jobs of this installation took its next `turns` turns."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        for _ in range(turns):
            await pacing.take_turn(
                client,
                f"installation:{installation_id}",
                now=time.time(),
                spacing_s=1.0,
                burst=4,
                max_wait_s=None,
            )
    finally:
        await client.aclose()


def test_a_paced_write_reschedules_its_job_and_the_worker_serves_another_installation(
    github_fake: FakeGitHub, worker_env: None, redis_client: redis.Redis, redis_url: str
) -> None:
    github_fake.add_installation(2, "quiet-org", [OTHER_REPO])
    github_fake.set_permission(OTHER_REPO, "alice", "write")
    busy = github_fake.add_issue(REPO, "One of many")
    quiet = github_fake.add_issue(OTHER_REPO, "The only one")
    for repo, number, installation in ((REPO, busy.number, 1), (OTHER_REPO, quiet.number, 2)):
        payload = app_events.issue_labeled(
            github_fake, repo, number, "aios", installation_id=installation
        )
        asyncio.run(_accept(redis_url, "issues", payload, str(uuid.uuid4())))
    # Installation 1's burst is spent: its next write turn is seconds away.
    asyncio.run(spend_write_budget(redis_url, 1, turns=6))
    jobs = JobQueue(redis_client)
    DeliveryPump(redis_client, jobs, consumer="test", block_ms=10).run_once()
    busy_route, quiet_route = jobs.route.get_jobs()[:2]

    # One pass of a real worker, without its scheduler: what it does not finish now waits.
    SimpleWorker([jobs.route], connection=redis_client, job_class=ControlledJob).work(burst=True)

    assert eyes(github_fake, OTHER_REPO, quiet.number)  # served although queued second
    assert not eyes(github_fake, REPO, busy.number)  # nothing written for the busy one yet
    assert busy_route.get_status(refresh=True) == JobStatus.SCHEDULED
    assert quiet_route.get_status(refresh=True) == JobStatus.FINISHED

    work_off(redis_client, [jobs.route])  # the scheduler brings it back when its turn comes
    assert eyes(github_fake, REPO, busy.number)
    outcomes = counts(redis_client, JOB_OUTCOMES_KEY)
    assert outcomes["route_delivery|succeeded"] == 2  # jobs, not attempts
    assert "route_delivery|failed" not in outcomes
    retries = counts(redis_client, JOB_RETRIES_KEY)
    assert retries["route_delivery|rescheduled:github-write-pacing"] >= 1


def test_a_short_job_is_rescheduled_before_it_changes_anything(
    github_fake: FakeGitHub, worker_env: None, redis_client: redis.Redis, redis_url: str
) -> None:
    """Only a job's first run reports its event: rescheduled after the transition, the effects
    that follow it (the progress comment) would be left undone."""
    issue = github_fake.add_issue(REPO, "Waits its turn")
    asyncio.run(spend_write_budget(redis_url, 1, turns=6))
    jobs = JobQueue(redis_client)
    key = job_key("start", REPO, issue.number)
    job = jobs.enqueue(START_WORK_ITEM, 1, REPO, issue.number, "backend", "alice", key=key)
    requests_before = len(github_fake.requests)

    SimpleWorker([jobs.route], connection=redis_client, job_class=ControlledJob).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    assert len(github_fake.requests) == requests_before  # not even a read
    assert asyncio.run(load_item(redis_url, issue.number)) is None

    work_off(redis_client, [jobs.route])
    item = asyncio.run(load_item(redis_url, issue.number))
    assert item is not None and item.state is State.IMPLEMENTING
    (comment,) = github_fake.comments(REPO, issue.number)
    assert item.progress_comment_id == comment.id


async def load_item(url: str, number: int) -> WorkItem | None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await store.load_item(client, REPO, number)
    finally:
        await client.aclose()


def test_a_job_that_has_written_waits_for_its_later_turns_in_place(
    github_fake: FakeGitHub, worker_env: None, redis_client: redis.Redis, redis_url: str
) -> None:
    """Rescheduled after its 👍, a command would react again (and take a turn for it) for ever."""
    queue = Queue("test-two-writes", connection=redis_client, job_class=ControlledJob)
    asyncio.run(spend_write_budget(redis_url, 1, turns=3))  # one turn of the burst left
    issue = github_fake.add_issue(REPO, "Two writes")
    job = queue.enqueue(two_writes, issue.number, retry=Retry(max=1))
    SimpleWorker([queue], connection=redis_client, job_class=ControlledJob).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert len(github_fake.comments(REPO, issue.number)) == 2


async def two_writes(number: int) -> None:
    """A short job's shape: a reaction, then a reply a turn later."""
    async with job_scope("two_writes") as ctx:
        ctx_job = get_current_job()
        assert ctx_job is not None
        ctx.scope_to(REPO, TALK)
        async with ctx.github(1) as gh:
            url = "/repos/{+repo}/issues/{number}/comments"
            with pacing.wait_limit(0.1):  # as on the quick queue
                for body in ("first", "second"):
                    await gh.post(url, {"repo": REPO, "number": number}, data={"body": body})


def test_metrics_count_each_job_once_and_its_retries_apart(
    worker_env: None, redis_client: redis.Redis
) -> None:
    queue = Queue("test-flaky", connection=redis_client, job_class=ControlledJob)
    queue.enqueue(flaky, job_id=job_key("flaky", "1"), retry=Retry(max=2))
    SimpleWorker([queue], connection=redis_client, job_class=ControlledJob).work(burst=True)
    assert counts(redis_client, JOB_OUTCOMES_KEY) == {"flaky|succeeded": 1}
    assert counts(redis_client, JOB_RETRIES_KEY) == {"flaky|error": 1}


async def flaky() -> None:
    """Fails its first attempt, succeeds on RQ's retry."""
    async with job_scope("flaky") as ctx:
        if await ctx.redis.incr("test:flaky-attempts") == 1:
            raise RuntimeError("the first attempt fails")


def test_github_calls_reach_metrics(
    github_fake: FakeGitHub,
    worker_env: None,
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
) -> None:
    issue = github_fake.add_issue(REPO, "Counted")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios:backend")
    asyncio.run(_accept(redis_url, "issues", payload, str(uuid.uuid4())))
    jobs = JobQueue(redis_client)
    DeliveryPump(redis_client, jobs, consumer="test", block_ms=10).run_once()
    work_off(redis_client, [jobs.route])

    text = asyncio.run(render_metrics(redis_url, tmp_path))
    made = github_fake.calls("POST", f"/repos/{REPO}/issues/{issue.number}/reactions")
    assert len(made) == 1
    assert 'aios_github_api_calls_total{method="POST",status="201"}' in text
    assert 'aios_github_api_calls_total{method="GET",status="200"}' in text


async def render_metrics(url: str, data_dir: Path) -> str:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return (await WebMetrics(data_dir).render(client)).decode()
    finally:
        await client.aclose()


def test_one_installations_burst_queues_behind_itself_not_in_front_of_others(
    github_fake: FakeGitHub, worker_env: None, redis_client: redis.Redis
) -> None:
    """Fifty labels on one installation, then one on another: the other's job is next."""
    github_fake.add_installation(2, "quiet-org", [OTHER_REPO])
    jobs = JobQueue(redis_client)
    for number in range(1, 51):
        jobs.enqueue(ENSURE_LABELS, 1, REPO, key=job_key("labels", REPO, number))
    quiet = jobs.enqueue(ENSURE_LABELS, 2, OTHER_REPO, key=job_key("labels", OTHER_REPO))
    worker = SimpleWorker([jobs.route], connection=redis_client, job_class=ControlledJob)
    worker.work(burst=True, max_jobs=2)
    assert quiet.get_status(refresh=True) == JobStatus.FINISHED
