"""The body of a work item's pull request: summary, plan with ticked tasks, handoffs, cost."""

from __future__ import annotations

from bot.redact import redact
from bot.render.markdown import format_cost, neutralize
from bot.workitem.item import WorkItem
from bot.workitem.names import pull_request_marker


def pull_request_body(item: WorkItem) -> str:
    """What the maintainer reads first on the PR; every agent-written line is neutralised."""
    lines = [pull_request_marker(item.key), ""]
    if item.plan is not None:
        lines += [neutralize(item.plan.summary), ""]
    tasks = item.plan.tasks if item.plan else ()
    done = item.work.tasks_done
    if tasks:
        lines.append("**Plan**")
        for i, task in enumerate(tasks):
            tick = "x" if i < done else " "
            lines.append(f"- [{tick}] {neutralize(task.role)}: {neutralize(task.title)}")
        lines.append("")
    environment = item.work.environment
    if environment is not None and environment.tests:
        mark = "✅" if environment.tests_ok else "❌"
        lines += [f"**Tests** (as AIOS last ran them): {mark} {neutralize(environment.tests)}", ""]
    handoffs = item.work.handoffs
    if handoffs:
        lines.append("<details><summary>Handoff notes</summary>\n")
        lines += [f"- **{neutralize(h.role)}:** {neutralize(h.note)}" for h in handoffs]
        lines += ["", "</details>", ""]
    lines.append(f"Fixes #{item.number}")
    lines.append("")
    lines.append(f"_AIOS · {format_cost(item.cost_usd, item.settings.budget_usd)} so far_")
    return redact("\n".join(lines))
