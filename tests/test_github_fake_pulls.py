"""Tests of the GitHub fake's issue → PR flow: git remotes, pulls, GraphQL, checks, people."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gidgethub
import httpx2
import pytest
from aiohttp import web
from gidgethub import sansio
from gidgethub.httpx import GitHubAPI

from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.routes.checks import routes as check_routes
from bot.testbed.github.routes.pulls import routes as pull_routes
from bot.testbed.github.state import AppIdentity

REPO = "octo-org/hello"
FILES = {
    "README.md": "# hello\n",
    ".github/aios.yml": "workflow:\n  merge_method: squash\n",
    "src/app.py": "def add(a, b):\n    return a + b\n",
}
READY = """
mutation Ready($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) {
    pullRequest { isDraft number }
  }
}
"""


@pytest.fixture
def remotes(github_fake: FakeGitHub, tmp_path: Path) -> Path:
    """GITHUB_GIT_URL's directory: octo-org/hello.git is a bare repository with FILES on main."""
    root = tmp_path / "remotes"
    github_fake.create_git_repo(REPO, root, FILES)
    return root


@pytest.fixture
async def gh(github_fake: FakeGitHub) -> AsyncIterator[GitHubAPI]:
    """gidgethub acting as the App's installation on octo-org/hello."""
    async with httpx2.AsyncClient() as http:
        token = github_fake.issue_token()
        yield GitHubAPI(http, "aios-test", base_url=github_fake.url, oauth_token=token)


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Alice", "-c", "user.email=alice@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


async def refusal(fake: FakeGitHub, request: Any) -> tuple[int, Any]:
    """Run a request that must fail; its status and the body the fake answered."""
    with pytest.raises(gidgethub.HTTPException) as raised:
        await request
    return raised.value.status_code, fake.requests[-1].response


async def open_pull(gh: GitHubAPI, branch: str = "aios/1-add", **fields: Any) -> dict[str, Any]:
    data = {"title": "Add things", "head": branch, "base": "main", "body": "Closes #1", **fields}
    return await gh.post("/repos/octo-org/hello/pulls", data=data)


# -- git remotes ---------------------------------------------------------------------------------


async def test_bare_remote_takes_real_pushes_and_shows_in_the_api(
    github_fake: FakeGitHub, remotes: Path, tmp_path: Path, gh: GitHubAPI
) -> None:
    bare = remotes / "octo-org" / "hello.git"
    work = tmp_path / "clone"
    git("clone", "-q", f"file://{remotes}/octo-org/hello.git", str(work))
    assert (work / ".github" / "aios.yml").read_text() == FILES[".github/aios.yml"]
    (work / "NOTES.md").write_text("notes\n")
    git("checkout", "-q", "-b", "aios/1-notes", cwd=work)
    git("add", "NOTES.md", cwd=work)
    git("commit", "-q", "-m", "Add notes", cwd=work)
    git("push", "-q", "origin", "aios/1-notes", cwd=work)

    head = git("rev-parse", "HEAD", cwd=work)
    assert github_fake.branches(REPO) == {
        "main": git("rev-parse", "HEAD~1", cwd=work),
        "aios/1-notes": head,
    }
    assert github_fake.commits(REPO, "aios/1-notes")[0] == (
        head,
        "Add notes",
        "Alice <alice@example.com>",
    )
    assert [c.message for c in github_fake.commits(REPO, "main")] == ["Initial commit"]
    assert (await gh.getitem("/repos/octo-org/hello"))["clone_url"] == bare.resolve().as_uri()
    with pytest.raises(ValueError, match="not a bare git repository"):
        github_fake.attach_git(REPO, tmp_path)
    with pytest.raises(subprocess.CalledProcessError):
        git("ls-remote", github_fake.url + "/octo-org/hello.git")
    [hint] = github_fake.forget_violations()
    assert hint.startswith("GET /octo-org/hello.git/info/refs: git over HTTP is not served")


# -- pull requests -------------------------------------------------------------------------------


