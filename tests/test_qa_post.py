"""Posting the QA review to the GitHub fake (OpenAPI-checked, diff-anchored): once per commit,
found again on a re-run, and with refused inline comments moved into the body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gidgethub
import httpx2
import pytest
from gidgethub.httpx import GitHubAPI

from bot.review.draft import ReviewDraft, review_diff
from bot.review.post import post_review
from bot.testbed.github import FakeGitHub
from bot.workitem.names import qa_review_marker

REPO = "octo-org/hello"
BRANCH = "aios/2-tune"
ORIGINAL = "".join(f"v{i} = {i}\n" for i in range(1, 31))
# Line 15 changes and a line is added after line 25: hunks cover lines 12-18 and 23-29 (new file).
CHANGED = ORIGINAL.replace("v15 = 15\n", "v15 = 150\n").replace(
    "v25 = 25\n", "v25 = 25\nextra = True\n"
)


@dataclass
class Pull:
    number: int
    head: str
    diff: str


@pytest.fixture
async def gh(github_fake: FakeGitHub) -> AsyncIterator[GitHubAPI]:
    """gidgethub acting as the App's installation on octo-org/hello."""
    async with httpx2.AsyncClient() as http:
        token = github_fake.issue_token()
        yield GitHubAPI(http, "aios-test", base_url=github_fake.url, oauth_token=token)


@pytest.fixture
async def pull(github_fake: FakeGitHub, tmp_path: Path, gh: GitHubAPI) -> Pull:
    """A PR from the App's branch changing src/app.py, and its three-dot diff from real git."""
    github_fake.create_git_repo(
        REPO, tmp_path / "remotes", {"README.md": "# hello\n", "src/app.py": ORIGINAL}
    )
    head = github_fake.push_as(
        "aios[bot]", REPO, BRANCH, {"src/app.py": CHANGED, "docs/new.md": "hello\n"}
    )
    data = {"title": "Tune values", "head": BRANCH, "base": "main", "body": "Tunes v15"}
    created = await gh.post(f"/repos/{REPO}/pulls", data=data)
    raw = github_fake.git(REPO).git("diff", "--no-color", "-M", f"main...{BRANCH}")
    return Pull(created["number"], head, raw.decode())


def review_posts(fake: FakeGitHub, pull: Pull) -> list[Any]:
    return fake.calls("POST", rf"/repos/{REPO}/pulls/{pull.number}/reviews")


async def test_the_review_is_posted_once_with_comments_on_its_lines(
    github_fake: FakeGitHub, pull: Pull, gh: GitHubAPI
) -> None:
    verdict = {
        "verdict": "changes",
        "summary": "v15 grew tenfold.",
        "comments": [
            {"path": "src/app.py", "line": 15, "body": "Why 150?"},
            {"path": "src/app.py", "line": 15, "side": "LEFT", "body": "Was 15."},
            {"path": "src/app.py", "line": 26, "body": "Unused flag."},
            {"path": "src/app.py", "line": 3, "body": "Off the diff."},
        ],
    }
    tasks: list[str] = []

    async def qa(task: str) -> str:
        tasks.append(task)
        return "```json\n" + json.dumps(verdict) + "\n```"

    draft = await review_diff(pull.diff, ask=qa, title="Tune values", description="Tunes v15")
    assert len(tasks) == 1 and len(draft.comments) == 3

    review_id = await post_review(gh, REPO, pull.number, pull.head, draft)

    (review,) = github_fake.reviews(REPO, pull.number)
    assert (review.id, review.state, review.commit_id, review.user) == (
        review_id,
        "COMMENTED",
        pull.head,
        "aios[bot]",
    )
    assert review.body == f"<!-- aios:qa-review pr={pull.number} sha={pull.head} -->\n{draft.body}"
    assert "- `src/app.py` line 3: Off the diff." in review.body
    placed = github_fake.review_comments(REPO, pull.number)
    assert [(c.path, c.original_line, c.side, c.body, c.review_id) for c in placed] == [
        ("src/app.py", 15, "RIGHT", "Why 150?", review_id),
        ("src/app.py", 15, "LEFT", "Was 15.", review_id),
        ("src/app.py", 26, "RIGHT", "Unused flag.", review_id),
    ]
    posted = review_posts(github_fake, pull)[0].json
    assert posted["event"] == "COMMENT" and posted["commit_id"] == pull.head

    assert await post_review(gh, REPO, pull.number, pull.head, draft) == review_id  # a re-run
    assert len(review_posts(github_fake, pull)) == 1
    assert len(github_fake.reviews(REPO, pull.number)) == 1


