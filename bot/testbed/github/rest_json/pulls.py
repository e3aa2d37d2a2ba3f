"""Render pull requests, check runs, diff entries and contents as GitHub's REST API returns them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.testbed.github.git import FileChange, TreeEntry
from bot.testbed.github.rest_json.renderer import Renderer, node_id
from bot.testbed.github.rest_json.reviews import app_of
from bot.testbed.github.reviews import comments_of
from bot.testbed.github.state import CheckRun, PullRequest, Repo

BASE64_LINE = 60  # GitHub wraps `content` at 60 characters, each line ending in "\n"


@dataclass(frozen=True)
class PullFacts:
    """What only the git history can tell about a pull request (the full representation)."""

    commits: int
    additions: int
    deletions: int
    changed_files: int
    mergeable: bool
    checks: str = "clean"  # clean | unstable | blocked (required checks not green), see github_ci


def pull(
    render: Renderer, repo: Repo, pr: PullRequest, facts: PullFacts | None = None
) -> dict[str, Any]:
    """`pull-request` when `facts` are given, else `pull-request-simple` (lists, reviewers)."""
    api = f"{render.repo_url(repo)}/pulls/{pr.number}"
    html = f"{render.html}/{repo.full_name}/pull/{pr.number}"
    issue_api = f"{render.repo_url(repo)}/issues/{pr.number}"
    statuses = f"{render.repo_url(repo)}/statuses/{pr.head_sha}"
    issue = pr.issue
    labels = [repo.labels[n.lower()] for n in issue.labels if n.lower() in repo.labels]
    body: dict[str, Any] = {
        "url": api,
        "id": pr.id,
        "node_id": node_id("PullRequest", pr.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": f"{render.repo_url(repo)}/pulls/comments{{/number}}",
        "comments_url": f"{issue_api}/comments",
        "statuses_url": statuses,
        "number": pr.number,
        "state": issue.state,
        "locked": issue.locked,
        "title": issue.title,
        "user": render.user(issue.user),
        "body": issue.body,
        "labels": [render.label(repo, label) for label in labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": issue.created_at,
        "updated_at": issue.updated_at,
        "closed_at": issue.closed_at,
        "merged_at": pr.merged_at,
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": render.user(issue.assignees[0]) if issue.assignees else None,
        "assignees": [render.user(login) for login in issue.assignees],
        "requested_reviewers": [render.user(login) for login in pr.requested_reviewers],
        "requested_teams": [],
        "head": _end(render, repo, pr.head, pr.head_sha),
        "base": _end(render, repo, pr.base, pr.base_sha),
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "issue": {"href": issue_api},
            "comments": {"href": f"{issue_api}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": f"{render.repo_url(repo)}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": render.association(repo, issue.user),
        "auto_merge": None,
        "draft": pr.draft,
    }
    if facts is not None:
        comments = sum(
            1
            for c in render.state.comments.values()
            if c.repo == repo.full_name and c.issue_number == pr.number
        )
        body.update(
            merged=pr.merged_at is not None,
            mergeable=facts.mergeable,
            rebaseable=facts.mergeable,
            mergeable_state=_mergeable_state(pr, facts),
            merged_by=render.user(pr.merged_by) if pr.merged_by else None,
            comments=comments,
            review_comments=len(comments_of(repo, pr.number)),
            maintainer_can_modify=pr.maintainer_can_modify,
            commits=facts.commits,
            additions=facts.additions,
            deletions=facts.deletions,
            changed_files=facts.changed_files,
        )
    return body


def _mergeable_state(pr: PullRequest, facts: PullFacts) -> str:
    if pr.draft:
        return "draft"
    return facts.checks if facts.mergeable else "dirty"


def _end(render: Renderer, repo: Repo, branch: str, sha: str) -> dict[str, Any]:
    return {
        "label": f"{repo.owner}:{branch}",
        "ref": branch,
        "sha": sha,
        "user": render.user(repo.owner),
        "repo": render.repo(repo, full=False),
    }


def pull_minimal(render: Renderer, repo: Repo, pr: PullRequest) -> dict[str, Any]:
    """The `pull-request-minimal` shape check runs list their pull requests in."""
    ref = {"id": repo.id, "url": render.repo_url(repo), "name": repo.name}
    return {
        "id": pr.id,
        "number": pr.number,
        "url": f"{render.repo_url(repo)}/pulls/{pr.number}",
        "head": {"ref": pr.head, "sha": pr.head_sha, "repo": ref},
        "base": {"ref": pr.base, "sha": pr.base_sha, "repo": ref},
    }


def check_run(render: Renderer, repo: Repo, run: CheckRun) -> dict[str, Any]:
    url = f"{render.repo_url(repo)}/check-runs/{run.id}"
    app = app_of(render, run.app_id)
    details = run.details_url or (app or {}).get("external_url") or f"{render.html}"
    pulls = [
        pull_minimal(render, repo, pr)
        for pr in sorted(repo.pulls.values(), key=lambda p: p.number)
        if pr.state == "open" and pr.head_sha == run.head_sha
    ]
    return {
        "id": run.id,
        "head_sha": run.head_sha,
        "node_id": node_id("CheckRun", run.id),
        "external_id": run.external_id,
        "url": url,
        "html_url": f"{render.html}/{repo.full_name}/runs/{run.id}",
        "details_url": details,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": len(run.annotations),
            "annotations_url": f"{url}/annotations",
        },
        "name": run.name,
        "check_suite": {"id": run.check_suite_id},
        "app": app,
        "pull_requests": pulls,
    }


def diff_entry(
    render: Renderer, repo: Repo, head_sha: str, change: FileChange, blob_sha: str | None
) -> dict[str, Any]:
    path = quote(change.filename)
    body: dict[str, Any] = {
        "sha": blob_sha,
        "filename": change.filename,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": f"{render.html}/{repo.full_name}/blob/{head_sha}/{path}",
        "raw_url": f"{render.html}/{repo.full_name}/raw/{head_sha}/{path}",
        "contents_url": f"{render.repo_url(repo)}/contents/{path}?ref={head_sha}",
    }
    if change.patch:
        body["patch"] = change.patch
    if change.previous_filename is not None:
        body["previous_filename"] = change.previous_filename
    return body


def content(
    render: Renderer, repo: Repo, ref: str, entry: TreeEntry, data: bytes | None = None
) -> dict[str, Any]:
    """A contents entry; with `data`, the file itself (`content-file`, base64 like GitHub)."""
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[entry.type]
    path = quote(entry.path)
    self_url = f"{render.repo_url(repo)}/contents/{path}?ref={quote(ref, safe='')}"
    git_kind = "trees" if kind == "dir" else "blobs"
    git_url = f"{render.repo_url(repo)}/git/{git_kind}/{entry.sha}"
    html_url = f"{render.html}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
    body: dict[str, Any] = {
        "type": kind,
        "size": entry.size,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"{render.html}/{repo.full_name}/raw/{ref}/{path}"
        if kind == "file"
        else None,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }
    if data is not None:
        encoded = base64.b64encode(data).decode()
        lines = [encoded[i : i + BASE64_LINE] for i in range(0, len(encoded), BASE64_LINE)]
        body.update(encoding="base64", content="".join(f"{line}\n" for line in lines))
    return body
