"""What one eval run found: per-run records, per-task spread, the summary, JSON and the table."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.render.markdown import format_tokens


@dataclass
class Tokens:
    """A task's tokens by kind, as the server's usage ledger counted them."""

    input: int = 0
    """Input billed at the base rate or above: uncached input and cache writes."""
    cached: int = 0
    """Input read from the prompt cache (a tenth of the base rate)."""
    output: int = 0
    total: int = 0


@dataclass
class TaskResult:
    name: str
    run: int = 1
    """Which of the `--repeat` runs this is (1-based)."""
    resolved: bool = False
    reason: str = ""
    """Why it is unresolved: where it stopped and with what; empty when resolved."""
    questions: int = 0
    review_rounds: int = 0
    ci_fix_attempts: int = 0
    human_interventions: int = 0
    """Answers to the CTO's questions and review comments asking for changes; the approvals
    of the plan and of the PR are the normal gates, not interventions."""
    model_calls: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    wall_s: float = 0.0
    stopped_in: str | None = None
    """The work item's state when the run stopped (merged when it got that far)."""
    api_violations: int = 0
    """Requests of AIOS the real GitHub would refuse (the local GitHub's OpenAPI check)."""
    phases: dict[str, float] = field(default_factory=dict)
    """Where the wall time went: setup_s (local GitHub, repository, `aios serve` ready),
    pipeline_s (label to merge), judge_s (hidden tests), teardown_s (stopping it all)."""


def summary(results: Sequence[TaskResult]) -> dict[str, Any]:
    """Totals over every run; with `--repeat K` the rate is over all K runs of every task."""
    resolved = sum(1 for r in results if r.resolved)
    return {
        "tasks": len({r.name for r in results}),
        "runs": len(results),
        "resolved": resolved,
        "resolved_rate": round(resolved / len(results), 4) if results else 0.0,
        "cost_usd": round(sum(r.cost_usd for r in results), 6),
        "human_interventions": sum(r.human_interventions for r in results),
        "model_calls": sum(r.model_calls for r in results),
        "tokens": {
            kind: sum(getattr(r.tokens, kind) for r in results)
            for kind in ("input", "cached", "output", "total")
        },
        "wall_s": round(sum(r.wall_s for r in results), 2),
    }


def from_record(record: dict[str, Any]) -> TaskResult:
    """A run's record as `as_json` wrote it (or an older `--out` file, its missing fields at
    their defaults) back as a `TaskResult`.

    Raises:
        TypeError, ValueError: a record that is not a mapping with at least a name.
    """
    known = {f.name for f in dataclasses.fields(TaskResult)}
    fields = {k: v for k, v in record.items() if k in known and v is not None}
    tokens = fields.pop("tokens", None)
    if isinstance(tokens, dict):
        kinds = {f.name for f in dataclasses.fields(Tokens)}
        fields["tokens"] = Tokens(**{k: int(v) for k, v in tokens.items() if k in kinds and v})
    return TaskResult(str(fields.pop("name")), **fields)


def spread(values: Sequence[float]) -> dict[str, float]:
    """min, mean, max and the population standard deviation of `values` (non-empty)."""
    return {
        "min": round(min(values), 6),
        "mean": round(statistics.fmean(values), 6),
        "max": round(max(values), 6),
        "stdev": round(statistics.pstdev(values), 6),
    }


def by_task(results: Sequence[TaskResult]) -> list[dict[str, Any]]:
    """Each task's runs together, in first-seen order: how often resolved, the spread of its
    cost, wall time and calls (models are not deterministic: one run says little), and the
    last unresolved run's reason."""
    runs: dict[str, list[TaskResult]] = {}
    for result in results:
        runs.setdefault(result.name, []).append(result)
    return [
        {
            "name": name,
            "runs": len(group),
            "resolved": sum(1 for r in group if r.resolved),
            "resolved_rate": round(sum(1 for r in group if r.resolved) / len(group), 4),
            "cost_usd": spread([r.cost_usd for r in group]),
            "wall_s": spread([r.wall_s for r in group]),
            "model_calls": spread([r.model_calls for r in group]),
            "reason": next((r.reason for r in reversed(group) if not r.resolved), ""),
        }
        for name, group in runs.items()
    ]


def repeat_rates(results: Sequence[TaskResult]) -> list[float]:
    """The whole set's resolved rate in each repeat: its spread is the run-to-run noise."""
    repeats = sorted({r.run for r in results})
    rates = []
    for k in repeats:
        group = [r for r in results if r.run == k]
        rates.append(round(sum(1 for r in group if r.resolved) / len(group), 4))
    return rates


def as_json(
    results: Sequence[TaskResult],
    model: str,
    repeat: int = 1,
    skipped: Sequence[Mapping[str, Any]] = (),
) -> str:
    report: dict[str, Any] = {"model": model, "repeat": repeat, "summary": summary(results)}
    if repeat > 1:
        report["summary"]["resolved_rate_spread"] = spread(repeat_rates(results))
    report["by_task"] = by_task(results)
    report["tasks"] = [dataclasses.asdict(r) for r in results]
    if skipped:
        report["skipped"] = [dict(entry) for entry in skipped]
    return json.dumps(report, indent=2)


COLUMNS = ("task", "resolved", "questions", "reviews", "ci fixes", "human", "calls")
TOKEN_COLUMNS = ("input", "cached", "output")


def as_table(results: Sequence[TaskResult], repeat: int = 1) -> str:
    """The terminal table: one row per run, the summary, each unresolved run's reason, and
    with `--repeat` each task's spread."""
    rows = [(*COLUMNS, *TOKEN_COLUMNS, "cost", "wall")] + [
        (
            r.name if repeat == 1 else f"{r.name} #{r.run}",
            "yes" if r.resolved else "NO",
            str(r.questions),
            str(r.review_rounds),
            str(r.ci_fix_attempts),
            str(r.human_interventions),
            str(r.model_calls),
            *(format_tokens(getattr(r.tokens, kind)) for kind in TOKEN_COLUMNS),
            f"${r.cost_usd:.4f}",
            f"{r.wall_s:.1f}s",
        )
        for r in results
    ]
    lines = aligned(rows)
    total = summary(results)
    tokens = total["tokens"]
    lines.append(
        f"\nresolved {total['resolved']}/{total['runs']} ({total['resolved_rate']:.0%}), "
        f"cost ${total['cost_usd']:.4f}, human interventions {total['human_interventions']}, "
        f"{total['model_calls']} model calls, tokens {format_tokens(tokens['input'])} in + "
        f"{format_tokens(tokens['cached'])} cached + {format_tokens(tokens['output'])} out"
    )
    if repeat > 1:
        rates = spread(repeat_rates(results))
        lines.append(
            f"resolved rate per repeat: {rates['min']:.0%} to {rates['max']:.0%} "
            f"(mean {rates['mean']:.0%}, stdev {rates['stdev']:.0%})"
        )
        for task in by_task(results):
            cost, wall = task["cost_usd"], task["wall_s"]
            lines.append(
                f"  {task['name']}: resolved {task['resolved']}/{task['runs']}, "
                f"cost ${cost['min']:.4f} to ${cost['max']:.4f}, "
                f"wall {wall['min']:.1f} to {wall['max']:.1f}s"
            )
    for r in results:
        if not r.resolved:
            lines.append(f"  {r.name}{'' if repeat == 1 else f' #{r.run}'}: {r.reason}")
    return "\n".join(lines) + "\n"


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """`rows` as left-aligned columns, a rule under the first (the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return lines
