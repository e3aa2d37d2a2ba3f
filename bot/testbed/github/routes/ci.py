"""Fake GitHub routes for CI results (suites, annotations, job logs, statuses), branches, refs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.testbed.github.ci import latest_statuses
from bot.testbed.github.rest_json import pulls as render_pulls
from bot.testbed.github.rest_json import reviews as render_ci
from bot.testbed.github.rest_json.renderer import Renderer
from bot.testbed.github.routes.checks import resolve_ref
from bot.testbed.github.routes.pulls import bare, refresh
from bot.testbed.github.routes.toolkit import (
    Call,
    HTTPError,
    Reply,
    RouteTable,
    not_found,
    paginate,
)
from bot.testbed.github.state import CheckSuite, Repo, iso

routes = RouteTable()


def pulls_at(render: Renderer, repo: Repo, sha: str) -> list[dict[str, Any]]:
    """The open pull requests whose head is `sha`, as check suites and runs list them."""
    for pr in repo.pulls.values():
        refresh(repo, pr)
    return [
        render_pulls.pull_minimal(render, repo, pr)
        for pr in sorted(repo.pulls.values(), key=lambda p: p.number)
        if pr.state == "open" and pr.head_sha == sha
    ]


def suite_json(render: Renderer, repo: Repo, suite: CheckSuite) -> dict[str, Any]:
    git = bare(repo)
    info = git.commit_info(suite.head_sha) if git is not None else None
    pulls = pulls_at(render, repo, suite.head_sha)
    return render_ci.check_suite(render, repo, suite, info, pulls)


@routes.op("checks/list-suites-for-ref")
def list_suites(call: Call) -> Reply:
    repo = call.repo()
    sha = resolve_ref(repo, call.params["ref"])
    app_id = call.query.get("app_id")
    name = call.query.get("check_name")
    suites = [
        suite
        for suite in sorted(repo.check_suites.values(), key=lambda s: s.id)
        if suite.head_sha == sha
        and (app_id is None or str(suite.app_id) == app_id)
        and (
            name is None
            or any(
                r.check_suite_id == suite.id and r.name == name for r in repo.check_runs.values()
            )
        )
    ]
    page = paginate(call, [suite_json(call.render, repo, suite) for suite in suites])
    return Reply(200, {"total_count": len(suites), "check_suites": page.body}, page.headers)


@routes.op("checks/list-annotations")
def list_annotations(call: Call) -> Reply:
    repo = call.repo()
    run = repo.check_runs.get(int(call.params["check_run_id"]))
    if run is None:
        raise not_found()
    shaped = [render_ci.annotation(call.render, repo, run, item) for item in run.annotations]
    return paginate(call, shaped)


@routes.op("actions/download-job-logs-for-workflow-run")
def download_job_log(call: Call) -> Reply:
    """302 to a signed link on the blob storage, as GitHub answers; 404 for a job without a log."""
    repo = call.repo()
    run = repo.check_runs.get(int(call.params["job_id"]))
    if run is None or run.log is None or run.log_storage is None:
        raise not_found()
    return Reply(302, None, {"Location": run.log_storage.link(run.id)})


@routes.op("repos/get-combined-status-for-ref")
def combined_status(call: Call) -> Reply:
    repo = call.repo()
    sha = _status_ref(repo, call.params["ref"])
    statuses = latest_statuses(repo, sha)
    body = render_ci.combined(call.render, repo, sha, statuses)
    page = paginate(call, body["statuses"])
    return Reply(200, {**body, "statuses": page.body}, page.headers)


@routes.op("repos/list-commit-statuses-for-ref")
def list_statuses(call: Call) -> Reply:
    repo = call.repo()
    sha = _status_ref(repo, call.params["ref"])
    statuses = [s for s in reversed(repo.statuses) if s.sha == sha]  # newest first
    return paginate(call, [render_ci.status(call.render, repo, s) for s in statuses])


def _status_ref(repo: Repo, ref: str) -> str:
    try:
        return resolve_ref(repo, ref)
    except HTTPError as exc:  # the status endpoints answer an unknown ref with 404
        raise not_found() from exc


@routes.op("repos/get-branch")
def get_branch(call: Call) -> Reply:
    repo = call.repo()
    git = bare(repo)
    name = call.params["branch"]
    info = git.commit_info(f"refs/heads/{name}") if git is not None else None
    if info is None:
        raise HTTPError(404, "Branch not found")
    return Reply(200, render_ci.branch(call.render, repo, name, info))


@routes.op("repos/list-commits")
def list_commits(call: Call) -> Reply:
    """Commits reachable from `sha` (a branch or commit; the default branch), newest first,
    committed after `since` when given."""
    repo = call.repo()
    git = bare(repo)
    if git is None:
        return paginate(call, [])
    ref = call.query.get("sha") or repo.default_branch
    start = git.rev_parse(f"refs/heads/{ref}") or git.rev_parse(ref)
    if start is None:
        raise HTTPError(404, "No commit found for SHA: " + ref)
    since = call.query.get("since")
    infos = [info for sha in git.log(start) if (info := git.commit_info(sha)) is not None]
    if since:
        cutoff = datetime.fromisoformat(since.replace("Z", "+00:00"))
        infos = [i for i in infos if datetime.fromisoformat(i.committer[2]) > cutoff]
    return paginate(call, [render_ci.commit(call.render, repo, info) for info in infos])


@routes.op("repos/get-branch-rules")
def get_branch_rules(call: Call) -> Reply:
    """The active rules of a branch: the fake models a ruleset's required status checks."""
    repo = call.repo()
    contexts = repo.ruleset_checks.get(call.params["branch"], [])
    rules = []
    if contexts:
        rules.append(
            {
                "type": "required_status_checks",
                "parameters": {
                    "required_status_checks": [{"context": c} for c in contexts],
                    "strict_required_status_checks_policy": False,
                },
                "ruleset_source_type": "Repository",
                "ruleset_source": repo.full_name,
                "ruleset_id": 1,
            }
        )
    return paginate(call, rules)


@routes.op("git/delete-ref")
def delete_ref(call: Call) -> Reply:
    """Deleting a branch closes the open pull requests that come from it or go into it."""
    repo = call.repo()
    git = bare(repo)
    ref = call.params["ref"].removeprefix("refs/")
    kind, _, name = ref.partition("/")
    if git is None:
        raise call.unsupported("git/delete-ref on a repository without a git remote")
    if kind != "heads":
        raise call.unsupported(f"git/delete-ref for refs other than branches ({ref})")
    if name == repo.default_branch:
        raise HTTPError(422, "Cannot delete the default branch")
    if not git.delete_branch(name):
        raise HTTPError(422, "Reference does not exist")
    now = iso()
    for pr in repo.pulls.values():
        if pr.state == "open" and name in (pr.head, pr.base):
            pr.issue.state, pr.issue.closed_at, pr.issue.closed_by = "closed", now, call.actor
            pr.issue.updated_at = now
    return Reply(204)
