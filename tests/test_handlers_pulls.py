"""Reviews and CI on an agent's pull request, routed by the composed router and a real worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
import redis.asyncio
from gidgethub.httpx import GitHubAPI
from rq import Queue

from bot import store
from bot.queue import AGENT_QUEUE
from bot.workflow import State, WorkItem
from tests.fakes import app_events, app_events_loop, webhooks
from tests.fakes.github import FakeGitHub
from tests.routing_harness import REPO, Deliver


@pytest.fixture
def agent_pr(github_fake: FakeGitHub, tmp_path: Path, redis_url: str) -> tuple[int, str]:
    """An agent PR (branch, PR, stored work item awaiting approval); returns (number, head)."""
    github_fake.create_git_repo(REPO, tmp_path / "remotes", {"app.py": "A = 1\n"})
    issue = github_fake.add_issue(REPO, "Add numbers")
    branch = f"aios/{issue.number}-add-numbers"
    head = github_fake.push_as("aios[bot]", REPO, branch, {"app.py": "A = 1\nB = 2\nC = 3\n"})
    data = {"title": "Add numbers", "head": branch, "base": "main", "body": "Fixes it"}
    pr = asyncio.run(as_app(github_fake, "/pulls", data))
    now = datetime.now(UTC)
    item = WorkItem(
        repo=REPO,
        number=issue.number,
        installation_id=1,
        created_at=now,
        updated_at=now,
        title="Add numbers",
        created_by="alice",
        state=State.AWAITING_APPROVAL,
        roles=("backend",),
        branch=branch,
        pr_number=int(pr["number"]),
        extra={"head_sha": head},
    )
    asyncio.run(_save(redis_url, item))
    return int(pr["number"]), head


async def as_app(fake: FakeGitHub, path: str, data: dict[str, Any]) -> Any:
    """A POST by the App's installation, as the workers make them."""
    async with httpx2.AsyncClient() as http:
        gh = GitHubAPI(http, "aios-test", base_url=fake.url, oauth_token=fake.issue_token())
        return await gh.post(f"/repos/{REPO}{path}", data=data)


async def _save(url: str, item: WorkItem) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        await store.save_item(client, item)
    finally:
        await client.aclose()


async def _load(url: str) -> WorkItem:
    client = redis.asyncio.Redis.from_url(url)
    try:
        (key,) = await client.keys("aios:item:*")
        item = await store.load_item(client, REPO, int(key.decode().rsplit("#", 1)[1]))
    finally:
        await client.aclose()
    assert item is not None
    return item


def agent_jobs(connection: redis.Redis) -> list[str]:
    return [job.func_name for job in Queue(AGENT_QUEUE, connection=connection).get_jobs()]


def review(fake: FakeGitHub, user: str, pr: int, event: str, body: str, **kw: Any) -> dict:
    submitted = fake.review_as(user, REPO, pr, event, body, deliver=False, **kw)
    return app_events_loop.pull_request_review(fake, REPO, submitted.id)


