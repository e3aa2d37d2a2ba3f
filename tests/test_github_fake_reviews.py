"""Tests of the GitHub fake's pull-request loop: reviews on the diff, threads, CI, merging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gidgethub
import httpx2
import pytest
from gidgethub import sansio
from gidgethub.httpx import GitHubAPI

from bot.testbed.github import FakeGitHub
from bot.testbed.github.routes.ci import routes as ci_routes
from bot.testbed.github.routes.reviews import routes as review_routes

REPO = "octo-org/hello"
API = "/repos/octo-org/hello"
BRANCH = "aios/2-tune"
ORIGINAL = "".join(f"v{i} = {i}\n" for i in range(1, 31))
# Line 15 changes and a line is added after line 25: two hunks, lines 12-18 and 23-29 (new file).
CHANGED = ORIGINAL.replace("v15 = 15\n", "v15 = 150\n").replace(
    "v25 = 25\n", "v25 = 25\nextra = True\n"
)
THREADS = """
query Threads($owner: String!, $name: String!, $number: Int!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes {
          id isResolved isOutdated path line
          comments(first: 20) { nodes { databaseId body author { login __typename } path line } }
        }
      }
    }
  }
}
"""
RESOLVE = """
mutation Resolve($id: ID!) {
  resolveReviewThread(input: {threadId: $id}) { thread { id isResolved resolvedBy { login } } }
}
"""


@pytest.fixture
def remotes(github_fake: FakeGitHub, tmp_path: Path) -> Path:
    root = tmp_path / "remotes"
    github_fake.create_git_repo(REPO, root, {"README.md": "# hello\n", "src/app.py": ORIGINAL})
    return root


@pytest.fixture
async def gh(github_fake: FakeGitHub) -> AsyncIterator[GitHubAPI]:
    """gidgethub acting as the App's installation on octo-org/hello."""
    async with httpx2.AsyncClient() as http:
        token = github_fake.issue_token()
        yield GitHubAPI(http, "aios-test", base_url=github_fake.url, oauth_token=token)


async def open_pull(gh: GitHubAPI, fake: FakeGitHub, body: str = "Tunes v15") -> dict[str, Any]:
    """The App pushes CHANGED to BRANCH (as a person would, for the test) and opens a PR."""
    fake.push_as("aios[bot]", REPO, BRANCH, {"src/app.py": CHANGED})
    data = {"title": "Tune values", "head": BRANCH, "base": "main", "body": body}
    return await gh.post(f"{API}/pulls", data=data)


async def refusal(fake: FakeGitHub, request: Any) -> tuple[int, Any]:
    """Run a request that must fail; its status and the body the fake answered."""
    with pytest.raises(gidgethub.HTTPException) as raised:
        await request
    return raised.value.status_code, fake.requests[-1].response


def comment(line: int, side: str = "RIGHT", body: str = "why?", **extra: Any) -> dict[str, Any]:
    return {"path": "src/app.py", "line": line, "side": side, "body": body, **extra}


# -- reviews and review comments ---------------------------------------------------------------


