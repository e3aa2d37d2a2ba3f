"""`aios serve` as a real process: embedded Redis, a worker, GitHub faked at its HTTP boundary."""

from __future__ import annotations

import signal
from typing import Any

from tests.fakes.github import FakeGitHub, app_events
from tests.fakes.llm import ScriptedModel, Turn, call, finish
from tests.serve_harness import REPO, processes_in, wait_for, workers_of


def test_a_labeled_issue_gets_eyes_and_a_progress_comment(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script.append(finish('{"questions": ["Which page size do you want?"]}'))
    serve = start_serve(workers=1)
    issue = github_fake.add_issue(REPO, "Add pagination to GET /users")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios")

    status, answer = serve.deliver("issues", payload, github_fake.webhook_secret)
    assert (status, answer) == (202, {"status": "accepted"})

    github_fake.wait_until(lambda: len(github_fake.comments(REPO, issue.number)) == 1, timeout=20)
    with github_fake.lock:
        assert [(r.user, r.content) for r in issue.reactions] == [("aios[bot]", "eyes")]
    (comment,) = github_fake.comments(REPO, issue.number)
    assert comment.body.startswith(f"<!-- aios:progress item={REPO}#{issue.number} -->")
    assert "Ada (CTO)" in comment.body

    redis_dir = serve.data_dir / "redis"
    assert processes_in(redis_dir), "the embedded redis-server should be running"
    serve.process.send_signal(signal.SIGTERM)
    assert serve.process.wait(30) == 0
    assert processes_in(redis_dir) == []


def test_killed_outright_it_leaves_no_redis_or_worker_behind(
    github_fake: FakeGitHub, start_serve: Any
) -> None:
    serve = start_serve(workers=1)
    redis_dir = serve.data_dir / "redis"
    assert processes_in(redis_dir)
    assert len(workers_of(serve, include_quick=True)) == 2  # one for short jobs, one for agents
    serve.process.kill()
    serve.process.wait(10)
    wait_for(lambda: processes_in(redis_dir) == [], "redis-server to follow its parent")
    wait_for(
        lambda: workers_of(serve, include_quick=True) == [],
        "workers to follow their parent",
    )


def test_deliveries_accepted_without_workers_survive_a_restart(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script += [
        Turn("Fixing the test.", [call("write_file", path="tests.txt", content="stable\n")]),
        finish("Made the login test deterministic."),
    ]
    first = start_serve(workers=0)
    issue = github_fake.add_issue(REPO, "Fix the flaky login test")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios:backend")
    assert first.deliver("issues", payload, github_fake.webhook_secret)[0] == 202
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(30) == 0
    assert github_fake.comments(REPO, issue.number) == []

    start_serve(workers=1)
    github_fake.wait_until(lambda: len(github_fake.comments(REPO, issue.number)) == 1, timeout=20)
    assert "Bea (Backend)" in github_fake.comments(REPO, issue.number)[0].body
