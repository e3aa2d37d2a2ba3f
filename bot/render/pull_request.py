"""The body of a work item's pull request: summary, plan with ticked tasks, handoffs, cost."""

from __future__ import annotations

from bot.redact import redact
from bot.render.progress import format_cost, neutralize
from bot.workitem.rules import WorkItem


def pr_marker(item: WorkItem) -> str:
    return f"<!-- aios:pr item={item.key} -->"


def pull_request_body(item: WorkItem) -> str:
    """What the maintainer reads first on the PR; every agent-written line is neutralised."""
    plan = item.plan or {}
    lines = [pr_marker(item), ""]
    if plan.get("summary"):
        lines += [neutralize(str(plan["summary"])), ""]
    tasks = plan.get("tasks", [])
    done = int(item.extra.get("tasks_done", 0))
    if tasks:
        lines.append("**Plan**")
        for i, task in enumerate(tasks):
            tick = "x" if i < done else " "
            lines.append(f"- [{tick}] {neutralize(task['role'])}: {neutralize(task['title'])}")
        lines.append("")
    handoffs = item.extra.get("handoffs", [])
    if handoffs:
        lines.append("<details><summary>Handoff notes</summary>\n")
        lines += [f"- **{neutralize(role)}:** {neutralize(note)}" for role, note in handoffs]
        lines += ["", "</details>", ""]
    lines.append(f"Fixes #{item.number}")
    lines.append("")
    lines.append(f"_AIOS · {format_cost(item.cost_usd, item.extra.get('budget_usd'))} so far_")
    return redact("\n".join(lines))
