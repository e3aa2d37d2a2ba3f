"""`.github/aios.yml` for a work item: read from the default branch, validated, remembered."""

from __future__ import annotations

import base64
from typing import Any

import structlog
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.config.schema import CONFIG_PATH, ConfigResult, parse_repo_config, render_problems_markdown
from bot.github.comments import upsert_marked_comment
from bot.workitem.rules import WorkflowConfig

log = structlog.get_logger(__name__)


async def read_repo_config(gh: GitHubAPI, repo: str) -> ConfigResult:
    """The file on the default branch (never a PR's); defaults when there is none."""
    try:
        content = await gh.getitem(
            "/repos/{+repo}/contents/{+path}", {"repo": repo, "path": CONFIG_PATH}
        )
    except BadRequest as exc:
        if exc.status_code == 404:
            return parse_repo_config(None)
        raise
    text = base64.b64decode(content.get("content") or "").decode("utf-8", errors="replace")
    result = parse_repo_config(text)
    if result.errors:
        log.warning("invalid repository config; using defaults", problems=len(result.errors))
    return result


def policy_snapshot(result: ConfigResult) -> dict[str, Any]:
    """What a work item keeps of the config for its whole life (in `WorkItem.extra`)."""
    workflow = result.config.workflow
    return {
        "policy": {
            "require_plan_approval": workflow.require_plan_approval,
            "max_review_rounds": workflow.max_review_rounds,
            "max_fix_rounds": workflow.max_fix_rounds,
            "max_ci_fix_attempts": workflow.max_ci_fix_attempts,
        },
        "needs_approval": workflow.require_plan_approval,
        "min_edit_interval_s": result.config.progress.min_edit_interval_s,
        "budget_usd": result.config.budgets.per_work_item_usd,
    }


def stored_policy(extra: dict[str, Any]) -> WorkflowConfig:
    return WorkflowConfig(**extra.get("policy", {}))


async def report_config_problems(
    gh: GitHubAPI, repo: str, number: int, result: ConfigResult
) -> None:
    """Say on the issue which keys of `.github/aios.yml` are wrong (AIOS uses the defaults)."""
    marker = f"<!-- aios:config-problems item={repo}#{number} -->"
    body = f"{marker}\n{render_problems_markdown(result.errors, result.warnings)}"
    await upsert_marked_comment(gh, repo, number, marker=marker, body=body)
