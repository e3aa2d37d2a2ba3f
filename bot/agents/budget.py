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
    checks: list[tuple[str, float | None, str]] = [
        ("per-job", budgets.per_job_usd, "AIOS_BUDGET_JOB_USD"),
    ]
    if scope.work_item:
        checks.append(
            (
                "per-work-item",
                budgets.per_work_item_usd,
                "AIOS_BUDGET_WORK_ITEM_USD or budgets.per_work_item_usd in .github/aios.yml",
            )
        )
    if scope.installation_id is not None:
        checks.append(
            (
                f"monthly installation ({month_of()})",
                budgets.per_installation_month_usd,
                "AIOS_BUDGET_INSTALLATION_MONTH_USD or budgets.per_month_usd in .github/aios.yml",
            )
        )
    for name, limit, setting in checks:
        if limit is None:
            continue
        if name == "per-job":
            spent = (await ledger.job(scope.job_id)).cost_usd
        elif name == "per-work-item":
            spent = (await ledger.work_item(scope.work_item or "")).cost_usd
        else:
            spent = (await ledger.installation_month(scope.installation_id or 0)).cost_usd
        if spent >= limit:
            raise BudgetExceeded(name, limit, spent, setting)
