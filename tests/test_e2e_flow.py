"""From a labeled issue to a pull request, with real `aios serve` processes, Redis and git."""

from __future__ import annotations

import json
from typing import Any

from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import SPEND_LIMIT, Turn, call, finish, qa_pass
from tests.serve_harness import REPO, wait_for

PLAN = {
    "plan": {
        "summary": "Paginate GET /users with a cursor, then add page controls.",
        "tasks": [
            {
                "role": "backend",
                "title": "Cursor pagination for GET /users",
                "acceptance": ["GET /users?cursor= returns the next page"],
                "files": ["app.py"],
            },
            {
                "role": "frontend",
                "title": "Page controls",
                "acceptance": ["a next-page button"],
                "files": ["web/users.js"],
            },
        ],
        "risks": ["clients that read every user at once"],
        "decisions": ["page size 50"],
    }
}


def issue_comments(fake: FakeGitHub, number: int, marker: str) -> list[Any]:
    return [c for c in fake.comments(REPO, number) if c.body.startswith(marker)]


def progress(fake: FakeGitHub, number: int) -> list[Any]:
    return issue_comments(fake, number, f"<!-- aios:progress item={REPO}#{number} -->")


def test_label_questions_answer_plan_approval_two_tasks_draft_pr(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script += [
        Turn("Reading the routes.", [call("list_files", path=".")]),
        finish(json.dumps({"questions": ["Cursor or page numbers?", "What page size?"]})),
    ]
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Paginate GET /users", "The list is too long.")
    n = issue.number

    github_fake.label_issue_as("alice", REPO, n, "aios")
    questions = f"<!-- aios:questions item={REPO}#{n} -->"
    wait_for(lambda: issue_comments(github_fake, n, questions), "the CTO's questions")
    assert "What page size?" in issue_comments(github_fake, n, questions)[0].body

    # The answer resumes triage; this time the CTO plans.
    scripted_model.script.append(finish(json.dumps(PLAN)))
    github_fake.comment_as("alice", REPO, n, "1. a cursor 2. fifty")
    plan_marker = f"<!-- aios:plan item={REPO}#{n} -->"
    wait_for(lambda: issue_comments(github_fake, n, plan_marker), "the plan")
    plan_comment = issue_comments(github_fake, n, plan_marker)[0]
    assert "- [ ] Approve this plan" in plan_comment.body

    # Ticking the box approves; two agents then work in order on one branch.
    scripted_model.script += [
        Turn("Adding the cursor.", [call("write_file", path="app.py", content="CURSOR = 50\n")]),
        finish("Backend: GET /users takes ?cursor=; the next page comes back in `next`."),
        Turn("Now the button.", [call("write_file", path="web/users.js", content="next()\n")]),
        finish("Frontend: a next-page button calls the new cursor."),
        qa_pass(),  # the QA agent's review finds nothing blocking: over to the maintainers
    ]
    ticked = plan_comment.body.replace("- [ ] Approve this plan", "- [x] Approve this plan")
    github_fake.edit_comment_as("alice", plan_comment.id, ticked)

    wait_for(lambda: github_fake.pulls(REPO), "the pull request", timeout=60)
    wait_for(
        lambda: any(run.status == "completed" for run in github_fake.check_runs(REPO)),
        "the hand-over: progress final and the check run completed",
        timeout=30,
    )
    (pr,) = github_fake.pulls(REPO)
    branch = f"aios/{n}-paginate-get-users"
    assert pr.head == branch
    assert f"Fixes #{n}" in pr.issue.body
    assert not pr.draft  # marked ready for review once handed over
    assert pr.requested_reviewers == ["alice"]
    commits = github_fake.commits(REPO, branch)
    assert [c.message.splitlines()[0] for c in commits[:2]] == [
        "Page controls",
        "Cursor pagination for GET /users",
    ]
    assert "AIOS-Agent: 🎨 Cy (Frontend)" in commits[0].message
    assert github_fake.git(REPO).read(branch, "app.py") == b"CURSOR = 50\n"

    (comment,) = progress(github_fake, n)
    assert "awaiting approval" in comment.body
    assert "Bea" in comment.body and "Cy" in comment.body
    assert "Backend: GET /users takes ?cursor=" in comment.body  # the handoff notes
    (check,) = github_fake.check_runs(REPO)
    assert check.name == "AIOS" and check.head_sha == pr.head_sha
    assert check.status == "completed" and check.conclusion == "success"


def test_a_role_label_goes_straight_to_a_pull_request(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script += [
        Turn(
            "On it.",
            [call("write_file", path="app.py", content="def hello():\n    return 'hi!'\n")],
        ),
        finish("Greeting is excited now."),
        qa_pass(),
    ]
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Excited greeting")
    github_fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    wait_for(lambda: github_fake.pulls(REPO), "the pull request", timeout=60)
    (pr,) = github_fake.pulls(REPO)
    assert pr.head == f"aios/{issue.number}-excited-greeting"
    assert f"Fixes #{issue.number}" in pr.issue.body
    # Counted once the item is at rest (QA done, check run completed), not as the PR appears.
    wait_for(
        lambda: any(run.status == "completed" for run in github_fake.check_runs(REPO)),
        "the item at rest",
        timeout=30,
    )
    assert len(progress(github_fake, issue.number)) == 1


def test_a_user_without_permission_starts_nothing(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Do my homework")
    github_fake.label_issue_as("bob", REPO, issue.number, "aios")
    wait_for(
        lambda: github_fake.calls("GET", r"/repos/octo-org/hello/collaborators/bob/permission"),
        "the permission check",
    )
    # Drain: a later delivery that does something proves the first was fully handled.
    other = github_fake.add_issue(REPO, "Real work")
    scripted_model.script.append(finish(json.dumps({"questions": ["Which work?"]})))
    github_fake.label_issue_as("alice", REPO, other.number, "aios")
    asked = f"<!-- aios:questions item={REPO}#{other.number} -->"
    wait_for(lambda: issue_comments(github_fake, other.number, asked), "the permitted triage")
    assert github_fake.comments(REPO, issue.number) == []
    with github_fake.lock:
        assert issue.reactions == []
    assert len(scripted_model.requests) == 1  # only alice's issue reached a model


def test_a_path_outside_the_workspace_is_refused_and_the_run_goes_on(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script += [
        Turn("Peeking.", [call("read_file", path="../../../../etc/passwd")]),
        Turn("Fine, working here.", [call("write_file", path="app.py", content="SAFE = 1\n")]),
        finish("Stayed inside the repository."),
    ]
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Stay inside")
    github_fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    wait_for(lambda: github_fake.pulls(REPO), "the pull request", timeout=60)
    refused = [
        r for r in scripted_model.requests if "is outside the repository" in json.dumps(r.body)
    ]
    assert refused, "the model should have been told the path is outside the repository"
    assert github_fake.git(REPO).read(f"aios/{issue.number}-stay-inside", "app.py") == b"SAFE = 1\n"


def test_a_failed_task_says_so_and_aios_retry_resumes_it(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script.append(SPEND_LIMIT)  # never retried: the task fails at once
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Needs a second try")
    github_fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    wait_for(
        lambda: any("/aios retry" in c.body for c in progress(github_fake, issue.number)),
        "the failure",
    )
    assert "spend limit" in progress(github_fake, issue.number)[0].body.lower()
    assert github_fake.pulls(REPO) == []

    scripted_model.script += [
        Turn("Second try.", [call("write_file", path="app.py", content="RETRIED = 1\n")]),
        finish("Done on the second try."),
    ]
    github_fake.comment_as("alice", REPO, issue.number, "/aios retry")
    wait_for(lambda: github_fake.pulls(REPO), "the pull request after the retry", timeout=60)
    assert len(progress(github_fake, issue.number)) == 1


def test_aios_cancel_stops_the_running_job_and_cancels_the_item(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script += [
        Turn("Starting.", [call("write_file", path="app.py", content="B = 1\n")]),
        Turn("Running the slow suite.", [call("run", command="sleep 600")]),
    ]
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Too slow")
    github_fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    wait_for(lambda: len(scripted_model.requests) >= 2, "the agent to be mid-task", timeout=30)

    github_fake.comment_as("alice", REPO, issue.number, "/aios cancel")
    wait_for(
        lambda: any("cancelled" in c.body for c in progress(github_fake, issue.number)),
        "the cancelled work item",
        timeout=30,
    )
    # The worker is free again: the next work item runs to its pull request.
    scripted_model.script += [
        Turn("Quick one.", [call("write_file", path="other.py", content="C = 1\n")]),
        finish("Done."),
    ]
    other = github_fake.add_issue(REPO, "Quick fix")
    github_fake.label_issue_as("alice", REPO, other.number, "aios:backend")
    wait_for(lambda: github_fake.pulls(REPO), "the next item's pull request", timeout=60)
    assert [pr.head for pr in github_fake.pulls(REPO)] == [f"aios/{other.number}-quick-fix"]
