"""`.github/aios.yml` for a work item: read from the default branch, validated, remembered."""

from __future__ import annotations

import base64
from dataclasses import asdict

import structlog
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.agents.budget import CEILING_VARIABLES, Budgets, capped
from bot.config.docs import render_problems_markdown
from bot.config.parse import ConfigProblem, ConfigResult, parse_repo_config
from bot.config.schema import CONFIG_PATH, ROLES
from bot.github.comments import upsert_marked_comment
from bot.workitem.names import config_problems_marker
from bot.workitem.parts import EnvironmentSettings, ItemSettings, RoleModel

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


def settings_snapshot(
    result: ConfigResult, ceilings: Budgets
) -> tuple[ItemSettings, list[ConfigProblem]]:
    """What a work item keeps of the config for its whole life, budgets within the operator's
    ceilings; and a warning for each value the ceiling lowered."""
    config = result.config
    budgets = config.budgets
    warnings = []
    effective: dict[str, float | None] = {}
    for key, wanted, ceiling_field in (
        ("per_work_item_usd", budgets.per_work_item_usd, "per_work_item_usd"),
        ("per_job_usd", budgets.per_job_usd, "per_job_usd"),
        ("per_month_usd", budgets.per_month_usd, "per_repo_month_usd"),
    ):
        ceiling = getattr(ceilings, ceiling_field)
        effective[key] = capped(wanted, ceiling)
        if ceiling is not None and wanted > ceiling:
            variable = CEILING_VARIABLES[ceiling_field]
            warnings.append(
                ConfigProblem(
                    f"budgets.{key}",
                    f"is {wanted:g}, above this AIOS's ceiling of {ceiling:g} (`{variable}`, "
                    f"set by whoever runs AIOS): {ceiling:g} applies",
                )
            )
    workflow = config.workflow
    models = tuple(
        RoleModel(role, model)
        for role in ROLES
        if (model := config.agents.models.for_role(role)) is not None
    )
    settings = ItemSettings(
        require_plan_approval=workflow.require_plan_approval,
        max_review_rounds=workflow.max_review_rounds,
        max_fix_rounds=workflow.max_fix_rounds,
        max_ci_fix_attempts=workflow.max_ci_fix_attempts,
        min_edit_interval_s=config.progress.min_edit_interval_s,
        budget_usd=effective["per_work_item_usd"],
        job_budget_usd=effective["per_job_usd"],
        month_budget_usd=effective["per_month_usd"],
        models=models,
        personas=config.progress.personas,
        required_approvals=workflow.required_approvals,
        require_independent_approval=workflow.require_independent_approval,
        merge_method=str(workflow.merge_method),
        delete_branch_on_merge=workflow.delete_branch_on_merge,
        allow_workflow_edits=workflow.allow_workflow_edits,
        protected_paths=workflow.protected_paths,
        environment=EnvironmentSettings(**asdict(config.environment)),
    )
    return settings, warnings


async def report_config_problems(
    gh: GitHubAPI,
    repo: str,
    number: int,
    errors: list[ConfigProblem],
    warnings: list[ConfigProblem],
) -> None:
    """Say on the issue which keys of `.github/aios.yml` are wrong or not applied as written."""
    marker = config_problems_marker(repo, number)
    body = f"{marker}\n{render_problems_markdown(errors, warnings)}"
    await upsert_marked_comment(gh, repo, number, marker=marker, body=body)
