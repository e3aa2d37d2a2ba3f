"""Reviews and CI on an agent's pull request, routed by the composed router and a real worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
import redis.asyncio
from gidgethub.httpx import GitHubAPI
from rq import Queue

from bot.runtime.catalog import (
    REVIEW_PULL_REQUEST,
    RUN_FIX,
    RUN_QA_REVIEW,
    TEST_PULL_REQUEST,
    QueueName,
)
from bot.testbed import webhooks
from bot.testbed.github import FakeGitHub, app_events, app_events_loop
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.parts import FixRequest, PullRequestState
from bot.workitem.states import State
from tests.routing_harness import REPO, Deliver


@dataclass
class AgentPR:
    """An agent's pull request awaiting approval, and how a test drives and observes it."""

    fake: FakeGitHub
    deliver: Deliver
    number: int
    head: str
    branch: str
    redis_url: str
    redis_client: redis.Redis

    def item(self) -> WorkItem:
        return asyncio.run(_load(self.redis_url))

    def agent_jobs(self) -> list[str]:
        return agent_jobs(self.redis_client)

    def review(self, user: str, event: str, body: str, **kw: Any) -> None:
        submitted = self.fake.review_as(user, REPO, self.number, event, body, deliver=False, **kw)
        payload = app_events_loop.pull_request_review(self.fake, REPO, submitted.id)
        self.deliver("pull_request_review", payload)

    def command(self, body: str) -> str:
        return command(self.fake, self.deliver, "alice", self.number, body)


@pytest.fixture
def pr(
    github_fake: FakeGitHub,
    deliver: Deliver,
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
) -> AgentPR:
    """An agent PR: branch, pull request, and its work item stored awaiting approval."""
    github_fake.create_git_repo(REPO, tmp_path / "remotes", {"app.py": "A = 1\n"})
    issue = github_fake.add_issue(REPO, "Add numbers")
    branch = f"aios/{issue.number}-add-numbers"
    head = github_fake.push_as("aios[bot]", REPO, branch, {"app.py": "A = 1\nB = 2\nC = 3\n"})
    data = {"title": "Add numbers", "head": branch, "base": "main", "body": "Fixes it"}
    number = int(asyncio.run(as_app(github_fake, "/pulls", data))["number"])
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
        pr_number=number,
        pr=PullRequestState(head_sha=head),
    )
    asyncio.run(_save(redis_url, item))
    return AgentPR(github_fake, deliver, number, head, branch, redis_url, redis_client)


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
    return [job.func_name for job in Queue(QueueName.AGENTS, connection=connection).get_jobs()]


def test_a_request_for_changes_starts_one_fix_round_with_the_review_body(pr: AgentPR) -> None:
    comments = [
        {"path": "app.py", "line": 2, "side": "RIGHT", "body": "B should be 20."},
        {"path": "app.py", "line": 3, "side": "RIGHT", "body": "C too."},
    ]
    pr.review("alice", "REQUEST_CHANGES", "Numbers are off.", comments=comments)
    item = pr.item()
    assert item.state is State.IMPLEMENTING and item.fix_rounds == 1
    assert item.feedback.requests == (FixRequest("alice", "Numbers are off."),)
    assert pr.agent_jobs() == [RUN_FIX.path]  # one job for the whole review


def test_a_comment_review_is_feedback_too(pr: AgentPR) -> None:
    comments = [{"path": "app.py", "line": 3, "side": "RIGHT", "body": "Why 3?"}]
    pr.review("alice", "COMMENT", "", comments=comments)
    assert pr.item().state is State.IMPLEMENTING
    assert pr.agent_jobs() == [RUN_FIX.path]


def test_a_review_from_a_read_only_user_changes_nothing(pr: AgentPR) -> None:
    pr.review("bob", "REQUEST_CHANGES", "Rewrite it.")
    assert pr.fake.calls("GET", r"/repos/octo-org/hello/collaborators/bob/permission")
    item = pr.item()
    assert item.state is State.AWAITING_APPROVAL and not item.feedback.requests
    assert pr.agent_jobs() == []


