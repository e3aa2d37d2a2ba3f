"""Approval and merge of an agent's pull request, with real processes, Redis and git."""

from __future__ import annotations

from typing import Any

from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import Turn, call, finish, qa_pass
from tests.serve_harness import REPO, Serve, wait_for


def handed_over(
    fake: FakeGitHub, start_serve: Any, model: ScriptedModel, title: str
) -> tuple[Serve, int, Any]:
    """Label an issue aios:backend and wait until its PR waits for a maintainer's approval."""
    model.script += [
        Turn("Writing.", [call("write_file", path="app.py", content=f"# {title}\n")]),
        finish(f"Done: {title}."),
        qa_pass(),
    ]
    serve = start_serve(workers=1)
    fake.webhook_url = f"{serve.url}/webhook"
    issue = fake.add_issue(REPO, title)
    fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    wait_for(
        lambda: any(run.status == "completed" for run in fake.check_runs(REPO)),
        "the hand-over",
        timeout=60,
    )
    (pr,) = fake.pulls(REPO)
    return serve, issue.number, pr


def progress_body(fake: FakeGitHub, number: int) -> str:
    marker = f"<!-- aios:progress item={REPO}#{number} -->"
    return next(c.body for c in fake.comments(REPO, number) if c.body.startswith(marker))


def test_an_approval_merges_with_squash_and_deletes_the_branch(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    _serve, number, pr = handed_over(github_fake, start_serve, scripted_model, "Ship it")

    github_fake.review_as("bob", REPO, pr.number, "APPROVE")  # read access: does not count
    wait_for(
        lambda: github_fake.calls("GET", r"/repos/octo-org/hello/collaborators/bob/permission"),
        "bob's permission check",
    )
    github_fake.review_as("alice", REPO, pr.number, "APPROVE")
    wait_for(lambda: github_fake.pulls(REPO)[0].merged_at is not None, "the merge", timeout=30)
    merged = github_fake.pulls(REPO)[0]
    wait_for(lambda: merged.head not in github_fake.branches(REPO), "the branch's deletion")
    (squash,) = github_fake.commits(REPO, "main")[:1]
    assert squash.message.startswith("Ship it")  # one squashed commit on main
    wait_for(lambda: "merged" in progress_body(github_fake, number), "the final progress")
    assert github_fake.calls("PUT", r"/repos/octo-org/hello/pulls/\d+/merge")[0].json == {
        "merge_method": "squash",
        "sha": pr.head_sha,
    }


def test_a_push_after_approval_makes_it_stale_until_approved_again(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    github_fake.set_required_checks(REPO, "main", ["tests"])
    _serve, _number, pr = handed_over(github_fake, start_serve, scripted_model, "Stale approval")

    github_fake.review_as("alice", REPO, pr.number, "APPROVE")
    wait_for(
        lambda: github_fake.calls("GET", r"/repos/octo-org/hello/pulls/\d+/reviews"),
        "the merge check (the required check has not reported: AIOS waits)",
    )
    new_head = github_fake.push_as("alice", REPO, pr.head, {"app.py": "# changed after\n"})
    github_fake.ci_result(REPO, new_head, name="tests", conclusion="success")
    blocked = "<!-- aios:merge-blocked item="
    wait_for(
        lambda: any(c.body.startswith(blocked) for c in github_fake.comments(REPO, pr.number)),
        "the comment saying what blocks the merge",
    )
    body = next(c.body for c in github_fake.comments(REPO, pr.number) if c.body.startswith(blocked))
    assert f"`{new_head[:7]}`" in body and "approving review" in body
    assert github_fake.pulls(REPO)[0].merged_at is None

    github_fake.review_as("alice", REPO, pr.number, "APPROVE")
    wait_for(lambda: github_fake.pulls(REPO)[0].merged_at is not None, "the merge", timeout=30)
