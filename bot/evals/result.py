"""What one eval run found: per-task records, the summary, the JSON and the terminal table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tokens:
    total: int = 0
    """As the work item counted them (all kinds together)."""
    input: int | None = None
    cached: int | None = None
    output: int | None = None
    """The three kinds, as the scripted model reported them; None with a real model."""


@dataclass
class TaskResult:
    name: str
    resolved: bool = False
    reason: str = ""
    """Why it is unresolved: where it stopped and with what; empty when resolved."""
    questions: int = 0
    review_rounds: int = 0
    ci_fix_attempts: int = 0
    human_interventions: int = 0
    """Answers to the CTO's questions and review comments asking for changes; the approvals
    of the plan and of the PR are the normal gates, not interventions."""
    model_calls: int | None = None
    """Requests the scripted model received; None with a real model (not counted here)."""
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    wall_s: float = 0.0
    stopped_in: str | None = None
    """The work item's state when the run stopped (merged when it got that far)."""
    api_violations: int = 0
    """Requests of AIOS the real GitHub would refuse (the local GitHub's OpenAPI check)."""


def summary(results: Sequence[TaskResult]) -> dict[str, Any]:
    resolved = sum(1 for r in results if r.resolved)
    return {
        "tasks": len(results),
        "resolved": resolved,
        "resolved_rate": round(resolved / len(results), 4) if results else 0.0,
        "cost_usd": round(sum(r.cost_usd for r in results), 6),
        "human_interventions": sum(r.human_interventions for r in results),
        "model_calls": sum(r.model_calls or 0 for r in results),
        "tokens": sum(r.tokens.total for r in results),
        "wall_s": round(sum(r.wall_s for r in results), 2),
    }


def as_json(results: Sequence[TaskResult], model: str) -> str:
    return json.dumps(
        {
            "model": model,
            "summary": summary(results),
            "tasks": [dataclasses.asdict(r) for r in results],
        },
        indent=2,
    )


COLUMNS = ("task", "resolved", "questions", "reviews", "ci fixes", "human", "calls", "tokens")


def as_table(results: Sequence[TaskResult]) -> str:
    """The terminal table: one row per task, the summary, then each unresolved task's reason."""
    rows = [COLUMNS] + [
        (
            r.name,
            "yes" if r.resolved else "NO",
            str(r.questions),
            str(r.review_rounds),
            str(r.ci_fix_attempts),
            str(r.human_interventions),
            "-" if r.model_calls is None else str(r.model_calls),
            str(r.tokens.total),
        )
        for r in results
    ]
    costs = ["cost"] + [f"${r.cost_usd:.4f}" for r in results]
    walls = ["wall"] + [f"{r.wall_s:.1f}s" for r in results]
    rows = [(*row, costs[i], walls[i]) for i, row in enumerate(rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = summary(results)
    lines.append(
        f"\nresolved {total['resolved']}/{total['tasks']} ({total['resolved_rate']:.0%}), "
        f"cost ${total['cost_usd']:.4f}, human interventions {total['human_interventions']}"
    )
    for r in results:
        if not r.resolved:
            lines.append(f"  {r.name}: {r.reason}")
    return "\n".join(lines) + "\n"