async def test_pull_request_is_an_issue_with_git_facts(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    issue = github_fake.add_issue(REPO, "Add subtraction")
    sha = github_fake.push_as("alice", REPO, "aios/1-add", {"src/app.py": "def sub(): ...\n"})
    created = await open_pull(gh, "octo-org:aios/1-add", draft=True)
    assert created["number"] == issue.number + 1  # one number sequence for issues and PRs
    assert (created["head"]["ref"], created["head"]["sha"], created["base"]["ref"]) == (
        "aios/1-add",
        sha,
        "main",
    )
    assert created["base"]["sha"] == github_fake.branches(REPO)["main"]
    assert (created["user"]["login"], created["draft"], created["mergeable"]) == (
        "aios[bot]",
        True,
        True,
    )
    assert (created["commits"], created["changed_files"], created["mergeable_state"]) == (
        1,
        1,
        "draft",
    )
    assert created["html_url"] == f"https://github.com/{REPO}/pull/{created['number']}"
    assert created["node_id"] and created["state"] == "open"

    as_issue = await gh.getitem(f"/repos/octo-org/hello/issues/{created['number']}")
    assert as_issue["pull_request"]["url"] == created["url"]
    await gh.post(f"{as_issue['url']}/labels", data={"labels": ["aios"]})
    await gh.post(f"{as_issue['url']}/comments", data={"body": "🤖 progress"})
    fetched = await gh.getitem(created["url"])
    assert ([label["name"] for label in fetched["labels"]], fetched["comments"]) == (["aios"], 1)
    [pull] = github_fake.pulls(REPO)
    assert (pull.number, pull.title, pull.head, pull.draft, pull.user) == (
        created["number"],
        "Add things",
        "aios/1-add",
        True,
        "aios[bot]",
    )


async def test_pull_request_head_follows_new_pushes(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
    created = await open_pull(gh)
    newer = github_fake.push_as("alice", REPO, "aios/1-add", {"b.txt": "b\n"}, message="More")
    fetched = await gh.getitem(created["url"])
    assert (fetched["head"]["sha"], fetched["commits"], fetched["changed_files"]) == (newer, 2, 2)
    listed = await gh.getitem("/repos/octo-org/hello/pulls")
    assert [p["head"]["sha"] for p in listed] == [newer]
    github_fake.push_as("bob", REPO, "main", {"a.txt": "conflict\n"})
    conflicted = await gh.getitem(created["url"])
    assert (conflicted["mergeable"], conflicted["mergeable_state"]) == (False, "dirty")


async def test_pull_request_creation_refusals_match_github(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    status, body = await refusal(github_fake, open_pull(gh, "aios/missing"))
    assert (status, body["errors"]) == (
        422,
        [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
    )
    github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
    status, body = await refusal(github_fake, open_pull(gh, base="nope"))
    assert (status, body["errors"][0]["field"]) == (422, "base")
    status, body = await refusal(github_fake, open_pull(gh, "someone-else:aios/1-add"))
    assert (status, body["errors"][0]["field"]) == (422, "head")
    await open_pull(gh)
    status, body = await refusal(github_fake, open_pull(gh))
    assert (status, body["errors"]) == (
        422,
        [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for octo-org:aios/1-add.",
            }
        ],
    )
    github_fake.git(REPO).git("update-ref", "refs/heads/aios/none", "main")
    status, body = await refusal(github_fake, open_pull(gh, "aios/none"))
    assert body["errors"][0]["message"] == "No commits between main and aios/none"
    assert len(github_fake.pulls(REPO)) == 1


async def test_list_filters_like_github(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    for branch in ("aios/1-a", "aios/2-b", "aios/3-c"):
        github_fake.push_as("alice", REPO, branch, {f"{branch}.txt": "x\n"})
        await open_pull(gh, branch)
    await gh.patch("/repos/octo-org/hello/pulls/3", data={"state": "closed"})

    async def numbers(query: str) -> list[int]:
        return [p["number"] async for p in gh.getiter(f"/repos/octo-org/hello/pulls?{query}")]

    assert await numbers("") == [2, 1]
    assert await numbers("state=all&per_page=1") == [3, 2, 1]
    assert await numbers("head=octo-org:aios/2-b") == [2]
    assert await numbers("head=aios/2-b") == [2, 1]  # no owner: GitHub ignores the filter
    assert await numbers("head=someone:aios/2-b") == []
    assert await numbers("state=closed") == [3]
    assert await numbers("base=develop") == []
    assert await numbers("state=all&sort=created&direction=asc") == [1, 2, 3]
    assert len(github_fake.calls("GET", r"/repos/octo-org/hello/pulls")) == 10  # 3 pages


async def test_update_and_reopen(github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI) -> None:
    github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
    github_fake.push_as("alice", REPO, "develop", {"d.txt": "d\n"})
    url = (await open_pull(gh))["url"]
    updated = await gh.patch(url, data={"title": "New", "body": "B", "base": "develop"})
    assert (updated["title"], updated["body"], updated["base"]["ref"]) == ("New", "B", "develop")
    closed = await gh.patch(url, data={"state": "closed"})
    assert (closed["state"], closed["closed_at"] is not None) == ("closed", True)
    assert (await gh.patch(url, data={"state": "open"}))["state"] == "open"
    status, body = await refusal(github_fake, gh.patch(url, data={"base": "gone"}))
    assert (status, body["errors"][0]["field"]) == (422, "base")


async def test_request_reviewers(github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI) -> None:
    github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
    url = (await open_pull(gh))["url"]
    requested = await gh.post(f"{url}/requested_reviewers", data={"reviewers": ["alice"]})
    assert [u["login"] for u in requested["requested_reviewers"]] == ["alice"]
    status, body = await refusal(
        github_fake, gh.post(f"{url}/requested_reviewers", data={"reviewers": ["aios[bot]"]})
    )
    assert (status, body["message"]) == (
        422,
        "Review cannot be requested from pull request author.",
    )
    status, body = await refusal(
        github_fake, gh.post(f"{url}/requested_reviewers", data={"reviewers": ["mallory"]})
    )
    assert status == 422 and body["message"].startswith("Reviews may only be requested from")
    assert github_fake.pulls(REPO)[0].requested_reviewers == ["alice"]
    status, _ = await refusal(
        github_fake, gh.post(f"{url}/requested_reviewers", data={"team_reviewers": ["core"]})
    )
    assert status == 501
    assert github_fake.forget_violations() == [
        "POST /repos/octo-org/hello/pulls/1/requested_reviewers: "
        "fake does not implement team review requests (`team_reviewers`)"
    ]


async def test_list_files_reports_a_three_dot_diff(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    github_fake.push_as(
        "alice", REPO, "aios/1-add", {"src/app.py": "def add(a, b):\n    return b + a\n",
                                      "README.md": None, "new.txt": "n\n"}
    )  # fmt: skip
    github_fake.push_as("bob", REPO, "main", {"unrelated.txt": "u\n"})  # not in the PR's diff
    url = (await open_pull(gh))["url"]
    files = {f["filename"]: f async for f in gh.getiter(f"{url}/files?per_page=2")}
    assert {name: f["status"] for name, f in files.items()} == {
        "README.md": "removed",
        "new.txt": "added",
        "src/app.py": "modified",
    }
    app = files["src/app.py"]
    assert (app["additions"], app["deletions"], app["changes"]) == (1, 1, 2)
    assert app["patch"] == "@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b\n+    return b + a"
    assert app["sha"] == github_fake.git(REPO).entry("aios/1-add", "src/app.py").sha


async def test_merge_like_github(github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI) -> None:
    first = github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"}, message="Add a")
    github_fake.push_as("alice", REPO, "aios/2-x", {"a.txt": "theirs\n"})  # will conflict
    pull = await open_pull(gh, draft=True)
    merge = f"{pull['url']}/merge"
    status, body = await refusal(github_fake, gh.put(merge, data={"merge_method": "squash"}))
    assert (status, body["message"]) == (405, "Pull Request is still a draft")
    await gh.patch(pull["url"], data={"title": "Add a file"})
    github_fake.pulls(REPO)[0].draft = False  # as the GraphQL mutation would
    status, body = await refusal(github_fake, gh.put(merge, data={"sha": "0" * 40}))
    assert (status, body["message"]) == (
        409,
        "Head branch was modified. Review and try the merge again.",
    )
    merged = await gh.put(merge, data={"merge_method": "squash", "sha": first})
    main = github_fake.commits(REPO, "main")
    assert (merged["merged"], merged["sha"]) == (True, main[0].sha)
    assert main[0].message == "Add a file (#1)\n\n* Add a"
    assert main[0].author.startswith("aios[bot] <")
    assert github_fake.git(REPO).read("main", "a.txt") == b"a\n"
    after = await gh.getitem(pull["url"])
    assert (after["state"], after["merged"], after["merged_by"]["login"]) == (
        "closed",
        True,
        "aios[bot]",
    )
    status, _ = await refusal(github_fake, gh.put(merge, data={}))
    assert status == 405

    conflicting = await open_pull(gh, "aios/2-x")
    github_fake.push_as("bob", REPO, "aios/3-y", {"b.txt": "b\n"})
    plain = await open_pull(gh, "aios/3-y")
    status, body = await refusal(github_fake, gh.put(f"{conflicting['url']}/merge", data={}))
    assert (status, body["message"]) == (405, "Pull Request is not mergeable")
    merged = await gh.put(f"{plain['url']}/merge", data={"merge_method": "merge"})
    tip = github_fake.commits(REPO, "main")[0]
    assert tip.message == "Merge pull request #3 from octo-org/aios/3-y\n\nAdd things"
    assert github_fake.git(REPO).git("rev-list", "--parents", "-n1", tip.sha).split()[1:] == [
        main[0].sha.encode(),
        github_fake.branches(REPO)["aios/3-y"].encode(),
    ]
    assert github_fake.env()["GITHUB_GIT_URL"] == remotes.resolve().as_uri()


# -- GraphQL -------------------------------------------------------------------------------------


async def test_graphql_marks_a_draft_ready_for_review(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
    created = await open_pull(gh, draft=True)
    endpoint = github_fake.url + "/graphql"
    data = await gh.graphql(READY, endpoint=endpoint, id=created["node_id"])
    assert data == {
        "markPullRequestReadyForReview": {
            "pullRequest": {"isDraft": False, "number": created["number"]}
        }
    }
    assert github_fake.pulls(REPO)[0].draft is False
    assert (await gh.getitem(created["url"]))["draft"] is False
    [call] = github_fake.calls("POST", "/graphql")
    assert (call.status, call.auth) == (200, "installation:1")

    with pytest.raises(gidgethub.QueryError, match="Could not resolve to a node"):
        await gh.graphql(READY, endpoint=endpoint, id="PR_nope")
    assert github_fake.violations == []

    with pytest.raises(gidgethub.QueryError, match="fake does not implement GraphQL"):
        await gh.graphql("query { viewer { login } }", endpoint=endpoint)
    assert github_fake.forget_violations() == [
        "POST /graphql: fake does not implement GraphQL: query {viewer}"
    ]
    with pytest.raises(gidgethub.QueryError):
        await gh.graphql(READY.replace("number", "mergeable"), endpoint=endpoint, id="x")
    assert github_fake.forget_violations() == [
        "POST /graphql: fake does not implement GraphQL: PullRequest.mergeable"
    ]
    async with httpx2.AsyncClient() as http:
        anonymous = GitHubAPI(http, "x", base_url=github_fake.url)
        with pytest.raises(gidgethub.GraphQLAuthorizationFailure):
            await anonymous.graphql(READY, endpoint=endpoint, id=created["node_id"])


async def test_graphql_lives_beside_the_ghes_api_prefix(
    openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity, tmp_path: Path
) -> None:
    with FakeGitHub(openapi_checker, app=github_app_identity, prefix="/api/v3") as fake:
        fake.add_installation(1, "octo-org", [REPO])
        fake.create_git_repo(REPO, tmp_path, {"a.txt": "a\n"})
        fake.push_as("alice", REPO, "topic", {"b.txt": "b\n"})
        async with httpx2.AsyncClient() as http:
            gh = GitHubAPI(http, "t", base_url=fake.url, oauth_token=fake.issue_token())
            pull = await open_pull(gh, "topic", draft=True)
            origin = fake.url.removesuffix("/v3")
            data = await gh.graphql(READY, endpoint=origin + "/graphql", id=pull["node_id"])
        assert data["markPullRequestReadyForReview"]["pullRequest"]["isDraft"] is False
        assert fake.violations == []


# -- check runs and contents ---------------------------------------------------------------------


async def test_check_run_lifecycle(github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI) -> None:
    sha = github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
    pull = await open_pull(gh)
    run = await gh.post(
        "/repos/octo-org/hello/check-runs",
        data={"name": "AIOS", "head_sha": sha, "status": "in_progress", "external_id": "item-1",
              "output": {"title": "Implementing", "summary": "Bea is editing"}},
    )  # fmt: skip
    assert (run["status"], run["conclusion"], run["app"]["slug"]) == ("in_progress", None, "aios")
    assert [p["number"] for p in run["pull_requests"]] == [pull["number"]]
    done = await gh.patch(
        run["url"],
        data={"conclusion": "success", "output": {"title": "Done", "summary": "All good",
                                                   "text": "details"}},
    )  # fmt: skip
    assert (done["status"], done["conclusion"], done["output"]["text"]) == (
        "completed",
        "success",
        "details",
    )
    assert done["completed_at"] is not None
    assert (await gh.getitem(run["url"]))["output"]["summary"] == "All good"

    await gh.post("/repos/octo-org/hello/check-runs", data={"name": "lint", "head_sha": sha})
    base = "/repos/octo-org/hello/commits/{ref}/check-runs"
    by_branch = await gh.getitem(base, url_vars={"ref": "aios/1-add"})
    assert (by_branch["total_count"], [r["name"] for r in by_branch["check_runs"]]) == (
        2,
        ["lint", "AIOS"],
    )
    named = await gh.getitem(f"{base}?check_name=AIOS&app_id={github_fake.app_id}", {"ref": sha})
    assert [r["id"] for r in named["check_runs"]] == [run["id"]]
    assert (await gh.getitem(base, url_vars={"ref": "main"}))["total_count"] == 0
    assert [r.name for r in github_fake.check_runs(REPO)] == ["AIOS", "lint"]
    assert github_fake.check_runs(REPO)[0].external_id == "item-1"


async def test_check_run_refusals(github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI) -> None:
    sha = github_fake.branches(REPO)["main"]
    create = "/repos/octo-org/hello/check-runs"
    status, body = await refusal(
        github_fake, gh.post(create, data={"name": "x", "head_sha": "f" * 40})
    )
    assert (status, body["message"]) == (422, f"No commit found for SHA: {'f' * 40}")
    status, body = await refusal(
        github_fake, gh.post(create, data={"name": "x", "head_sha": sha, "status": "completed"})
    )
    assert (status, body["message"]) == (422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
    too_long = {"title": "t", "summary": "x" * 65536}
    status, _ = await refusal(
        github_fake, gh.post(create, data={"name": "x", "head_sha": sha, "output": too_long})
    )
    assert status == 422
    assert len(github_fake.forget_violations(r"\['output'\]\['summary'\]: 'xxx")) == 1
    run = await gh.post(create, data={"name": "x", "head_sha": sha})
    status, _ = await refusal(github_fake, gh.patch(run["url"], data={"status": "completed"}))
    assert status == 422 and len(github_fake.forget_violations("check-runs")) == 1
    assert [r.status for r in github_fake.check_runs(REPO)] == ["queued"]


async def test_contents_come_from_the_bare_repository(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    config = await gh.getitem("/repos/octo-org/hello/contents/.github/aios.yml")
    assert (config["type"], config["encoding"], config["path"]) == (
        "file",
        "base64",
        ".github/aios.yml",
    )
    assert base64.b64decode(config["content"]).decode() == FILES[".github/aios.yml"]
    assert config["sha"] == github_fake.git(REPO).entry("main", ".github/aios.yml").sha
    github_fake.push_as("alice", REPO, "topic", {".github/aios.yml": "budgets: {}\n"})
    on_topic = await gh.getitem("/repos/octo-org/hello/contents/.github/aios.yml?ref=topic")
    assert base64.b64decode(on_topic["content"]) == b"budgets: {}\n"
    listing = await gh.getitem("/repos/octo-org/hello/contents/src")
    assert [(e["type"], e["path"]) for e in listing] == [("file", "src/app.py")]
    for path in ("contents/missing.txt", "contents/README.md?ref=nope"):
        status, _ = await refusal(github_fake, gh.getitem(f"/repos/octo-org/hello/{path}"))
        assert status == 404
    github_fake.add_repo("octo-org/empty")
    github_fake.state.installations[1].repos.append("octo-org/empty")
    status, body = await refusal(github_fake, gh.getitem("/repos/octo-org/empty/contents/x"))
    assert (status, body["message"]) == (404, "This repository is empty.")


# -- people and their webhooks -------------------------------------------------------------------


def test_people_comment_edit_and_label_with_webhooks(
    github_fake: FakeGitHub, received: list[sansio.Event]
) -> None:
    issue = github_fake.add_issue(REPO, "Paginate users")
    plan = github_fake.add_comment(REPO, issue.number, "- [ ] Approve this plan", user="aios[bot]")
    edited = github_fake.edit_comment_as("alice", plan.id, "- [x] Approve this plan")
    comment = github_fake.comment_as("alice", REPO, issue.number, "/aios approve")
    labelled = github_fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    github_fake.comment_as("bob", REPO, issue.number, "quiet", deliver=False)

    assert edited.body == "- [x] Approve this plan" and labelled.labels == ["aios:backend"]
    assert [(e.event, e.data["action"]) for e in received] == [
        ("issue_comment", "edited"),
        ("issue_comment", "created"),
        ("issues", "labeled"),
    ]
    edit, create, label = (e.data for e in received)
    assert edit["changes"] == {"body": {"from": "- [ ] Approve this plan"}}
    assert (edit["comment"]["id"], edit["comment"]["user"]["login"]) == (plan.id, "aios[bot]")
    assert (edit["sender"]["login"], edit["comment"]["body"]) == ("alice", edited.body)
    assert (create["comment"]["id"], create["comment"]["body"]) == (comment.id, "/aios approve")
    assert create["issue"]["number"] == issue.number and "pull_request" not in create["issue"]
    assert (label["label"]["name"], [x["name"] for x in label["issue"]["labels"]]) == (
        "aios:backend",
        ["aios:backend"],
    )
    for payload in (edit, create, label):
        assert payload["installation"]["id"] == 1
        assert payload["repository"]["full_name"] == REPO
        assert payload["repository"]["id"] == github_fake.repo(REPO).id
    assert [c.body for c in github_fake.comments(REPO, issue.number)][-1] == "quiet"
    assert len(github_fake.state.deliveries) == 3


async def test_async_people_deliver_to_a_receiver_on_the_callers_loop(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    seen: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        # The receiver calls back into the fake, as a handler would, before it answers.
        data = await request.json()
        await gh.getitem(data["repository"]["url"])
        seen.append(data)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        host, port = runner.addresses[0][:2]
        github_fake.webhook_url = f"http://{host}:{port}/hook"
        github_fake.push_as("alice", REPO, "aios/1-add", {"a.txt": "a\n"})
        pull = await open_pull(gh)
        await github_fake.acomment_as("alice", REPO, pull["number"], "/aios review")
        comment_id = seen[0]["comment"]["id"]
        await github_fake.aedit_comment_as("alice", comment_id, "/aios fix tests")
        await github_fake.alabel_issue_as("alice", REPO, pull["number"], "aios:qa")
    finally:
        await runner.cleanup()
    assert [d["action"] for d in seen] == ["created", "edited", "labeled"]
    assert seen[0]["issue"]["pull_request"]["url"] == pull["url"]
    labelled = seen[2]  # a label on a pull request is a `pull_request` event
    assert (labelled["number"], labelled["label"]["name"]) == (pull["number"], "aios:qa")
    assert labelled["pull_request"]["head"]["sha"] == pull["head"]["sha"]
    assert [x["name"] for x in labelled["pull_request"]["labels"]] == ["aios:qa"]
    assert [d.event for d in github_fake.state.deliveries] == [
        "issue_comment",
        "issue_comment",
        "pull_request",
    ]
    assert [d.status_code for d in github_fake.state.deliveries] == [200, 200, 200]


# -- schemas -------------------------------------------------------------------------------------


async def test_new_routes_answer_in_the_documented_shapes(
    github_fake: FakeGitHub, remotes: Path, gh: GitHubAPI
) -> None:
    sha = github_fake.push_as("alice", REPO, "aios/1-add", {"src/app.py": "x = 1\n"})
    pull = await open_pull(gh, draft=True)
    url = pull["url"]
    await gh.getitem("/repos/octo-org/hello/pulls?state=all")
    await gh.getitem(url)
    await gh.patch(url, data={"body": "updated"})
    await gh.post(f"{url}/requested_reviewers", data={"reviewers": ["alice"]})
    await gh.getitem(f"{url}/files")
    (commit,) = await gh.getitem(f"{url}/commits")
    assert commit["sha"] == sha and commit["commit"]["author"]["name"] == "alice"
    run = await gh.post(
        "/repos/octo-org/hello/check-runs",
        data={"name": "AIOS", "head_sha": sha, "output": {"title": "t", "summary": "s"}},
    )
    await gh.patch(run["url"], data={"status": "completed", "conclusion": "failure"})
    await gh.getitem(run["url"])
    await gh.getitem(f"/repos/octo-org/hello/commits/{sha}/check-runs")
    await gh.getitem("/repos/octo-org/hello/contents/README.md")
    await gh.getitem("/repos/octo-org/hello/contents/.github")
    await gh.getitem(f"/repos/octo-org/hello/issues/{pull['number']}")
    github_fake.pulls(REPO)[0].draft = False
    await gh.put(f"{url}/merge", data={"merge_method": "squash"})

    exercised = {r.operation_id for r in github_fake.requests}
    assert {*pull_routes.routes, *check_routes.routes} <= exercised
    assert github_fake.response_mismatches() == []
