"""AIOS's own check run on a commit: one per head commit and work item, edited in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gidgethub.abc import GitHubAPI

CHECK_RUN_NAME = "AIOS"
"""The name of AIOS's check run; CI readers leave it out (it is never CI to fix)."""


async def upsert_check_run(
    gh: GitHubAPI,
    repo: str,
    head_sha: str,
    *,
    external_id: str,
    output: dict[str, str],
    conclusion: str | None,
) -> int:
    """Create or edit the check run of `external_id` on `head_sha`; returns its id.

    `conclusion` None leaves the run in progress; anything else completes it with that
    conclusion (success, failure, cancelled, neutral, action_required …).
    """
    data: dict[str, Any] = {
        "name": CHECK_RUN_NAME,
        "head_sha": head_sha,
        "external_id": external_id,
        "output": output,
        "status": "in_progress" if conclusion is None else "completed",
    }
    if conclusion is not None:
        data["conclusion"] = conclusion
        data["completed_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    existing = await gh.getitem(
        "/repos/{+repo}/commits/{ref}/check-runs{?check_name}",
        {"repo": repo, "ref": head_sha, "check_name": CHECK_RUN_NAME},
    )
    ours = [run for run in existing.get("check_runs", []) if run.get("external_id") == external_id]
    if ours:
        run_id = int(ours[0]["id"])
        update = {k: v for k, v in data.items() if k != "head_sha"}
        await gh.patch(
            "/repos/{+repo}/check-runs/{check_run_id}",
            {"repo": repo, "check_run_id": run_id},
            data=update,
        )
        return run_id
    created = await gh.post("/repos/{+repo}/check-runs", {"repo": repo}, data=data)
    return int(created["id"])