async def test_review_comments_land_on_lines_of_the_diff(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    pull = await open_pull(gh, github_fake)
    reviews = f"{pull['url']}/reviews"
    review = await gh.post(
        reviews,
        data={
            "event": "COMMENT",
            "body": "QA pass",
            "comments": [
                comment(15, body="added line"),
                comment(15, "LEFT", body="removed line"),
                comment(26, body="new line in the second hunk"),
                comment(15, body="a range", start_line=13, start_side="RIGHT"),
            ],
        },
    )
    head = pull["head"]["sha"]
    assert (review["state"], review["commit_id"], review["user"]["login"]) == (
        "COMMENTED",
        head,
        "aios[bot]",
    )
    assert review["submitted_at"] and review["body"] == "QA pass"
    listed = [c async for c in gh.getiter(f"{pull['url']}/comments")]
    assert [(c["line"], c["side"], c["start_line"], c["position"]) for c in listed] == [
        (15, "RIGHT", None, 5),
        (15, "LEFT", None, 4),
        (26, "RIGHT", None, 13),
        (15, "RIGHT", 13, 5),
    ]
    first = listed[0]
    assert (
        first["diff_hunk"]
        == "@@ -12,7 +12,7 @@ v11 = 11\n v12 = 12\n v13 = 13\n v14 = 14\n-v15 = 15\n+v15 = 150"
    )
    assert listed[2]["diff_hunk"].startswith("@@ -23,6 +23,7 @@")
    assert listed[2]["diff_hunk"].endswith("+extra = True")
    assert {c["pull_request_review_id"] for c in listed} == {review["id"]}
    assert {(c["commit_id"], c["original_commit_id"], c["user"]["login"]) for c in listed} == {
        (head, head, "aios[bot]")
    }
    assert "in_reply_to_id" not in first and first["original_line"] == 15
    assert [r["id"] for r in await gh.getitem(reviews)] == [review["id"]]
    assert (await gh.getitem(f"{reviews}/{review['id']}"))["state"] == "COMMENTED"
    assert (await gh.getitem(pull["url"]))["review_comments"] == 4
    assert [c.body for c in github_fake.review_comments(REPO, pull["number"])][-1] == "a range"
    assert [r.state for r in github_fake.reviews(REPO, pull["number"])] == ["COMMENTED"]
    single = await gh.post(
        f"{pull['url']}/comments", data={**comment(12), "commit_id": head, "body": "context"}
    )
    assert (single["line"], single["position"]) == (12, 1)
    assert single["pull_request_review_id"] != review["id"]  # GitHub files it under a new review
    assert github_fake.response_mismatches() == []


async def test_an_off_diff_comment_is_refused_and_recorded(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    pull = await open_pull(gh, github_fake)
    reviews = f"{pull['url']}/reviews"
    cases = [
        ([comment(15), comment(3)], ["Line could not be resolved"]),
        ([{**comment(15), "path": "README.md"}], ["Path could not be resolved"]),
        ([comment(29, "LEFT")], ["Line could not be resolved"]),  # only 28 old lines are shown
        (
            [comment(24, start_line=13)],
            ["Pull request review thread start line must be part of the same hunk as the line."],
        ),
    ]
    for comments, errors in cases:
        data = {"event": "COMMENT", "body": "x", "comments": comments}
        status, body = await refusal(github_fake, gh.post(reviews, data=data))
        assert (status, body["message"], body["errors"]) == (422, "Unprocessable Entity", errors)
    status, body = await refusal(
        github_fake,
        gh.post(f"{pull['url']}/comments", data={**comment(20), "commit_id": pull["head"]["sha"]}),
    )
    assert (status, body["errors"][0]["message"]) == (
        422,
        "pull_request_review_thread.line must be part of the diff",
    )
    assert github_fake.reviews(REPO, pull["number"]) == []  # all or nothing
    dropped = github_fake.forget_violations("not on the pull request's diff")
    assert len(dropped) == 5
    assert dropped[0] == (
        f"POST {API}/pulls/1/reviews: inline comment on src/app.py:3 (RIGHT) is not on the pull "
        "request's diff (Line could not be resolved); GitHub refuses the whole review"
    )
    assert github_fake.violations == []


async def test_the_app_cannot_approve_its_own_pull_request(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    pull = await open_pull(gh, github_fake)
    reviews = f"{pull['url']}/reviews"
    for event, message in [
        ("APPROVE", "Can not approve your own pull request"),
        ("REQUEST_CHANGES", "Can not request changes on your own pull request"),
    ]:
        status, body = await refusal(
            github_fake, gh.post(reviews, data={"event": event, "body": "LGTM"})
        )
        assert (status, body["errors"]) == (422, [message])
    assert len(github_fake.forget_violations("your own pull request")) == 2
    status, _ = await refusal(github_fake, gh.post(reviews, data={"event": "COMMENT"}))
    assert status == 422  # COMMENT needs a body or inline comments

    pending = await gh.post(reviews, data={"comments": [comment(15)]})
    assert pending["state"] == "PENDING" and "submitted_at" not in pending
    assert [c async for c in gh.getiter(f"{pull['url']}/comments")] == []  # still a draft
    status, body = await refusal(github_fake, gh.post(reviews, data={"body": "again"}))
    assert body["errors"] == ["User can only have one pending review per pull request"]
    submitted = await gh.post(
        f"{reviews}/{pending['id']}/events", data={"event": "COMMENT", "body": "Done"}
    )
    assert (submitted["state"], submitted["body"]) == ("COMMENTED", "Done")
    assert len(github_fake.review_comments(REPO, pull["number"])) == 1
    assert github_fake.response_mismatches() == []


# -- people, replies, threads -----------------------------------------------------------------


async def test_people_review_and_the_app_replies_in_threads(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI, received: list[sansio.Event]
) -> None:
    pull = await open_pull(gh, github_fake)
    number = pull["number"]
    review = github_fake.review_as(
        "alice", REPO, number, "REQUEST_CHANGES", "Please fix", [comment(15, body="150?")]
    )
    assert [(e.event, e.data["action"]) for e in received] == [
        ("pull_request_review", "submitted"),
        ("pull_request_review_comment", "created"),
    ]
    submitted, inline = (e.data for e in received)
    assert (submitted["review"]["id"], submitted["review"]["state"]) == (
        review.id,
        "changes_requested",
    )
    assert submitted["review"]["commit_id"] == pull["head"]["sha"]
    assert (submitted["sender"]["login"], submitted["installation"]["id"]) == ("alice", 1)
    assert submitted["pull_request"]["number"] == number
    assert submitted["repository"]["full_name"] == REPO
    root_id = inline["comment"]["id"]
    assert (inline["comment"]["line"], inline["comment"]["body"]) == (15, "150?")
    assert inline["comment"]["pull_request_review_id"] == review.id

    reply = await gh.post(f"{pull['url']}/comments/{root_id}/replies", data={"body": "Fixed"})
    assert (reply["in_reply_to_id"], reply["line"], reply["path"]) == (root_id, 15, "src/app.py")
    status, _ = await refusal(
        github_fake, gh.post(f"{pull['url']}/comments/{reply['id']}/replies", data={"body": "x"})
    )
    assert status == 422
    assert len(github_fake.forget_violations("itself a reply")) == 1
    human = github_fake.reply_as("alice", REPO, number, reply["id"], "Thanks")
    assert human.in_reply_to_id == root_id  # the UI answers the thread's first comment
    assert [(e.event, e.data.get("action")) for e in received[2:]] == [
        ("pull_request_review_comment", "created"),
        ("pull_request_review", "submitted"),
    ]
    assert received[3].data["review"]["state"] == "commented"
    [thread] = github_fake.threads(REPO, number)
    assert [c.body for c in thread.comments] == ["150?", "Fixed", "Thanks"]
    assert (thread.resolved, thread.outdated, thread.line) == (False, False, 15)

    approval = github_fake.review_as("alice", REPO, number, "APPROVE")  # the App's PR: allowed
    assert received[-1].data["review"]["state"] == "approved"
    assert [r.state for r in github_fake.reviews(REPO, number)][-1] == approval.state
    with pytest.raises(ValueError, match="Line could not be resolved"):
        github_fake.review_as("alice", REPO, number, "COMMENT", "x", [comment(2)])
    with github_fake.lock:
        github_fake.repo(REPO).pulls[number].issue.user = "bob"
    with pytest.raises(ValueError, match="Can not approve your own pull request"):
        github_fake.review_as("bob", REPO, number, "APPROVE")
    assert github_fake.response_mismatches() == []


async def test_review_threads_resolve_through_graphql(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    pull = await open_pull(gh, github_fake)
    number = pull["number"]
    github_fake.review_as(
        "alice", REPO, number, "COMMENT", "", [comment(15), comment(26)], deliver=False
    )
    root = github_fake.review_comments(REPO, number)[0]
    reply = await gh.post(f"{pull['url']}/comments/{root.id}/replies", data={"body": "Done"})
    endpoint = github_fake.url + "/graphql"
    variables = {"owner": "octo-org", "name": "hello", "number": number}
    data = await gh.graphql(THREADS, endpoint=endpoint, first=1, **variables)
    threads = data["repository"]["pullRequest"]["reviewThreads"]
    assert (threads["totalCount"], threads["pageInfo"]["hasNextPage"]) == (2, True)
    [first] = threads["nodes"]
    assert (first["isResolved"], first["isOutdated"], first["path"], first["line"]) == (
        False,
        False,
        "src/app.py",
        15,
    )
    assert first["comments"]["nodes"] == [
        {"databaseId": root.id, "body": "why?", "author": {"login": "alice", "__typename": "User"},
         "path": "src/app.py", "line": 15},
        {"databaseId": reply["id"], "body": "Done",
         "author": {"login": "aios", "__typename": "Bot"}, "path": "src/app.py", "line": 15},
    ]  # fmt: skip
    after = threads["pageInfo"]["endCursor"]
    rest = await gh.graphql(THREADS, endpoint=endpoint, first=1, after=after, **variables)
    [second] = rest["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    assert second["line"] == 26

    resolved = await gh.graphql(RESOLVE, endpoint=endpoint, id=first["id"])
    assert resolved["resolveReviewThread"]["thread"] == {
        "id": first["id"],
        "isResolved": True,
        "resolvedBy": {"login": "aios"},
    }
    assert [t.resolved for t in github_fake.threads(REPO, number)] == [True, False]
    assert github_fake.threads(REPO, number)[0].node_id == first["id"]

    github_fake.push_as("aios[bot]", REPO, BRANCH, {"src/app.py": CHANGED + "v31 = 31\n"})
    again = await gh.graphql(THREADS, endpoint=endpoint, first=10, **variables)
    nodes = again["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    assert [(n["isResolved"], n["isOutdated"], n["line"]) for n in nodes] == [
        (True, True, None),
        (False, True, None),
    ]
    listed = await gh.getitem(f"{pull['url']}/comments")
    assert (listed[0]["line"], listed[0]["position"], listed[0]["original_line"]) == (
        None,
        None,
        15,
    )

    with pytest.raises(gidgethub.QueryError, match="exceeds the `first` limit of 100"):
        await gh.graphql(THREADS, endpoint=endpoint, first=101, **variables)
    with pytest.raises(gidgethub.QueryError, match="fake does not implement GraphQL"):
        await gh.graphql(THREADS.replace("isOutdated", "isCollapsed"), endpoint=endpoint,
                         first=1, **variables)  # fmt: skip
    assert github_fake.forget_violations() == [
        "POST /graphql: fake does not implement GraphQL: PullRequestReviewThread.isCollapsed"
    ]
    assert github_fake.response_mismatches() == []


# -- CI ------------------------------------------------------------------------------------------


async def test_ci_results_show_in_checks_and_arrive_as_webhooks(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI, received: list[sansio.Event]
) -> None:
    pull = await open_pull(gh, github_fake)
    head = pull["head"]["sha"]
    annotation = {"path": "src/app.py", "start_line": 15, "end_line": 15,
                  "annotation_level": "failure", "message": "assert 150 == 15"}  # fmt: skip
    run = github_fake.ci_result(
        REPO, head, summary="1 failed", text="FAILED test_v15", annotations=[annotation]
    )
    assert [e.event for e in received] == ["check_run", "check_suite", "workflow_run"]
    check_run, suite, workflow = (e.data for e in received)
    assert (check_run["check_run"]["id"], check_run["check_run"]["app"]["slug"]) == (
        run.id,
        "github-actions",
    )
    assert check_run["check_run"]["output"]["text"] == "FAILED test_v15"
    assert (suite["action"], suite["check_suite"]["conclusion"]) == ("completed", "failure")
    assert [p["number"] for p in suite["check_suite"]["pull_requests"]] == [pull["number"]]
    assert suite["check_suite"]["head_branch"] == BRANCH
    assert suite["installation"]["id"] == 1 and suite["repository"]["full_name"] == REPO
    run_info = workflow["workflow_run"]
    assert (run_info["conclusion"], run_info["head_sha"], run_info["check_suite_id"]) == (
        "failure",
        head,
        run.check_suite_id,
    )
    assert [p["number"] for p in run_info["pull_requests"]] == [pull["number"]]

    await gh.post(f"{API}/check-runs", data={"name": "AIOS", "head_sha": head})
    runs = await gh.getitem(f"{API}/commits/{head}/check-runs")
    assert sorted((r["name"], r["app"]["slug"]) for r in runs["check_runs"]) == [
        ("AIOS", "aios"),
        ("tests", "github-actions"),
    ]
    failing = next(r for r in runs["check_runs"] if r["name"] == "tests")
    assert (failing["conclusion"], failing["output"]["annotations_count"]) == ("failure", 1)
    notes = await gh.getitem(failing["output"]["annotations_url"])
    assert [(n["path"], n["start_line"], n["message"]) for n in notes] == [
        ("src/app.py", 15, "assert 150 == 15")
    ]
    suites = await gh.getitem(f"{API}/commits/{head}/check-suites")
    assert sorted(s["app"]["slug"] for s in suites["check_suites"]) == ["aios", "github-actions"]

    status = await gh.getitem(f"{API}/commits/{head}/status")
    assert (status["state"], status["total_count"]) == ("pending", 0)
    github_fake.set_status(REPO, head, "lint", "success")
    github_fake.set_status(REPO, head, "coverage", "pending")
    github_fake.set_status(REPO, head, "coverage", "failure", description="61 %")
    status = await gh.getitem(f"{API}/commits/{head}/status")
    assert status["state"] == "failure"
    assert [(s["context"], s["state"]) for s in status["statuses"]] == [
        ("coverage", "failure"),
        ("lint", "success"),
    ]
    statuses = await gh.getitem(f"{API}/commits/{{ref}}/statuses", url_vars={"ref": BRANCH})
    assert len(statuses) == 3
    assert github_fake.response_mismatches() == []


async def test_required_checks_block_the_merge_until_green(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    main = await gh.getitem(f"{API}/branches/main")
    assert (main["protected"], main["protection"]["required_status_checks"]["contexts"]) == (
        False,
        [],
    )
    github_fake.set_required_checks(REPO, "main", ["tests"])
    main = await gh.getitem(f"{API}/branches/main")
    assert (main["protected"], main["protection"]["required_status_checks"]["contexts"]) == (
        True,
        ["tests"],
    )
    assert main["commit"]["sha"] == github_fake.branches(REPO)["main"]
    status, body = await refusal(github_fake, gh.getitem(f"{API}/branches/nope"))
    assert (status, body["message"]) == (404, "Branch not found")

    pull = await open_pull(gh, github_fake)
    head, merge = pull["head"]["sha"], f"{pull['url']}/merge"
    fetched = await gh.getitem(pull["url"])
    assert (fetched["mergeable"], fetched["mergeable_state"]) == (True, "blocked")
    status, body = await refusal(github_fake, gh.put(merge, data={"merge_method": "squash"}))
    assert (status, body["message"]) == (405, 'Required status check "tests" is expected.')
    github_fake.ci_result(REPO, head, conclusion="failure", deliver=False)
    status, body = await refusal(github_fake, gh.put(merge, data={"merge_method": "squash"}))
    assert (status, body["message"]) == (405, 'Required status check "tests" is failing.')
    github_fake.ci_result(REPO, head, name="lint", conclusion="failure", deliver=False)
    github_fake.ci_result(REPO, head, conclusion="success", deliver=False)
    fetched = await gh.getitem(pull["url"])
    assert fetched["mergeable_state"] == "unstable"  # lint fails, but only tests is required
    merged = await gh.put(merge, data={"merge_method": "squash"})
    assert merged["merged"] is True
    assert github_fake.response_mismatches() == []


async def test_merge_closes_the_fixed_issue_and_the_branch_can_be_deleted(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    issue = github_fake.add_issue(REPO, "v15 is too small")
    pull = await open_pull(gh, github_fake, body=f"Tunes v15.\n\nFixes #{issue.number}")
    await gh.put(f"{pull['url']}/merge", data={"merge_method": "squash"})
    closed = await gh.getitem(f"{API}/issues/{issue.number}")
    assert (closed["state"], closed["state_reason"], closed["closed_by"]["login"]) == (
        "closed",
        "completed",
        "aios[bot]",
    )

    await gh.delete(f"{API}/git/refs/heads/{BRANCH}")
    assert BRANCH not in github_fake.branches(REPO)
    status, body = await refusal(github_fake, gh.delete(f"{API}/git/refs/heads/{BRANCH}"))
    assert (status, body["message"]) == (422, "Reference does not exist")
    assert (await gh.getitem(pull["url"]))["merged"] is True  # the merged PR keeps its head sha

    github_fake.push_as("alice", REPO, "aios/3-more", {"b.txt": "b\n"})
    other = await gh.post(
        f"{API}/pulls", data={"title": "More", "head": "aios/3-more", "base": "main"}
    )
    await gh.delete(f"{API}/git/refs/heads/aios/3-more")
    assert (await gh.getitem(other["url"]))["state"] == "closed"  # as GitHub closes it
    assert github_fake.response_mismatches() == []


async def test_synchronize_names_the_old_and_new_head(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI, received: list[sansio.Event]
) -> None:
    pull = await open_pull(gh, github_fake)
    after = github_fake.push_as("alice", REPO, BRANCH, {"NOTES.md": "n\n"}, deliver_pr_event=True)
    [event] = received
    assert (event.event, event.data["action"], event.data["number"]) == (
        "pull_request",
        "synchronize",
        pull["number"],
    )
    assert (event.data["before"], event.data["after"]) == (pull["head"]["sha"], after)
    assert event.data["pull_request"]["head"]["sha"] == after
    assert event.data["sender"]["login"] == "alice"


async def test_every_new_route_is_exercised(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    pull = await open_pull(gh, github_fake)
    head = pull["head"]["sha"]
    review = await gh.post(f"{pull['url']}/reviews", data={"body": "x", "comments": [comment(15)]})
    await gh.getitem(f"{pull['url']}/reviews")
    await gh.getitem(f"{pull['url']}/reviews/{review['id']}")
    await gh.post(f"{pull['url']}/reviews/{review['id']}/events", data={"event": "COMMENT"})
    [inline] = await gh.getitem(f"{pull['url']}/comments")
    await gh.getitem(inline["url"])
    await gh.post(f"{pull['url']}/comments/{inline['id']}/replies", data={"body": "y"})
    await gh.post(f"{pull['url']}/comments", data={**comment(16), "commit_id": head})
    run = github_fake.ci_result(REPO, head, log="ok\n", deliver=False)
    await gh.getitem(f"{API}/check-runs/{run.id}/annotations")
    with pytest.raises(gidgethub.RedirectionException):  # 302 to the log's signed link
        await gh.getitem(f"{API}/actions/jobs/{run.id}/logs")
    await gh.getitem(f"{API}/commits/{head}/check-suites")
    await gh.getitem(f"{API}/commits/{head}/status")
    await gh.getitem(f"{API}/commits/{head}/statuses")
    await gh.getitem(f"{API}/branches/main")
    listed = await gh.getitem(f"{API}/commits?since=2000-01-01T00:00:00Z")
    assert listed and listed[0]["sha"] == github_fake.branches(REPO)["main"]
    assert await gh.getitem(f"{API}/commits?sha={BRANCH}&since=2999-01-01T00:00:00Z") == []
    await gh.getitem(f"{API}/rules/branches/main")
    await gh.delete(f"{API}/git/refs/heads/{BRANCH}")
    exercised = {r.operation_id for r in github_fake.requests}
    assert {*review_routes.routes, *ci_routes.routes} <= exercised
    assert github_fake.response_mismatches() == []
