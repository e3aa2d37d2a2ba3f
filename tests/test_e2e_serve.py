"""`aios serve` as a real process: embedded Redis, a worker, GitHub faked at its HTTP boundary."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from bot.settings import SECRET_VARIABLES
from bot.testbed.github import FakeGitHub, app_events
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import Turn, call, finish
from tests.serve_harness import LLM_KEY, REPO, processes_in, wait_for, workers_of


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


def test_workers_hold_no_secret_in_their_environment_and_still_authenticate(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    """`aios serve` hands its secrets to workers through an inherited descriptor: nothing a
    worker starts inherits them, and /proc/<worker>/environ shows none of them."""
    scripted_model.api_key = LLM_KEY  # the LLM fake now refuses any other key
    scripted_model.script.append(finish('{"questions": ["Which page size do you want?"]}'))
    serve = start_serve(workers=1)
    children = workers_of(serve, include_quick=True)
    assert len(children) == 2
    key_body = github_fake.private_key_pem.splitlines()[1]
    for pid in children:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        names = {entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if entry}
        assert not names & set(SECRET_VARIABLES), names & set(SECRET_VARIABLES)
        for value in (key_body, github_fake.webhook_secret, LLM_KEY):
            assert value.encode() not in environ

    issue = github_fake.add_issue(REPO, "Add pagination to GET /users")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios")
    assert serve.deliver("issues", payload, github_fake.webhook_secret)[0] == 202
    # The worker signed its App JWT with PRIVATE_KEY and called the model with its key (the
    # fake records only requests that presented it).
    github_fake.wait_until(lambda: len(github_fake.comments(REPO, issue.number)) == 1, timeout=20)
    github_fake.wait_until(lambda: len(scripted_model.requests) == 1, timeout=30)
    assert scripted_model.requests[0].status == 200
