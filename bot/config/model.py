"""The typed settings a repository's `.github/aios.yml` gives, with the schema's defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from bot.config.schema import ROLES, SCHEMA, MergeMethod


def _default(section: str, key: str | None = None, sub: str | None = None) -> Any:
    node = SCHEMA["properties"][section]
    if key is not None:
        node = node["properties"][key]
    if sub is not None:
        node = node["properties"][sub]
    return node["default"]


_DEFAULT_MERGE_METHOD = MergeMethod(_default("workflow", "merge_method"))


@dataclass(frozen=True)
class AgentModels:
    cto: str | None = _default("agents", "models", "cto")
    backend: str | None = _default("agents", "models", "backend")
    frontend: str | None = _default("agents", "models", "frontend")
    devops: str | None = _default("agents", "models", "devops")
    qa: str | None = _default("agents", "models", "qa")
    triage: str | None = _default("agents", "models", "triage")

    def for_role(self, role: str) -> str | None:
        """The configured model for `role` (one of `ROLES`), or None for the default routing."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return getattr(self, role)


@dataclass(frozen=True)
class AgentsConfig:
    models: AgentModels = AgentModels()


@dataclass(frozen=True)
class BudgetsConfig:
    per_work_item_usd: float = _default("budgets", "per_work_item_usd")
    per_month_usd: float = _default("budgets", "per_month_usd")
    per_job_usd: float = _default("budgets", "per_job_usd")


@dataclass(frozen=True)
class WorkflowConfig:
    require_plan_approval: bool = _default("workflow", "require_plan_approval")
    require_independent_approval: bool = _default("workflow", "require_independent_approval")
    required_approvals: int = _default("workflow", "required_approvals")
    merge_method: MergeMethod = _DEFAULT_MERGE_METHOD
    delete_branch_on_merge: bool = _default("workflow", "delete_branch_on_merge")
    max_review_rounds: int = _default("workflow", "max_review_rounds")
    max_fix_rounds: int = _default("workflow", "max_fix_rounds")
    max_ci_fix_attempts: int = _default("workflow", "max_ci_fix_attempts")
    allow_workflow_edits: bool = _default("workflow", "allow_workflow_edits")
    protected_paths: tuple[str, ...] = tuple(_default("workflow", "protected_paths"))
    review_fork_prs: bool = _default("workflow", "review_fork_prs")


@dataclass(frozen=True)
class ProgressConfig:
    min_edit_interval_s: float = _default("progress", "min_edit_interval_s")
    personas: bool = _default("progress", "personas")


@dataclass(frozen=True)
class MemoryConfig:
    auto_accept: bool = _default("memory", "auto_accept")
    expire_after_days: int = _default("memory", "expire_after_days")


@dataclass(frozen=True)
class ScorecardConfig:
    human_cost_per_pr_usd: float = _default("scorecard", "human_cost_per_pr_usd")


@dataclass(frozen=True)
class PathsConfig:
    ignore_for_review: tuple[str, ...] = tuple(_default("paths", "ignore_for_review"))


@dataclass(frozen=True)
class EnvironmentConfig:
    """`environment`: None for a key means "what AIOS detects" (`bot.environment.detect`)."""

    setup: tuple[str, ...] | None = None
    test: str | None = None
    allow_hosts: tuple[str, ...] | None = None
    network_during_run: bool = _default("environment", "network_during_run")
    cache: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RepoConfig:
    """A repository's validated settings; `RepoConfig()` is the defaults."""

    agents: AgentsConfig = AgentsConfig()
    budgets: BudgetsConfig = BudgetsConfig()
    workflow: WorkflowConfig = WorkflowConfig()
    progress: ProgressConfig = ProgressConfig()
    paths: PathsConfig = PathsConfig()
    control_center: bool = _default("control_center")
    memory: MemoryConfig = MemoryConfig()
    environment: EnvironmentConfig = EnvironmentConfig()
    scorecard: ScorecardConfig = ScorecardConfig()


def _known(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _pick(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


def build_config(data: dict[str, Any]) -> RepoConfig:
    agents = _known(data, "agents")
    budgets = {
        key: float(value) for key, value in _pick(BudgetsConfig, _known(data, "budgets")).items()
    }
    workflow = _pick(WorkflowConfig, _known(data, "workflow"))
    if "merge_method" in workflow:
        workflow["merge_method"] = MergeMethod(workflow["merge_method"])
    for key in ("required_approvals", "max_review_rounds", "max_fix_rounds", "max_ci_fix_attempts"):
        if key in workflow:
            workflow[key] = int(workflow[key])
    if "protected_paths" in workflow:
        workflow["protected_paths"] = tuple(workflow["protected_paths"])
    progress = _pick(ProgressConfig, _known(data, "progress"))
    if "min_edit_interval_s" in progress:
        progress["min_edit_interval_s"] = float(progress["min_edit_interval_s"])
    paths = _pick(PathsConfig, _known(data, "paths"))
    if "ignore_for_review" in paths:
        paths["ignore_for_review"] = tuple(paths["ignore_for_review"])
    memory = _pick(MemoryConfig, _known(data, "memory"))
    if "expire_after_days" in memory:
        memory["expire_after_days"] = int(memory["expire_after_days"])
    scorecard = {
        key: float(value)
        for key, value in _pick(ScorecardConfig, _known(data, "scorecard")).items()
    }
    environment = _pick(EnvironmentConfig, _known(data, "environment"))
    for key in ("setup", "allow_hosts", "cache"):
        if environment.get(key) is not None:
            environment[key] = tuple(environment[key])
    return RepoConfig(
        agents=AgentsConfig(models=AgentModels(**_pick(AgentModels, _known(agents, "models")))),
        budgets=BudgetsConfig(**budgets),
        workflow=WorkflowConfig(**workflow),
        progress=ProgressConfig(**progress),
        paths=PathsConfig(**paths),
        control_center=bool(data.get("control_center", _default("control_center"))),
        memory=MemoryConfig(**memory),
        scorecard=ScorecardConfig(**scorecard),
        environment=EnvironmentConfig(**environment),
    )
