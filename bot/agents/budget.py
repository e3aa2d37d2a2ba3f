"""Spending limits per job, work item, repository-month and installation-month, checked before
every model call; and the operator's ceilings a repository's settings may lower, never raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.agents.ledger import Ledger, UsageScope, month_of

CEILING_VARIABLES = {
    "per_job_usd": "AIOS_BUDGET_JOB_USD",
    "per_work_item_usd": "AIOS_BUDGET_WORK_ITEM_USD",
    "per_repo_month_usd": "AIOS_BUDGET_REPO_MONTH_USD",
    "per_installation_month_usd": "AIOS_BUDGET_INSTALLATION_MONTH_USD",
}
"""The environment variables that set the operator's ceiling of each budget."""

PAUSE_AT = 0.8
"""Share of the work item's budget after which no new agent step starts: the item pauses and
asks a maintainer for `/aios budget +<usd>` (or `/aios cancel`)."""


@dataclass(frozen=True)
class Budgets:
    """USD limits; None means unlimited.

    As read from the environment these are the operator's ceilings (and the limits of
    `aios agent run`); for a work item, the repository's `.github/aios.yml` values capped
    by them.
    """

    per_job_usd: float | None = 5.0
    per_work_item_usd: float | None = 25.0
    per_installation_month_usd: float | None = 500.0
    per_repo_month_usd: float | None = 200.0


class BudgetExceeded(Exception):
    """A budget is used up. The message names it, the limit, the spend and how to raise it."""

    def __init__(self, budget: str, limit_usd: float, spent_usd: float, setting: str) -> None:
        self.budget = budget
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.over_usd = spent_usd - limit_usd
        super().__init__(
            f"The {budget} budget of ${limit_usd:.2f} is used up: ${spent_usd:.2f} spent "
            f"(${self.over_usd:.2f} over). Raise {setting} to continue."
        )


def capped(wanted: float | None, ceiling: float | None) -> float | None:
    """A repository's budget within the operator's ceiling (None: no limit)."""
    if ceiling is None:
        return wanted
    return ceiling if wanted is None else min(wanted, ceiling)


def ceilings_from(environ: Mapping[str, str], parse: type[float] = float) -> Budgets:
    """The operator's ceilings from `AIOS_BUDGET_*` (`unlimited`, `none` or `off`: no limit).

    Raises ValueError naming the variable when one is not a number of dollars.
    """
    values: dict[str, float | None] = {}
    for field, variable in CEILING_VARIABLES.items():
        raw = environ.get(variable, "").strip()
        if not raw:
            continue
        if raw.lower() in ("none", "unlimited", "off"):
            values[field] = None
            continue
        try:
            value = parse(raw)
        except ValueError:
            raise ValueError(f"{variable}: must be a number of dollars, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{variable}: must not be negative, got {raw!r}")
        values[field] = value
    return Budgets(**values)


async def check_budgets(ledger: Ledger, scope: UsageScope, budgets: Budgets) -> None:
    """Raise `BudgetExceeded` for the first budget already reached; called before every model call.

    A call started under budget may end a little over it; the overshoot is at most one call.
    """
    if budgets.per_job_usd is not None:
        spent = (await ledger.job(scope.job_id)).cost_usd
        where = "AIOS_BUDGET_JOB_USD (the ceiling) or budgets.per_job_usd in .github/aios.yml"
        _check("per-job", budgets.per_job_usd, spent, where)
    if scope.work_item and budgets.per_work_item_usd is not None:
        spent = (await ledger.work_item(scope.work_item)).cost_usd
        where = "AIOS_BUDGET_WORK_ITEM_USD (the ceiling), then `/aios budget +<usd>` on the item"
        _check("per-work-item", budgets.per_work_item_usd, spent, where)
    month = month_of()
    if scope.repo and budgets.per_repo_month_usd is not None:
        spent = (await ledger.repo_month(scope.repo, month)).cost_usd
        where = "AIOS_BUDGET_REPO_MONTH_USD (the ceiling) or budgets.per_month_usd"
        _check(f"monthly repository ({month})", budgets.per_repo_month_usd, spent, where)
    if scope.installation_id is not None and budgets.per_installation_month_usd is not None:
        spent = (await ledger.installation_month(scope.installation_id, month)).cost_usd
        _check(
            f"monthly installation ({month})",
            budgets.per_installation_month_usd,
            spent,
            "AIOS_BUDGET_INSTALLATION_MONTH_USD",
        )


def _check(name: str, limit: float, spent: float, setting: str) -> None:
    if spent >= limit:
        raise BudgetExceeded(name, limit, spent, setting)
