"""Fake GitHub routes for check runs and repository contents (read from the bare repository)."""

from __future__ import annotations

import re
from typing import Any

from bot.testbed.github.ci import latest_runs, suite_for
from bot.testbed.github.rest_json import pulls as render_pulls
from bot.testbed.github.routes.pulls import bare, refresh
from bot.testbed.github.routes.toolkit import (
    Call,
    HTTPError,
    Reply,
    RouteTable,
    not_found,
    paginate,
)
from bot.testbed.github.state import CheckRun, Repo, iso

routes = RouteTable()

FULL_SHA = re.compile(r"[0-9a-f]{40}")


def resolve_ref(repo: Repo, ref: str) -> str:
    """The commit `ref` names; 422 like GitHub when there is none."""
    git = bare(repo)
    sha = git.rev_parse(ref) if git is not None else (ref if FULL_SHA.fullmatch(ref) else None)
    if sha is None:
        raise HTTPError(422, f"No commit found for SHA: {ref}")
    return sha


def _render(call: Call, repo: Repo, runs: list[CheckRun]) -> list[dict[str, Any]]:
    # A run lists the open pull requests whose head is its commit: their heads must be current.
    for pr in repo.pulls.values():
        refresh(repo, pr)
    return [render_pulls.check_run(call.render, repo, run) for run in runs]


def _apply(run: CheckRun, fields: dict[str, Any]) -> None:
    """Status, conclusion and output the way GitHub combines them (create and update alike)."""
    conclusion = fields.get("conclusion")
    status = fields.get("status")
    if conclusion == "stale":
        raise HTTPError(422, "Invalid request.\n\nOnly GitHub can set the conclusion `stale`.")
    if conclusion is None and (status == "completed" or fields.get("completed_at")):
        raise HTTPError(422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
    for name in ("name", "external_id", "details_url", "started_at"):
        if fields.get(name) is not None:
            setattr(run, name, fields[name])
    if conclusion is not None:
        # Documented: a conclusion sets the status to completed, whatever status was sent.
        run.status, run.conclusion = "completed", conclusion
        run.completed_at = fields.get("completed_at") or iso()
    elif status is not None:
        run.status = status
    output = fields.get("output")
    if output is not None:
        run.title, run.summary = output.get("title"), output.get("summary")
        if "text" in output:
            run.text = output["text"]
        run.annotations.extend(output.get("annotations") or [])  # appended on every update
    if fields.get("actions") is not None:
        run.actions = list(fields["actions"])


@routes.op("checks/create")
def create_check_run(call: Call) -> Reply:
    repo = call.repo()
    fields = call.body or {}
    head_sha = str(fields["head_sha"])
    git = bare(repo)
    if not FULL_SHA.fullmatch(head_sha) or (git is not None and git.rev_parse(head_sha) is None):
        raise HTTPError(422, f"No commit found for SHA: {head_sha}")
    app_id = call.state.app.app_id if call.installation is not None else None
    suite = suite_for(call.state, repo, head_sha, app_id)
    run = CheckRun(
        id=call.state.next_id(),
        repo=repo.full_name,
        name=str(fields["name"]),
        head_sha=head_sha,
        check_suite_id=suite.id,
        app_id=app_id,
    )
    _apply(run, fields)
    repo.check_runs[run.id] = run
    suite.updated_at = iso()
    return Reply(201, _render(call, repo, [run])[0])


def _run(call: Call) -> tuple[Repo, CheckRun]:
    repo = call.repo()
    run = repo.check_runs.get(int(call.params["check_run_id"]))
    if run is None:
        raise not_found()
    return repo, run


@routes.op("checks/get")
def get_check_run(call: Call) -> Reply:
    repo, run = _run(call)
    return Reply(200, _render(call, repo, [run])[0])


@routes.op("checks/update")
def update_check_run(call: Call) -> Reply:
    repo, run = _run(call)
    if run.app_id != call.state.app.app_id:
        # Only the App that created a check run may change it.
        raise HTTPError(403, f"Invalid app_id `{call.state.app.app_id}` - check run can only be "
                             "modified by its creator")  # fmt: skip
    _apply(run, call.body or {})
    repo.check_suites[run.check_suite_id].updated_at = iso()
    return Reply(200, _render(call, repo, [run])[0])


@routes.op("checks/list-for-ref")
def list_check_runs(call: Call) -> Reply:
    repo = call.repo()
    sha = resolve_ref(repo, call.params["ref"])
    name = call.query.get("check_name")
    status = call.query.get("status")
    app_id = call.query.get("app_id")
    if call.query.get("filter", "latest") == "latest":
        runs = latest_runs(repo, sha)
    else:
        runs = sorted(
            (r for r in repo.check_runs.values() if r.head_sha == sha),
            key=lambda r: r.id,
            reverse=True,
        )
    runs = [
        r
        for r in runs
        if (name is None or r.name == name)
        and (status is None or r.status == status)
        and (app_id is None or str(r.app_id) == app_id)
    ]
    page = paginate(call, _render(call, repo, runs))
    return Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)


@routes.op("repos/get-content")
def get_content(call: Call) -> Reply:
    repo = call.repo()
    git = bare(repo)
    if git is None or not git.branches():
        raise HTTPError(404, "This repository is empty.")
    ref = call.query.get("ref") or repo.default_branch
    commit = git.rev_parse(ref)
    if commit is None:
        raise HTTPError(404, f"No commit found for the ref {ref}")
    path = call.params["path"].strip("/")
    entry = git.entry(commit, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        listing = git.list_dir(commit, path)
        return Reply(200, [render_pulls.content(call.render, repo, ref, e) for e in listing])
    if entry.type != "blob":
        raise call.unsupported("repos/get-content for submodules")
    data = git.read(commit, path) or b""
    return Reply(200, render_pulls.content(call.render, repo, ref, entry, data))
