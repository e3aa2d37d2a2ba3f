"""`aios eval compare A.json B.json`: what changed between two runs, per task and overall."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.evals.result import aligned, by_task, from_record


class ResultsError(ValueError):
    """A file that is not an `aios eval --out` result: `str()` names it and what is wrong."""


def read_results(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The file's model and summary, and its runs per task (`by_task`, in the file's order).

    Raises:
        ResultsError: unreadable, not JSON, or without the `summary` and `tasks` of a result.
    """
    try:
        report = json.loads(path.read_text())
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from None
    if (
        not isinstance(report, dict)
        or not isinstance(report.get("summary"), dict)
        or not isinstance(report.get("tasks"), list)
    ):
        raise ResultsError(f"{path}: not an `aios eval --out` file (no summary and tasks)")
    try:
        tasks = by_task([from_record(record) for record in report["tasks"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(f"{path}: a task record is malformed ({exc!r})") from None
    return report, {task["name"]: task for task in tasks}


def compare(a_path: Path, b_path: Path) -> str:
    """The comparison as text: each task's resolved rate, cost, calls and wall time in A and B
    with what changed, the tasks only one run has, and the overall figures with differences.

    Raises:
        ResultsError: for either file.
    """
    a_report, a = read_results(a_path)
    b_report, b = read_results(b_path)
    header = (
        "task",
        "resolved A",
        "resolved B",
        "cost A",
        "cost B",
        "Δ cost",
        "calls A→B",
        "change",
    )
    rows = [header]
    for name in [*a, *(n for n in b if n not in a)]:
        left, right = a.get(name), b.get(name)
        if left is None or right is None:
            only = "A" if right is None else "B"
            rows.append((name, _rate(left), _rate(right), "", "", "", "", f"only in {only}"))
            continue
        rows.append(
            (
                name,
                _rate(left),
                _rate(right),
                f"${left['cost_usd']['mean']:.4f}",
                f"${right['cost_usd']['mean']:.4f}",
                _signed_usd(right["cost_usd"]["mean"] - left["cost_usd"]["mean"]),
                f"{left['model_calls']['mean']:g}→{right['model_calls']['mean']:g}",
                _verdict(left, right),
            )
        )
    lines = [
        f"A: {a_path} ({a_report.get('model', '?')})",
        f"B: {b_path} ({b_report.get('model', '?')})",
        "",
    ]
    lines += aligned(rows)
    lines.append("")
    lines += _overall(a_report["summary"], b_report["summary"])
    for name, right in b.items():
        left = a.get(name)
        if right["reason"] and (left is None or left["resolved_rate"] > right["resolved_rate"]):
            lines.append(f"  {name} in B: {right['reason']}")
    return "\n".join(lines) + "\n"


def _overall(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    def number(summary: dict[str, Any], key: str) -> float:
        value = summary.get(key, 0)
        return float(value["total"] if isinstance(value, dict) else value or 0)

    rate_a, rate_b = number(a, "resolved_rate"), number(b, "resolved_rate")
    cost_a, cost_b = number(a, "cost_usd"), number(b, "cost_usd")
    lines = [
        f"resolved     {rate_a:.0%} → {rate_b:.0%} ({(rate_b - rate_a) * 100:+.0f} points)",
        f"cost         ${cost_a:.4f} → ${cost_b:.4f} ({_signed_usd(cost_b - cost_a)}"
        + (f", {(cost_b - cost_a) / cost_a:+.0%})" if cost_a else ")"),
    ]
    for key, label in (
        ("human_interventions", "human"),
        ("model_calls", "model calls"),
        ("tokens", "tokens"),
        ("wall_s", "wall s"),
    ):
        left, right = number(a, key), number(b, key)
        lines.append(f"{label:<12} {left:g} → {right:g} ({right - left:+g})")
    return lines


def _rate(task: dict[str, Any] | None) -> str:
    if task is None:
        return "-"
    if task["runs"] == 1:
        return "yes" if task["resolved"] else "NO"
    return f"{task['resolved']}/{task['runs']}"


def _verdict(left: dict[str, Any], right: dict[str, Any]) -> str:
    if right["resolved_rate"] > left["resolved_rate"]:
        return "better"
    if right["resolved_rate"] < left["resolved_rate"]:
        return "WORSE"
    return ""


def _signed_usd(amount: float) -> str:
    return f"{'+' if amount >= 0 else '-'}${abs(amount):.4f}"