def test_a_request_for_changes_starts_one_fix_round_with_the_review_body(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    pr, _head = agent_pr
    comments = [
        {"path": "app.py", "line": 2, "side": "RIGHT", "body": "B should be 20."},
        {"path": "app.py", "line": 3, "side": "RIGHT", "body": "C too."},
    ]
    deliver(
        "pull_request_review",
        review(github_fake, "alice", pr, "REQUEST_CHANGES", "Numbers are off.", comments=comments),
    )
    item = asyncio.run(_load(redis_url))
    assert item.state is State.IMPLEMENTING and item.fix_rounds == 1
    assert item.extra["fix_requests"] == [{"by": "alice", "text": "Numbers are off."}]
    assert agent_jobs(redis_client) == ["bot.jobs.run_fix"]  # one job for the whole review


def test_a_comment_review_is_feedback_too(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    pr, _head = agent_pr
    comments = [{"path": "app.py", "line": 3, "side": "RIGHT", "body": "Why 3?"}]
    deliver(
        "pull_request_review", review(github_fake, "alice", pr, "COMMENT", "", comments=comments)
    )
    assert asyncio.run(_load(redis_url)).state is State.IMPLEMENTING
    assert agent_jobs(redis_client) == ["bot.jobs.run_fix"]


def test_a_review_from_a_read_only_user_changes_nothing(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    pr, _head = agent_pr
    deliver("pull_request_review", review(github_fake, "bob", pr, "REQUEST_CHANGES", "Rewrite it."))
    assert github_fake.calls("GET", r"/repos/octo-org/hello/collaborators/bob/permission")
    item = asyncio.run(_load(redis_url))
    assert item.state is State.AWAITING_APPROVAL and "fix_requests" not in item.extra
    assert agent_jobs(redis_client) == []


def test_a_failed_check_suite_on_the_head_starts_a_ci_fix_with_the_failure(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    _pr, head = agent_pr
    run = github_fake.ci_result(
        REPO,
        head,
        name="tests",
        conclusion="failure",
        summary="1 failed",
        annotations=[
            {
                "path": "test_app.py",
                "start_line": 4,
                "end_line": 4,
                "annotation_level": "failure",
                "message": "assert B == 20",
            }
        ],
        deliver=False,
    )
    sender = "github-actions[bot]"
    deliver(
        "check_suite",
        app_events_loop.check_suite(github_fake, REPO, run.check_suite_id, sender=sender),
    )
    item = asyncio.run(_load(redis_url))
    assert item.state is State.IMPLEMENTING and item.ci_fix_attempts == 1
    assert "assert B == 20" in item.extra["ci_failure"]
    assert agent_jobs(redis_client) == ["bot.jobs.run_fix"]

    # The workflow run of the same failure arrives too: nothing more starts.
    deliver(
        "workflow_run",
        app_events_loop.workflow_run(
            github_fake, REPO, run.check_suite_id, name="tests", sender=sender
        ),
    )
    assert agent_jobs(redis_client) == ["bot.jobs.run_fix"]


def test_the_apps_own_check_suite_is_never_ci_to_fix(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    _pr, head = agent_pr
    data = {"name": "AIOS", "head_sha": head, "status": "completed", "conclusion": "failure"}
    run = asyncio.run(as_app(github_fake, "/check-runs", data))
    suite_id = int(run["check_suite"]["id"])
    deliver(
        "check_suite",
        app_events_loop.check_suite(github_fake, REPO, suite_id, sender="aios[bot]"),
    )
    assert asyncio.run(_load(redis_url)).state is State.AWAITING_APPROVAL
    assert not github_fake.calls("GET", r"/repos/octo-org/hello/commits/[^/]+/check-runs")
    assert agent_jobs(redis_client) == []


def command(fake: FakeGitHub, deliver: Deliver, user: str, number: int, body: str) -> str:
    """Comment `body` on issue or PR `number`; returns AIOS's reply to it."""
    comment = fake.comment_as(user, REPO, number, body, deliver=False)
    deliver("issue_comment", app_events.issue_comment(fake, REPO, comment.id))
    marker = f"<!-- aios:reply comment={comment.id} line="
    answers = [c.body for c in fake.comments(REPO, number) if c.body.startswith(marker)]
    return answers[0] if answers else ""


def test_aios_fix_on_the_pr_starts_a_fix_round_with_the_request(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    pr, _head = agent_pr
    assert command(github_fake, deliver, "alice", pr, "/aios fix make C a constant") == ""
    item = asyncio.run(_load(redis_url))
    assert item.state is State.IMPLEMENTING
    assert item.extra["fix_requests"] == [{"by": "alice", "text": "make C a constant"}]
    assert agent_jobs(redis_client) == ["bot.jobs.run_fix"]


def test_aios_review_on_an_agent_pr_runs_the_qa_agent_again(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    pr, _head = agent_pr
    command(github_fake, deliver, "alice", pr, "/aios review")
    assert asyncio.run(_load(redis_url)).state is State.IN_REVIEW
    assert agent_jobs(redis_client) == ["bot.jobs.run_qa_review"]


def test_aios_review_and_test_on_a_pr_people_wrote_run_as_their_own_jobs(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis, tmp_path: Path
) -> None:
    github_fake.create_git_repo(REPO, tmp_path / "remotes", {"app.py": "A = 1\n"})
    github_fake.push_as("alice", REPO, "feature", {"app.py": "A = 2\n"})
    data = {"title": "Change A", "head": "feature", "base": "main"}
    pr = int(asyncio.run(as_app(github_fake, "/pulls", data))["number"])
    assert "will review the diff" in command(github_fake, deliver, "alice", pr, "/aios review")
    assert "will run the tests" in command(github_fake, deliver, "alice", pr, "/aios test")
    assert agent_jobs(redis_client) == [
        "bot.jobs.review_pull_request",
        "bot.jobs.test_pull_request",
    ]
    issue = github_fake.add_issue(REPO, "Not a PR")
    assert "works on pull requests" in command(
        github_fake, deliver, "alice", issue.number, "/aios test"
    )
    assert "no AIOS work item" in command(
        github_fake, deliver, "alice", issue.number, "/aios fix x"
    )


def test_a_failing_commit_status_on_the_head_starts_a_ci_fix(
    github_fake: FakeGitHub,
    deliver: Deliver,
    redis_client: redis.Redis,
    redis_url: str,
    agent_pr: tuple[int, str],
) -> None:
    _pr, head = agent_pr
    github_fake.set_status(REPO, head, "ci/jenkins", "failure", description="3 tests failed")
    payload = app_events.aim(webhooks.example("status"), github_fake, REPO, None)
    branch = asyncio.run(_load(redis_url)).branch
    listed = {**(payload["branches"] or [{}])[0], "name": branch, "commit": {"sha": head}}
    payload.update(sha=head, state="failure", context="ci/jenkins", branches=[listed])
    deliver("status", payload)
    item = asyncio.run(_load(redis_url))
    assert item.state is State.IMPLEMENTING and item.ci_fix_attempts == 1
    assert "3 tests failed" in item.extra["ci_failure"]
    assert agent_jobs(redis_client) == ["bot.jobs.run_fix"]