async def test_a_marker_pasted_by_a_person_does_not_count_and_pages_are_followed(
    github_fake: FakeGitHub, pull: Pull, gh: GitHubAPI
) -> None:
    marker = qa_review_marker(pull.number, pull.head)
    for _ in range(100):
        github_fake.review_as("alice", REPO, pull.number, "COMMENT", f"{marker}\nme", deliver=False)
    draft = ReviewDraft("### 🔍 Quinn (QA) · review\n\nAll good.\n", [], False, 0)
    review_id = await post_review(gh, REPO, pull.number, pull.head, draft)
    assert len(github_fake.reviews(REPO, pull.number)) == 101
    assert await post_review(gh, REPO, pull.number, pull.head, draft) == review_id  # on page 2
    assert len(review_posts(github_fake, pull)) == 1
    listed = github_fake.calls("GET", rf"/repos/{REPO}/pulls/{pull.number}/reviews")
    assert [r.query.get("page") for r in listed] == [None, None, "2"]


async def test_refused_inline_comments_are_posted_in_the_body(
    github_fake: FakeGitHub, pull: Pull, gh: GitHubAPI
) -> None:
    draft = ReviewDraft(
        body="### 🔍 Quinn (QA) · review\n\n**Verdict: changes needed.**\n",
        comments=[
            {"path": "src/app.py", "line": 15, "side": "RIGHT", "body": "Why 150?"},
            {"path": "src/app.py", "line": 3, "side": "RIGHT", "body": "Gone\nfrom the diff."},
            {
                "path": "src/app.py",
                "line": 15,
                "side": "LEFT",
                "body": "Old.",
                "start_line": 13,
                "start_side": "LEFT",
            },
        ],
        blocking=True,
        findings=3,
    )
    review_id = await post_review(gh, REPO, pull.number, pull.head, draft)

    refused = github_fake.forget_violations("not on the pull request's diff")
    assert len(refused) == 1 and "src/app.py:3 (RIGHT)" in refused[0]
    assert [p.status for p in review_posts(github_fake, pull)] == [422, 200]
    (review,) = github_fake.reviews(REPO, pull.number)
    assert review.id == review_id and review.state == "COMMENTED"
    assert github_fake.review_comments(REPO, pull.number) == []
    assert review.body.startswith(qa_review_marker(pull.number, pull.head) + "\n### 🔍 Quinn")
    assert (
        "GitHub did not accept these comments on the diff (the pull request probably changed "
        "since this review started), so here they are:\n\n"
        "- `src/app.py` line 15: Why 150?\n"
        "- `src/app.py` line 3: Gone\n  from the diff.\n"
        "- `src/app.py` lines 13 to 15 (old version): Old.\n"
    ) in review.body


async def test_other_refusals_are_raised(
    github_fake: FakeGitHub, pull: Pull, gh: GitHubAPI
) -> None:
    draft = ReviewDraft("body\n", [], False, 0)
    github_fake.fail_next("POST", r".*/reviews", 422)
    with pytest.raises(gidgethub.BadRequest) as raised:
        await post_review(gh, REPO, pull.number, pull.head, draft)
    assert raised.value.status_code == 422  # nothing inline to take out: the caller decides
    with_comment = ReviewDraft(
        "body\n", [{"path": "src/app.py", "line": 15, "side": "RIGHT", "body": "x"}], False, 1
    )
    github_fake.fail_next("POST", r".*/reviews", 403)
    with pytest.raises(gidgethub.BadRequest):
        await post_review(gh, REPO, pull.number, pull.head, with_comment)
    assert github_fake.reviews(REPO, pull.number) == []


def test_the_marker_names_the_pull_request_and_the_commit() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert qa_review_marker(7, sha) == f"<!-- aios:qa-review pr=7 sha={sha} -->"
    for number, commit in [(0, sha), (True, sha), (7, "HEAD"), (7, sha.upper()), (7, sha + "\n")]:
        with pytest.raises(ValueError):
            qa_review_marker(number, commit)
