"""Render reviews, review comments, check suites, statuses and branches as GitHub's REST JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.testbed.github.ci import combined_state, suite_runs, suite_status
from bot.testbed.github.git import CommitInfo
from bot.testbed.github.rest_json.renderer import Renderer, node_id
from bot.testbed.github.reviews import Where
from bot.testbed.github.state import (
    CheckRun,
    CheckSuite,
    CommitStatus,
    OtherApp,
    Repo,
    Review,
    ReviewComment,
    iso,
)


def review(render: Renderer, repo: Repo, item: Review) -> dict[str, Any]:
    """`pull-request-review`; a PENDING review has no `submitted_at`, as documented."""
    pull = f"{render.repo_url(repo)}/pulls/{item.number}"
    html = f"{render.html}/{repo.full_name}/pull/{item.number}#pullrequestreview-{item.id}"
    body: dict[str, Any] = {
        "id": item.id,
        "node_id": node_id("PullRequestReview", item.id),
        "user": render.user(item.user),
        "body": item.body,
        "state": item.state,
        "html_url": html,
        "pull_request_url": pull,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull}},
        "commit_id": item.commit_id,
        "author_association": render.association(repo, item.user),
    }
    if item.submitted_at is not None:
        body["submitted_at"] = item.submitted_at
    return body


def review_comment(
    render: Renderer, repo: Repo, comment: ReviewComment, where: Where
) -> dict[str, Any]:
    """`pull-request-review-comment`, placed on the head as `where` says (null when outdated)."""
    url = f"{render.repo_url(repo)}/pulls/comments/{comment.id}"
    pull = f"{render.repo_url(repo)}/pulls/{comment.number}"
    html = f"{render.html}/{repo.full_name}/pull/{comment.number}#discussion_r{comment.id}"
    body: dict[str, Any] = {
        "url": url,
        "pull_request_review_id": comment.review_id,
        "id": comment.id,
        "node_id": node_id("PullRequestReviewComment", comment.id),
        "diff_hunk": comment.diff_hunk,
        "path": comment.path,
        "position": where.position,
        "original_position": comment.original_position,
        "commit_id": where.commit_id,
        "original_commit_id": comment.original_commit_id,
        "user": render.user(comment.user),
        "body": comment.body,
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "html_url": html,
        "pull_request_url": pull,
        "author_association": render.association(repo, comment.user),
        "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pull}},
        "reactions": render.reactions_rollup(url, []),
        "start_line": where.start_line,
        "original_start_line": comment.original_start_line,
        "start_side": comment.start_side,
        "line": where.line,
        "original_line": comment.original_line,
        "side": comment.side,
        "subject_type": "line",
    }
    if comment.in_reply_to_id is not None:
        body["in_reply_to_id"] = comment.in_reply_to_id
    return body


def other_integration(render: Renderer, app: OtherApp) -> dict[str, Any]:
    """Another App (GitHub Actions…) as `integration`, as check runs and suites name it."""
    return {
        "id": app.app_id,
        "slug": app.slug,
        "node_id": node_id("Integration", app.app_id),
        "client_id": f"Iv1.{app.app_id:016x}",
        "owner": render.user(app.owner),
        "name": app.name,
        "description": None,
        "external_url": f"{render.html}/apps/{app.slug}",
        "html_url": f"{render.html}/apps/{app.slug}",
        "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2024-04-10T20:33:16Z",
        "permissions": {"checks": "write", "contents": "write", "pull_requests": "write"},
        "events": ["check_run", "check_suite", "pull_request", "push", "workflow_run"],
    }


def app_of(render: Renderer, app_id: int | None) -> dict[str, Any] | None:
    if app_id == render.state.app.app_id:
        return render.integration()
    other = render.state.other_apps.get(app_id) if app_id is not None else None
    return other_integration(render, other) if other is not None else None


def simple_commit(info: CommitInfo) -> dict[str, Any]:
    return {
        "id": info.sha,
        "tree_id": info.tree,
        "message": info.message,
        "timestamp": _utc(info.committer[2]),
        "author": {"name": info.author[0], "email": info.author[1]},
        "committer": {"name": info.committer[0], "email": info.committer[1]},
    }


def check_suite(
    render: Renderer, repo: Repo, suite: CheckSuite, info: CommitInfo | None, pulls: list[Any]
) -> dict[str, Any]:
    """`check-suite`; `pulls` are the pull-request-minimal entries for its commit."""
    url = f"{render.repo_url(repo)}/check-suites/{suite.id}"
    status, conclusion = suite_status(repo, suite)
    before = info.parents[0] if info is not None and info.parents else "0" * 40
    return {
        "id": suite.id,
        "node_id": node_id("CheckSuite", suite.id),
        "head_branch": suite.head_branch,
        "head_sha": suite.head_sha,
        "status": status,
        "conclusion": conclusion,
        "url": url,
        "before": before,
        "after": suite.head_sha,
        "pull_requests": pulls,
        "app": app_of(render, suite.app_id),
        "repository": render.repo(repo, full=False),
        "created_at": suite.created_at,
        "updated_at": suite.updated_at,
        "head_commit": simple_commit(info) if info is not None else None,
        "latest_check_runs_count": len(suite_runs(repo, suite)),
        "check_runs_url": f"{url}/check-runs",
        "rerequestable": True,
        "runs_rerequestable": True,
    }


def annotation(render: Renderer, repo: Repo, run: CheckRun, item: dict[str, Any]) -> dict[str, Any]:
    """`check-annotation`, from an annotation as the check run's output gave it."""
    path = str(item.get("path", ""))
    return {
        "path": path,
        "start_line": item.get("start_line"),
        "end_line": item.get("end_line", item.get("start_line")),
        "start_column": item.get("start_column"),
        "end_column": item.get("end_column"),
        "annotation_level": item.get("annotation_level"),
        "title": item.get("title"),
        "message": item.get("message"),
        "raw_details": item.get("raw_details"),
        "blob_href": f"{render.html}/{repo.full_name}/blob/{run.head_sha}/{quote(path)}",
    }


