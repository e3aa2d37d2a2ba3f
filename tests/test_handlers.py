"""Deliveries routed through the composed router by a real RQ worker, against the GitHub fake."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from rq import Queue, SimpleWorker

from bot import deliveries, store
from bot.progress import find_marker
from bot.pump import DeliveryPump
from bot.queue import AGENT_QUEUE, ROUTE_QUEUE, JobQueue
from bot.workflow import State, WorkItem
from tests.fakes import app_events
from tests.fakes.github import FakeGitHub

REPO = "octo-org/hello"
Deliver = Callable[[str, dict[str, Any]], str]


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, github_fake: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    """The environment a worker process gets: the fake's App, this test's Redis, no .env."""
    monkeypatch.chdir(tmp_path)
    for key, value in {**github_fake.env(), "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIOS_DATA_DIR", str(tmp_path / "data"))


FIRST_JOBS = frozenset({"bot.jobs.start_work_item", "bot.jobs.ensure_labels"})
"""The jobs handlers enqueue; the agent jobs they lead to need a model and are not run here."""


@pytest.fixture
def deliver(worker_env: None, redis_client: redis.Redis, redis_url: str) -> Iterator[Deliver]:
    """Store a delivery as the web process does, pump it, route it, run the jobs it queued."""

    def run(event: str, payload: dict[str, Any], delivery_id: str | None = None) -> str:
        delivery_id = delivery_id or str(uuid.uuid4())
        asyncio.run(_accept(redis_url, event, payload, delivery_id))
        jobs = JobQueue(redis_client)
        DeliveryPump(redis_client, jobs, consumer="test", block_ms=10).run_once()
        SimpleWorker([jobs.route], connection=redis_client).work(burst=True)
        run_queued(redis_client, FIRST_JOBS)
        return delivery_id

    yield run


def run_queued(connection: redis.Redis, functions: frozenset[str]) -> list[str]:
    """Run the queued agent-queue jobs of `functions`, one by one, through a real worker."""
    agents = Queue(AGENT_QUEUE, connection=connection)
    ran = []
    for job in agents.get_jobs():
        if job.func_name not in functions:
            continue
        agents.remove(job)
        single = Queue(f"test-{job.id}", connection=connection)
        single.enqueue_job(job)
        SimpleWorker([single], connection=connection).work(burst=True)
        ran.append(job.func_name)
    return ran


async def _accept(url: str, event: str, payload: dict[str, Any], delivery_id: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        action = str(payload.get("action", ""))
        assert await deliveries.DeliveryInbox(client).accept(
            delivery_id=delivery_id,
            event=event,
            action=action,
            installation_id=payload["installation"]["id"],
            body=json.dumps(payload).encode(),
        )
    finally:
        await client.aclose()


def reactions(fake: FakeGitHub, number: int) -> list[tuple[str, str]]:
    with fake.lock:
        issue = fake.repo(REPO).issues[number]
        return [(r.user, r.content) for r in issue.reactions]


def test_a_permitted_label_reacts_and_creates_one_progress_comment(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Paginate GET /users")
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios:backend"))

    assert reactions(github_fake, issue.number) == [("aios[bot]", "eyes")]
    (comment,) = github_fake.comments(REPO, issue.number)
    assert comment.user == "aios[bot]"
    assert find_marker(comment.body) == (REPO, issue.number)
    assert "implementing" in comment.body and "Bea (Backend)" in comment.body
    item = asyncio.run(_load_item(redis_client, issue.number))
    assert item is not None and item.progress_comment_id == comment.id
    assert item.roles == ("backend",) and item.state is State.IMPLEMENTING
    queued = [job.func_name for job in Queue(AGENT_QUEUE, connection=redis_client).get_jobs()]
    assert queued == ["bot.jobs.run_task"]  # the backend agent's one task, then the hand-over

    # The same label event delivered again (a new delivery id): still one of each.
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios:backend"))
    assert reactions(github_fake, issue.number) == [("aios[bot]", "eyes")]
    assert len(github_fake.comments(REPO, issue.number)) == 1


def test_the_progress_comment_is_found_again_after_its_id_is_lost(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Crash on empty input")
    github_fake.add_comment(REPO, issue.number, "me too", user="bob")
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios"))
    redis_client.flushdb()  # a lost Redis: only the hidden marker remains
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios"))
    bot_comments = [c for c in github_fake.comments(REPO, issue.number) if c.user == "aios[bot]"]
    assert len(bot_comments) == 1


def test_a_user_without_write_permission_starts_nothing(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Please do my homework")
    deliver(
        "issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios", sender="bob")
    )
    assert github_fake.calls("GET", r"/repos/octo-org/hello/collaborators/bob/permission")
    assert reactions(github_fake, issue.number) == []
    assert github_fake.comments(REPO, issue.number) == []
    assert Queue(AGENT_QUEUE, connection=redis_client).count == 0


def test_a_bot_adding_the_label_starts_nothing_and_costs_no_call(
    github_fake: FakeGitHub, deliver: Deliver
) -> None:
    issue = github_fake.add_issue(REPO, "Bump dependency")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios", sender="aios[bot]")
    deliver("issues", payload)
    assert github_fake.requests == []
    assert github_fake.comments(REPO, issue.number) == []


def test_other_labels_are_not_ours(github_fake: FakeGitHub, deliver: Deliver) -> None:
    issue = github_fake.add_issue(REPO, "Typo")
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "bug"))
    assert github_fake.requests == []


def test_installation_creates_missing_labels_and_leaves_existing_ones(
    github_fake: FakeGitHub, deliver: Deliver
) -> None:
    github_fake.add_label(REPO, "AIOS:Backend", color="000000", description="ours, keep it")
    deliver("installation", app_events.installation_created(github_fake, [REPO]))
    labels = github_fake.repo(REPO).labels
    assert set(labels) == {
        "aios",
        "aios:cto",
        "aios:backend",
        "aios:frontend",
        "aios:devops",
        "aios:qa",
    }
    kept = labels["aios:backend"]
    assert (kept.name, kept.color, kept.description) == ("AIOS:Backend", "000000", "ours, keep it")
    assert len(github_fake.calls("POST", r"/repos/octo-org/hello/labels")) == 5


def test_uninstalling_forgets_the_installations_state(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios"))
    assert asyncio.run(_load_item(redis_client, issue.number)) is not None
    assert redis_client.keys("aios:gh:token:*")
    deliver("installation", app_events.installation_deleted())
    assert asyncio.run(_load_item(redis_client, issue.number)) is None
    assert redis_client.keys("aios:gh:token:*") == []


def test_a_delivery_is_routed_once_even_if_its_route_job_runs_again(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Once only")
    delivery_id = deliver(
        "issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios")
    )
    assert deliveries.ROUTED_KEY.format(delivery_id=delivery_id).encode() in redis_client.keys("*")
    route_jobs = Queue(ROUTE_QUEUE, connection=redis_client).finished_job_registry.get_job_ids()
    (job_id,) = route_jobs
    job = Queue(ROUTE_QUEUE, connection=redis_client).fetch_job(job_id)
    assert job is not None and job.return_value() == "routed"
    # Run the same routing again, as RQ does when it retries a job whose worker died.
    queue = Queue(ROUTE_QUEUE, connection=redis_client)
    again = queue.enqueue_call("bot.jobs.route_delivery", args=job.args)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert again.return_value(refresh=True) == "already routed"
    assert len(github_fake.calls("POST", r".*/reactions")) == 1


async def _load_item(client: redis.Redis, number: int) -> WorkItem | None:
    url = client.connection_pool.connection_kwargs
    async_client = redis.asyncio.Redis(host=url["host"], port=url["port"], db=url.get("db", 0))
    try:
        return await store.load_item(async_client, REPO, number)
    finally:
        await async_client.aclose()