def test_a_failed_check_suite_on_the_head_starts_a_ci_fix_with_the_failure(pr: AgentPR) -> None:
    run = pr.fake.ci_result(
        REPO,
        pr.head,
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
    pr.deliver(
        "check_suite",
        app_events_loop.check_suite(pr.fake, REPO, run.check_suite_id, sender=sender),
    )
    item = pr.item()
    assert item.state is State.IMPLEMENTING and item.ci_fix_attempts == 1
    assert "assert B == 20" in (item.ci.failure or "")
    assert pr.agent_jobs() == [RUN_FIX.path]

    # The workflow run of the same failure arrives too: nothing more starts.
    pr.deliver(
        "workflow_run",
        app_events_loop.workflow_run(
            pr.fake, REPO, run.check_suite_id, name="tests", sender=sender
        ),
    )
    assert pr.agent_jobs() == [RUN_FIX.path]


def test_the_apps_own_check_suite_is_never_ci_to_fix(pr: AgentPR) -> None:
    data = {"name": "AIOS", "head_sha": pr.head, "status": "completed", "conclusion": "failure"}
    run = asyncio.run(as_app(pr.fake, "/check-runs", data))
    suite_id = int(run["check_suite"]["id"])
    pr.deliver(
        "check_suite", app_events_loop.check_suite(pr.fake, REPO, suite_id, sender="aios[bot]")
    )
    assert pr.item().state is State.AWAITING_APPROVAL
    assert not pr.fake.calls("GET", r"/repos/octo-org/hello/commits/[^/]+/check-runs")
    assert pr.agent_jobs() == []


def command(fake: FakeGitHub, deliver: Deliver, user: str, number: int, body: str) -> str:
    """Comment `body` on issue or PR `number`; returns AIOS's reply to it."""
    comment = fake.comment_as(user, REPO, number, body, deliver=False)
    deliver("issue_comment", app_events.issue_comment(fake, REPO, comment.id))
    marker = f"<!-- aios:reply comment={comment.id} line="
    answers = [c.body for c in fake.comments(REPO, number) if c.body.startswith(marker)]
    return answers[0] if answers else ""


def test_aios_fix_on_the_pr_starts_a_fix_round_with_the_request(pr: AgentPR) -> None:
    assert pr.command("/aios fix make C a constant") == ""
    item = pr.item()
    assert item.state is State.IMPLEMENTING
    assert item.feedback.requests == (FixRequest("alice", "make C a constant"),)
    assert pr.agent_jobs() == [RUN_FIX.path]


def test_aios_review_on_an_agent_pr_runs_the_qa_agent_again(pr: AgentPR) -> None:
    pr.command("/aios review")
    assert pr.item().state is State.IN_REVIEW
    assert pr.agent_jobs() == [RUN_QA_REVIEW.path]


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
        REVIEW_PULL_REQUEST.path,
        TEST_PULL_REQUEST.path,
    ]
    issue = github_fake.add_issue(REPO, "Not a PR")
    assert "works on pull requests" in command(
        github_fake, deliver, "alice", issue.number, "/aios test"
    )
    assert "no AIOS work item" in command(
        github_fake, deliver, "alice", issue.number, "/aios fix x"
    )


def test_a_failing_commit_status_on_the_head_starts_a_ci_fix(pr: AgentPR) -> None:
    pr.fake.set_status(REPO, pr.head, "ci/jenkins", "failure", description="3 tests failed")
    payload = app_events.aim(webhooks.example("status"), pr.fake, REPO, None)
    listed = {**(payload["branches"] or [{}])[0], "name": pr.branch, "commit": {"sha": pr.head}}
    payload.update(sha=pr.head, state="failure", context="ci/jenkins", branches=[listed])
    pr.deliver("status", payload)
    item = pr.item()
    assert item.state is State.IMPLEMENTING and item.ci_fix_attempts == 1
    assert "3 tests failed" in (item.ci.failure or "")
    assert pr.agent_jobs() == [RUN_FIX.path]
