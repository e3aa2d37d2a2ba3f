"""Deliveries routed through the composed router by a real RQ worker, against the GitHub fake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis
import redis.asyncio
from rq import Queue, SimpleWorker

from bot.inbox import deliveries
from bot.runtime.catalog import RUN_TASK, QueueName
from bot.testbed.github import FakeGitHub, app_events
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.names import find_progress_marker
from bot.workitem.states import State
from tests.routing_harness import REPO, Deliver


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
    assert find_progress_marker(comment.body) == (REPO, issue.number)
    assert "implementing" in comment.body and "Bea (Backend)" in comment.body
    item = asyncio.run(_load_item(redis_client, issue.number))
    assert item is not None and item.progress_comment_id == comment.id
    assert item.roles == ("backend",) and item.state is State.IMPLEMENTING
    queued = [job.func_name for job in Queue(QueueName.AGENTS, connection=redis_client).get_jobs()]
    assert queued == [RUN_TASK.path]  # the backend agent's one task, then the hand-over

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
    assert Queue(QueueName.AGENTS, connection=redis_client).count == 0


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
    route_jobs = Queue(QueueName.QUICK, connection=redis_client).finished_job_registry.get_job_ids()
    queue = Queue(QueueName.QUICK, connection=redis_client)
    (job,) = [
        j for j in map(queue.fetch_job, route_jobs) if j and j.func_name.endswith("route_delivery")
    ]
    assert job.return_value() == "routed"
    # Run the same routing again, as RQ does when it retries a job whose worker died.
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


def test_an_invalid_repo_config_is_reported_and_the_defaults_apply(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = "workflow:\n  merge_method: fast\n  require_plan_approval: false\n"
    github_fake.create_git_repo(REPO, tmp_path / "remotes", {".github/aios.yml": config})
    issue = github_fake.add_issue(REPO, "Anything")
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios"))
    marker = f"<!-- aios:config-problems item={REPO}#{issue.number} -->"
    (report,) = [
        c.body for c in github_fake.comments(REPO, issue.number) if c.body.startswith(marker)
    ]
    assert "| 2 | `workflow.merge_method` |" in report and "fell back to the default" in report
    item = asyncio.run(_load_item(redis_client, issue.number))
    assert item is not None and item.settings.require_plan_approval  # not the half-read file's
