"""The pull-request loop with real processes: QA review, fix rounds from QA, people and CI."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.github import FakeGitHub
from tests.fakes.llm import ScriptedModel, Turn, call, finish, qa_changes, qa_pass
from tests.serve_harness import REPO, wait_for

APP_V1 = 'def hello():\n    return "hi"\n\n\ndef add(a, b):\n    return a - b\n'
APP_V2 = 'def hello():\n    return "hi"\n\n\ndef add(a, b):\n    return a + b\n'
APP_V3 = 'def hello(name="world"):\n    return f"hi {name}"\n\n\ndef add(a, b):\n    return a + b\n'
APP_V4 = APP_V3 + "\n\ndef sub(a, b):\n    return a - b\n"


def progress_state(fake: FakeGitHub, number: int) -> str:
    marker = f"<!-- aios:progress item={REPO}#{number} -->"
    bodies = [c.body for c in fake.comments(REPO, number) if c.body.startswith(marker)]
    return bodies[0].split("**")[3] if bodies else ""


def bot_replies(fake: FakeGitHub, pr: int, thread_id: int) -> list[str]:
    (thread,) = [t for t in fake.threads(REPO, pr) if t.id == thread_id]
    return [c.body for c in thread.comments[1:] if c.user.endswith("[bot]")]


def fix(content: str, summary: str, replies: dict[str, str]) -> list[Turn]:
    return [
        Turn("Fixing.", [call("write_file", path="app.py", content=content)]),
        finish(json.dumps({"summary": summary, "replies": replies})),
    ]


def test_qa_review_fix_rounds_human_threads_ci_failure_then_approval_merges(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    fake, model = github_fake, scripted_model
    model.script += [
        Turn("Writing add().", [call("write_file", path="app.py", content=APP_V1)]),
        finish("Added add()."),
        qa_changes("add() subtracts.", [("app.py", 6, "This subtracts; `add` must return a + b.")]),
        *fix(APP_V2, "add() adds now.", {"T1": "Fixed: it returns a + b."}),
        qa_pass(),
    ]
    serve = start_serve(workers=1)
    fake.webhook_url = f"{serve.url}/webhook"
    issue = fake.add_issue(REPO, "Add an add function")
    fake.label_issue_as("alice", REPO, issue.number, "aios:backend")

    # QA's review: one COMMENT review with the remark on line 6 of app.py, as a thread.
    wait_for(lambda: fake.pulls(REPO), "the pull request", timeout=60)
    (pr,) = fake.pulls(REPO)
    wait_for(lambda: fake.threads(REPO, pr.number), "the QA review's inline comment", timeout=60)
    (qa_review,) = [r for r in fake.reviews(REPO, pr.number) if r.user.endswith("[bot]")]
    assert qa_review.state == "COMMENTED" and qa_review.body.startswith("<!-- aios:qa-review")
    (qa_thread,) = fake.threads(REPO, pr.number)
    assert (qa_thread.path, qa_thread.line) == ("app.py", 6)
    # The fix round answers in QA's thread; the second QA review passes; over to the humans.
    wait_for(lambda: bot_replies(fake, pr.number, qa_thread.id), "the reply to QA", timeout=60)
    assert "Fixed: it returns a + b." in bot_replies(fake, pr.number, qa_thread.id)[0]
    wait_for(
        lambda: progress_state(fake, issue.number) == "awaiting approval",
        "the hand-over to the maintainers",
        timeout=60,
    )
    assert fake.git(REPO).read(fake.branches(REPO)[pr.head], "app.py") == APP_V2.encode()

    # A human requests changes with two threads: one job answers both.
    model.script += [
        *fix(
            APP_V3,
            "hello() takes a name.",
            {"T1": "hello() takes a name now.", "T2": "Kept: add() is covered by QA's fix."},
        ),
        qa_pass(),
    ]
    fake.review_as(
        "alice",
        REPO,
        pr.number,
        "REQUEST_CHANGES",
        "Two things.",
        [
            {"path": "app.py", "line": 1, "side": "RIGHT", "body": "Take a name parameter."},
            {"path": "app.py", "line": 5, "side": "RIGHT", "body": "Is add() tested?"},
        ],
    )
    human = [t for t in fake.threads(REPO, pr.number) if t.id != qa_thread.id]
    assert len(human) == 2
    for thread in human:
        wait_for(lambda t=thread: bot_replies(fake, pr.number, t.id), "a reply", timeout=60)
    replies = [bot_replies(fake, pr.number, t.id)[0] for t in human]
    assert "hello() takes a name now." in replies[0]
    assert "Kept: add() is covered" in replies[1]
    wait_for(
        lambda: progress_state(fake, issue.number) == "awaiting approval",
        "the PR back with the maintainers",
        timeout=60,
    )
    head_after_review = fake.pulls(REPO)[0].head_sha

    # CI fails on the head: the agent reads the annotation and pushes a fix.
    model.script += [*fix(APP_V4, "Added sub() for the failing test.", {}), qa_pass()]
    fake.ci_result(
        REPO,
        head_after_review,
        name="tests",
        conclusion="failure",
        summary="1 test failed",
        annotations=[
            {
                "path": "test_app.py",
                "start_line": 3,
                "end_line": 3,
                "annotation_level": "failure",
                "message": "NameError: name 'sub' is not defined",
            }
        ],
    )
    wait_for(
        lambda: fake.pulls(REPO)[0].head_sha != head_after_review, "the CI fix push", timeout=60
    )
    fix_request = next(
        r for r in model.requests if "NameError: name 'sub' is not defined" in json.dumps(r.body)
    )
    assert "<ci-failure>" in json.dumps(fix_request.body)
    wait_for(
        lambda: progress_state(fake, issue.number) == "awaiting approval",
        "the PR back after the CI fix",
        timeout=60,
    )

    # Approval of the head merges with squash and deletes the branch.
    fake.review_as("alice", REPO, pr.number, "APPROVE")
    wait_for(lambda: fake.pulls(REPO)[0].merged_at is not None, "the merge", timeout=30)
    wait_for(lambda: pr.head not in fake.branches(REPO), "the branch's deletion")
    merge = fake.calls("PUT", r"/repos/octo-org/hello/pulls/\d+/merge")[0].json
    assert merge["merge_method"] == "squash"
    wait_for(lambda: progress_state(fake, issue.number) == "merged", "the final progress")
