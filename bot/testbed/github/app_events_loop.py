"""Webhook payloads of the pull-request loop: reviews, review comments and CI results.

Each starts from GitHub's official example and is re-aimed at the fake's repository, pull
request, people and installation, with the ids the fake's REST API reports.
"""

from __future__ import annotations

from typing import Any

from bot.testbed import webhooks
from bot.testbed.github.app_events import aim
from bot.testbed.github.diff import DiffCache
from bot.testbed.github.facade import Fake
from bot.testbed.github.git import BareRepo
from bot.testbed.github.rest_json import pulls as github_json_pulls
from bot.testbed.github.rest_json import reviews as github_json_reviews
from bot.testbed.github.rest_json.renderer import node_id
from bot.testbed.github.reviews import where
from bot.testbed.github.routes.ci import pulls_at, suite_json
from bot.testbed.github.routes.pulls import refresh
from bot.testbed.github.state import Repo


def _pull(fake: Fake, example: dict[str, Any], repo: Repo, number: int) -> dict[str, Any]:
    pr = repo.pulls.get(number)
    if pr is None:
        raise KeyError(f"{repo.full_name} has no pull request #{number}")
    refresh(repo, pr)
    return {**example, **github_json_pulls.pull(fake.renderer(), repo, pr)}


def _cache(repo: Repo) -> DiffCache | None:
    return DiffCache(BareRepo(repo.git_dir)) if repo.git_dir is not None else None


def pull_request_review(
    fake: Fake, full_name: str, review_id: int, *, installation_id: int | None = None
) -> dict[str, Any]:
    """`pull_request_review.submitted`: state in lower case and an empty body as null, as sent."""
    payload = webhooks.example("pull_request_review", "submitted")
    with fake.lock:
        repo = fake.repo(full_name)
        review = repo.reviews.get(review_id)
        if review is None:
            raise KeyError(f"{full_name} has no review {review_id}")
        shaped = github_json_reviews.review(fake.renderer(), repo, review)
        shaped.update(state=review.state.lower(), body=review.body or None)
        payload["review"] = {**payload["review"], **shaped}
        payload["pull_request"] = _pull(fake, payload["pull_request"], repo, review.number)
        payload["sender"] = fake.renderer().user(review.user)
        return aim(payload, fake, full_name, installation_id)


def pull_request_review_comment(
    fake: Fake, full_name: str, comment_id: int, *, installation_id: int | None = None
) -> dict[str, Any]:
    """`pull_request_review_comment.created` for an inline comment or a reply."""
    payload = webhooks.example("pull_request_review_comment", "created")
    with fake.lock:
        repo = fake.repo(full_name)
        comment = repo.review_comments.get(comment_id)
        if comment is None:
            raise KeyError(f"{full_name} has no review comment {comment_id}")
        payload["pull_request"] = _pull(fake, payload["pull_request"], repo, comment.number)
        place = where(_cache(repo), repo.pulls[comment.number], comment)
        shaped = github_json_reviews.review_comment(fake.renderer(), repo, comment, place)
        payload["comment"] = {**payload["comment"], **shaped}
        payload["sender"] = fake.renderer().user(comment.user)
        return aim(payload, fake, full_name, installation_id)


def check_run(
    fake: Fake,
    full_name: str,
    run_id: int,
    *,
    sender: str,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`check_run.completed` (another App's run: every App with checks:read receives it)."""
    payload = webhooks.example("check_run", "completed")
    render = fake.renderer()
    with fake.lock:
        repo = fake.repo(full_name)
        run = repo.check_runs[run_id]
        shaped = github_json_pulls.check_run(render, repo, run)
        shaped["check_suite"] = suite_json(render, repo, repo.check_suites[run.check_suite_id])
        payload["check_run"] = {**payload["check_run"], **shaped}
        payload["sender"] = render.user(sender)
        return aim(payload, fake, full_name, installation_id)


def check_suite(
    fake: Fake,
    full_name: str,
    suite_id: int,
    *,
    sender: str,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`check_suite.completed`, with `pull_requests` listing the open PRs at its commit."""
    payload = webhooks.example("check_suite", "completed")
    render = fake.renderer()
    with fake.lock:
        repo = fake.repo(full_name)
        shaped = suite_json(render, repo, repo.check_suites[suite_id])
        payload["check_suite"] = {**payload["check_suite"], **shaped}
        payload["sender"] = render.user(sender)
        return aim(payload, fake, full_name, installation_id)


def workflow_run(
    fake: Fake,
    full_name: str,
    suite_id: int,
    *,
    name: str,
    sender: str,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`workflow_run.completed` for the GitHub Actions workflow behind a check suite."""
    payload = webhooks.example("workflow_run", "completed")
    render = fake.renderer()
    with fake.lock:
        repo = fake.repo(full_name)
        suite = repo.check_suites[suite_id]
        shaped = suite_json(render, repo, suite)
        repo_url = render.repo_url(repo)
        run_url = f"{repo_url}/actions/runs/{suite.id}"
        workflow_id = suite.id + 1
        payload["workflow"] = {
            **payload["workflow"],
            "id": workflow_id,
            "name": name,
            "node_id": node_id("Workflow", workflow_id),
            "url": f"{repo_url}/actions/workflows/{workflow_id}",
            "html_url": f"{render.html}/{repo.full_name}/blob/{repo.default_branch}/"
            ".github/workflows/ci.yml",
        }
        payload["workflow_run"] = {
            **payload["workflow_run"],
            "id": suite.id,
            "node_id": node_id("WorkflowRun", suite.id),
            "name": name,
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "head_commit": shaped["head_commit"],
            "status": shaped["status"],
            "conclusion": shaped["conclusion"],
            "event": "pull_request",
            "check_suite_id": suite.id,
            "check_suite_node_id": shaped["node_id"],
            "check_suite_url": shaped["url"],
            "pull_requests": pulls_at(render, repo, suite.head_sha),
            "repository": render.repo(repo, full=False),
            "head_repository": render.repo(repo, full=False),
            "url": run_url,
            "html_url": f"{render.html}/{repo.full_name}/actions/runs/{suite.id}",
            "jobs_url": f"{run_url}/jobs",
            "logs_url": f"{run_url}/logs",
            "artifacts_url": f"{run_url}/artifacts",
            "cancel_url": f"{run_url}/cancel",
            "rerun_url": f"{run_url}/rerun",
            "workflow_id": workflow_id,
            "workflow_url": payload["workflow"]["url"],
            "created_at": suite.created_at,
            "updated_at": suite.updated_at,
            "run_started_at": suite.created_at,
        }
        payload["sender"] = render.user(sender)
        payload.pop("organization", None)
        return aim(payload, fake, full_name, installation_id)
