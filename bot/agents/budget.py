"""Spending limits per job, per work item and per installation-month, checked before calls."""

from __future__ import annotations

from dataclasses import dataclass

from bot.agents.ledger import Ledger, UsageScope, month_of


@dataclass(frozen=True)
class Budgets:
    """USD limits; None means unlimited. Defaults match the design's `.github/aios.yml` sketch."""

    per_job_usd: float | None = 3.0
    per_work_item_usd: float | None = 5.0
    per_installation_month_usd: float | None = 200.0


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


async def check_budgets(ledger: Ledger, scope: UsageScope, budgets: Budgets) -> None:
    """Raise `BudgetExceeded` for the first budget already reached; called before every model call.

    A call started under budget may end a little over it; the overshoot is at most one call.
    """
    if budgets.per_job_usd is not None:
        spent = (await ledger.job(scope.job_id)).cost_usd
        _check("per-job", budgets.per_job_usd, spent, "AIOS_BUDGET_JOB_USD")
    if scope.work_item and budgets.per_work_item_usd is not None:
        spent = (await ledger.work_item(scope.work_item)).cost_usd
        _check(
            "per-work-item",
            budgets.per_work_item_usd,
            spent,
            "AIOS_BUDGET_WORK_ITEM_USD or budgets.per_work_item_usd in .github/aios.yml",
        )
    if scope.installation_id is not None and budgets.per_installation_month_usd is not None:
        month = month_of()
        spent = (await ledger.installation_month(scope.installation_id, month)).cost_usd
        _check(
            f"monthly installation ({month})",
            budgets.per_installation_month_usd,
            spent,
            "AIOS_BUDGET_INSTALLATION_MONTH_USD or budgets.per_month_usd in .github/aios.yml",
        )


def _check(name: str, limit: float, spent: float, setting: str) -> None:
    if spent >= limit:
        raise BudgetExceeded(name, limit, spent, setting)
