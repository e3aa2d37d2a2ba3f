"""`.github/aios.yml` for a work item: read from the default branch, validated, remembered."""

from __future__ import annotations

import base64

import structlog
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.config.docs import render_problems_markdown
from bot.config.parse import ConfigResult, parse_repo_config
from bot.config.schema import CONFIG_PATH
from bot.github.comments import upsert_marked_comment
from bot.workitem.names import config_problems_marker
from bot.workitem.parts import ItemSettings

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


def settings_snapshot(result: ConfigResult) -> ItemSettings:
    """What a work item keeps of the config for its whole life."""
    config = result.config
    return ItemSettings(
        require_plan_approval=config.workflow.require_plan_approval,
        max_review_rounds=config.workflow.max_review_rounds,
        max_fix_rounds=config.workflow.max_fix_rounds,
        max_ci_fix_attempts=config.workflow.max_ci_fix_attempts,
        min_edit_interval_s=config.progress.min_edit_interval_s,
        budget_usd=config.budgets.per_work_item_usd,
    )


async def report_config_problems(
    gh: GitHubAPI, repo: str, number: int, result: ConfigResult
) -> None:
    """Say on the issue which keys of `.github/aios.yml` are wrong (AIOS uses the defaults)."""
    marker = config_problems_marker(repo, number)
    body = f"{marker}\n{render_problems_markdown(result.errors, result.warnings)}"
    await upsert_marked_comment(gh, repo, number, marker=marker, body=body)
