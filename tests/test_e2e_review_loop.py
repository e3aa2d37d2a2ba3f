"""The pull-request loop with real processes: QA review, fix rounds from QA, people and CI."""

from __future__ import annotations

import json
from typing import Any

from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import Turn, call, finish, qa_changes, qa_pass
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


def test_the_same_ci_failure_twice_stops_the_loop_and_asks_a_human(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    fake, model = github_fake, scripted_model
    model.script += [
        Turn("Writing.", [call("write_file", path="app.py", content=APP_V1)]),
        finish("Added add()."),
        qa_pass(),
    ]
    serve = start_serve(workers=1)
    fake.webhook_url = f"{serve.url}/webhook"
    issue = fake.add_issue(REPO, "Flaky arithmetic")
    fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    wait_for(lambda: progress_state(fake, issue.number) == "awaiting approval", "the hand-over", 60)
    failure = {
        "path": "test_app.py",
        "start_line": 9,
        "end_line": 9,
        "annotation_level": "failure",
        "message": "AssertionError: add(2, 2) == 0",
    }
    model.script += [*fix(APP_V2, "Tried a fix.", {}), qa_pass()]
    first_head = fake.pulls(REPO)[0].head_sha
    fake.ci_result(REPO, first_head, conclusion="failure", annotations=[failure])
    wait_for(lambda: fake.pulls(REPO)[0].head_sha != first_head, "the first CI fix", 60)
    wait_for(lambda: progress_state(fake, issue.number) == "awaiting approval", "QA again", 60)

    # The fix did not help: the very same failure on the new head. No second attempt.
    requests_before = len(model.requests)
    second_head = fake.pulls(REPO)[0].head_sha
    fake.ci_result(
        REPO, second_head, conclusion="failure", annotations=[{**failure, "end_line": 9}]
    )
    stop = f"<!-- aios:needs-human item={REPO}#{issue.number} -->"
    pr_number = fake.pulls(REPO)[0].number
    wait_for(
        lambda: any(c.body.startswith(stop) for c in fake.comments(REPO, pr_number)),
        "the comment asking a human",
        timeout=30,
    )
    body = next(c.body for c in fake.comments(REPO, pr_number) if c.body.startswith(stop))
    assert "same way twice" in body and "`tests`" in body
    assert fake.pulls(REPO)[0].head_sha == second_head
    assert len(model.requests) == requests_before  # no agent ran


def test_review_test_and_an_unknown_command_on_a_pull_request_people_wrote(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    fake, model = github_fake, scripted_model
    serve = start_serve(workers=1)
    fake.webhook_url = f"{serve.url}/webhook"
    fake.push_as("alice", REPO, "feature/add", {"app.py": APP_V1})
    pr = fake.open_pull_as("alice", REPO, "feature/add", "main", "Add add()")

    model.script.append(qa_changes("Wrong operator.", [("app.py", 6, "Should be a + b.")]))
    review_id = fake.comment_as("alice", REPO, pr.number, "/aios review").id
    wait_for(lambda: fake.threads(REPO, pr.number), "the QA review on the people's PR", 60)
    (thread,) = fake.threads(REPO, pr.number)
    assert (thread.path, thread.line) == ("app.py", 6)
    reply_marker = f"<!-- aios:reply comment={review_id} line="
    wait_for(
        lambda: any(
            "asks for changes" in c.body
            for c in fake.comments(REPO, pr.number)
            if c.body.startswith(reply_marker)
        ),
        "the answer to /aios review",
        30,
    )
    assert fake.pulls(REPO)[0].head_sha == pr.head_sha  # a review only: nothing pushed

    model.script += [
        Turn("Running them.", [call("run", command="python3 -c 'print(2 + 2)'")]),
        finish(json.dumps({"passed": False, "command": "pytest -q", "summary": "1 failed"})),
    ]
    test_id = fake.comment_as("alice", REPO, pr.number, "/aios test\n/aios frobnicate").id
    test_marker = f"<!-- aios:reply comment={test_id} line="

    def replies() -> list[str]:
        return [c.body for c in fake.comments(REPO, pr.number) if c.body.startswith(test_marker)]

    # Each line is answered in its own time (a paced reply may be rescheduled).
    wait_for(lambda: any("Tests fail" in a for a in replies()), "the test report", 60)
    wait_for(lambda: any("frobnicate" in a for a in replies()), "the unknown command's answer", 30)
    answers = replies()
    assert any("unknown command 'frobnicate'" in a and "/aios review" in a for a in answers)
    assert any("(`pytest -q`)" in a and "1 failed" in a for a in answers)
