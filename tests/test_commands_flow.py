"""`/aios` commands through the router and real workers, against the GitHub fake."""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue

from bot.runtime.catalog import RUN_TRIAGE, QueueName
from bot.testbed.github import FakeGitHub, app_events
from tests.routing_harness import REPO, Deliver


def command(fake: FakeGitHub, deliver: Deliver, user: str, number: int, body: str) -> int:
    comment = fake.comment_as(user, REPO, number, body, deliver=False)
    deliver("issue_comment", app_events.issue_comment(fake, REPO, comment.id))
    return comment.id


def replies(fake: FakeGitHub, number: int, comment_id: int) -> list[str]:
    marker = f"<!-- aios:reply comment={comment_id} line="
    return [c.body for c in fake.comments(REPO, number) if c.body.startswith(marker)]


def reactions_on(fake: FakeGitHub, comment_id: int) -> list[tuple[str, str]]:
    with fake.lock:
        return [(r.user, r.content) for r in fake.state.comments[comment_id].reactions]


def test_an_unknown_command_gets_the_help(github_fake: FakeGitHub, deliver: Deliver) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    comment_id = command(github_fake, deliver, "alice", issue.number, "/aios frobnicate")
    (answer,) = replies(github_fake, issue.number, comment_id)
    assert "unknown command 'frobnicate'" in answer
    assert "/aios approve" in answer and "/aios remember" in answer
    assert reactions_on(github_fake, comment_id) == [("aios[bot]", "+1")]


def test_a_user_without_permission_gets_one_polite_refusal(
    github_fake: FakeGitHub, deliver: Deliver
) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    comment_id = command(
        github_fake, deliver, "bob", issue.number, "/aios approve\n/aios remember x"
    )
    (answer,) = replies(github_fake, issue.number, comment_id)
    assert "only people with write access" in answer and "@bob" in answer
    assert reactions_on(github_fake, comment_id) == []
    assert not github_fake.calls("POST", r".*/reactions")


def test_memories_are_remembered_listed_and_forgotten(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    first = command(github_fake, deliver, "alice", issue.number, "/aios remember Use pytest -q")
    assert "memory 1" in replies(github_fake, issue.number, first)[0]
    status = command(github_fake, deliver, "alice", issue.number, "/aios status")
    assert "1. Use pytest -q" in replies(github_fake, issue.number, status)[0]
    gone = command(github_fake, deliver, "alice", issue.number, "/aios forget 1")
    assert "Forgot memory 1: Use pytest -q" in replies(github_fake, issue.number, gone)[0]
    assert redis_client.hlen("aios:memory:octo-org/hello") == 0
    missing = command(github_fake, deliver, "alice", issue.number, "/aios forget 3")
    assert "there is no memory 3" in replies(github_fake, issue.number, missing)[0]


def test_approve_with_nothing_waiting_says_why(github_fake: FakeGitHub, deliver: Deliver) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    none_yet = command(github_fake, deliver, "alice", issue.number, "/aios approve")
    assert "no AIOS work item here" in replies(github_fake, issue.number, none_yet)[0]
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios"))
    early = command(github_fake, deliver, "alice", issue.number, "/aios approve")
    assert "nothing is waiting for approval" in replies(github_fake, issue.number, early)[0]


def test_cancel_stops_the_queued_work_and_cancels_the_item(
    github_fake: FakeGitHub, deliver: Deliver, redis_client: redis.Redis
) -> None:
    issue = github_fake.add_issue(REPO, "Never mind")
    deliver("issues", app_events.issue_labeled(github_fake, REPO, issue.number, "aios"))
    (triage,) = Queue(QueueName.AGENTS, connection=redis_client).get_jobs()
    assert triage.func_name == RUN_TRIAGE.path
    command(github_fake, deliver, "alice", issue.number, "/aios cancel")
    assert triage.get_status(refresh=True) == "canceled"
    (progress,) = [
        c
        for c in github_fake.comments(REPO, issue.number)
        if c.body.startswith("<!-- aios:progress")
    ]
    assert "cancelled" in progress.body


def test_an_edited_comment_does_not_run_its_command_again(
    github_fake: FakeGitHub, deliver: Deliver
) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    comment_id = command(github_fake, deliver, "alice", issue.number, "/aios remember once")
    github_fake.edit_comment_as("alice", comment_id, "/aios remember twice", deliver=False)
    payload: dict[str, Any] = app_events.issue_comment(
        github_fake, REPO, comment_id, action="edited", previous_body="/aios remember once"
    )
    deliver("issue_comment", payload)
    (answer,) = replies(github_fake, issue.number, comment_id)
    assert "memory 1" in answer


def test_each_command_line_gets_its_own_reply(github_fake: FakeGitHub, deliver: Deliver) -> None:
    issue = github_fake.add_issue(REPO, "Anything")
    comment_id = command(
        github_fake, deliver, "alice", issue.number, "/aios status\n/aios frobnicate"
    )
    answers = replies(github_fake, issue.number, comment_id)
    assert len(answers) == 2
    assert any("No AIOS work item here yet" in a for a in answers)
    assert any("unknown command 'frobnicate'" in a for a in answers)