def status(render: Renderer, repo: Repo, item: CommitStatus) -> dict[str, Any]:
    creator = render.user(item.creator)
    return {
        "url": f"{render.repo_url(repo)}/statuses/{item.sha}",
        "avatar_url": creator["avatar_url"],
        "id": item.id,
        "node_id": node_id("StatusContext", item.id),
        "state": item.state,
        "description": item.description,
        "target_url": item.target_url,
        "context": item.context,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "creator": creator,
    }


def combined(render: Renderer, repo: Repo, sha: str, items: list[CommitStatus]) -> dict[str, Any]:
    """`combined-commit-status`: `pending` with no statuses at all, as GitHub answers."""
    shaped = [status(render, repo, item) for item in items]
    for entry in shaped:
        del entry["creator"]  # the combined list leaves the creator out
    return {
        "state": combined_state(items),
        "statuses": shaped,
        "sha": sha,
        "total_count": len(items),
        "repository": render.repo(repo, full=False),
        "commit_url": f"{render.repo_url(repo)}/commits/{sha}",
        "url": f"{render.repo_url(repo)}/commits/{sha}/status",
    }


def commit(render: Renderer, repo: Repo, info: CommitInfo) -> dict[str, Any]:
    """`commit` without stats and files (as a branch embeds its tip)."""
    url = f"{render.repo_url(repo)}/commits/{info.sha}"
    git_url = f"{render.repo_url(repo)}/git/commits/{info.sha}"

    def person(who: tuple[str, str, str]) -> dict[str, Any]:
        return {"name": who[0], "email": who[1], "date": _utc(who[2])}

    return {
        "sha": info.sha,
        "node_id": node_id("Commit", int(info.sha[:12], 16)),
        "commit": {
            "author": person(info.author),
            "committer": person(info.committer),
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{render.repo_url(repo)}/git/trees/{info.tree}"},
            "url": git_url,
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "url": url,
        "html_url": f"{render.html}/{repo.full_name}/commit/{info.sha}",
        "comments_url": f"{url}/comments",
        "author": None,  # no GitHub account is linked to the fake's commit e-mails
        "committer": None,
        "parents": [
            {
                "sha": parent,
                "url": f"{render.repo_url(repo)}/commits/{parent}",
                "html_url": f"{render.html}/{repo.full_name}/commit/{parent}",
            }
            for parent in info.parents
        ],
    }


def branch(render: Renderer, repo: Repo, name: str, info: CommitInfo) -> dict[str, Any]:
    """`branch-with-protection` as a token without admin rights sees it."""
    url = f"{render.repo_url(repo)}/branches/{quote(name)}"
    contexts = repo.required_checks.get(name, [])
    checks = {
        "contexts": list(contexts),
        "checks": [{"context": c, "app_id": None} for c in contexts],
    }
    if contexts:
        protection = {
            "enabled": True,
            "required_status_checks": {"enforcement_level": "non_admins", **checks},
        }
    else:
        protection = {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", **checks},
        }
    return {
        "name": name,
        "commit": commit(render, repo, info),
        "_links": {"self": url, "html": f"{render.html}/{repo.full_name}/tree/{name}"},
        "protected": bool(contexts),
        "protection": protection,
        "protection_url": f"{url}/protection",
    }


def _utc(stamp: str) -> str:
    """git's ISO 8601 with an offset -> GitHub's `…Z` in UTC."""
    try:
        return iso(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return stamp
