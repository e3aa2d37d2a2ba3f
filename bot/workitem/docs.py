"""docs/workflow.md, generated from the transition table: a Mermaid diagram and the tables.

Regenerate with `python -m bot.workitem.docs > docs/workflow.md`; a test fails while the
file and the table disagree.
"""

from __future__ import annotations

import enum
import sys

from bot.workitem.rules import RULES, Check, Rule
from bot.workitem.states import Effect, Event, State

REGENERATE_DOCS = "python -m bot.workitem.docs > docs/workflow.md"
"""The command that rewrites docs/workflow.md from the table."""


def _edge_label(rules: list[Rule]) -> str:
    parts = []
    for rule in rules:
        # "failed in X" on an arrow into X says nothing the arrow does not.
        shown = [
            g for g in rule.when if not (g.check is Check.FAILED_IN and g.state is rule.target)
        ]
        guards = " and ".join(g.label for g in shown)
        parts.append(f"{rule.event} [{guards}]" if guards else str(rule.event))
    return ", ".join(dict.fromkeys(parts))


def mermaid_diagram(rules: tuple[Rule, ...] = RULES) -> str:
    """A Mermaid state diagram of `rules`, one arrow per (state, next state)."""
    edges: dict[tuple[State, State], list[Rule]] = {}
    order = {**{s: i for i, s in enumerate(State)}, **{e: i for i, e in enumerate(Event)}}
    for rule in sorted(rules, key=lambda r: (order[r.state], order[r.event])):
        edges.setdefault((rule.state, rule.target), []).append(rule)
    lines = ["stateDiagram-v2", f"    [*] --> {State.QUEUED}"]
    lines += [f"    {a} --> {b} : {_edge_label(rs)}" for (a, b), rs in edges.items()]
    lines += [f"    {s} --> [*]" for s in (State.MERGED, State.CANCELLED)]
    return "\n".join(lines) + "\n"


def workflow_markdown(rules: tuple[Rule, ...] = RULES) -> str:
    """docs/workflow.md, generated: the diagram and the tables behind it."""

    def table(header: str, rows: list[str]) -> str:
        columns = header.count("|") - 1
        return "\n".join([header, "|" + " --- |" * columns, *rows]) + "\n"

    def names(values: tuple[enum.StrEnum, ...]) -> str:
        return ", ".join(f"`{v}`" for v in values) or "—"

    rule_rows = [
        f"| `{r.state}` | `{r.event}` | {' and '.join(g.label for g in r.when) or '—'} "
        f"| `{r.target}` | {names(r.effects)} | {f'`{r.count}` + 1' if r.count else '—'} |"
        for r in rules
    ]
    return "\n".join(
        [
            "# Work-item workflow",
            "",
            "<!-- Generated from bot/workitem/rules.py; do not edit by hand. Regenerate with:",
            f"     {REGENERATE_DOCS} -->",
            "",
            "A work item is one issue and, later, its pull request. Handlers and jobs report",
            "what happened as an *event*; the table below gives the next *state* and the",
            "*effects* jobs carry out, in order. An event with no row for the item's state is",
            "rejected with a reason (logged, and replied to when a person sent it); so is an",
            "event whose row's guard does not hold. Each fix loop is bounded by a `workflow:`",
            "setting in `.github/aios.yml` (`max_review_rounds`, `max_fix_rounds`,",
            "`max_ci_fix_attempts`): past the bound, the pull request goes to the maintainers",
            "with a comment saying why. `retry` resumes the step that failed.",
            "",
            "```mermaid",
            mermaid_diagram(rules).rstrip("\n"),
            "```",
            "",
            "## States",
            "",
            table("| state | meaning |", [f"| `{s}` | {s.doc} |" for s in State]),
            "## Events",
            "",
            table("| event | sent when |", [f"| `{e}` | {e.doc} |" for e in Event]),
            "## Effects",
            "",
            table("| effect | the job does |", [f"| `{x}` | {x.doc} |" for x in Effect]),
            "## Transitions",
            "",
            table("| state | event | guard | next state | effects | counts |", rule_rows),
        ]
    )


def main() -> None:
    sys.stdout.write(workflow_markdown())


if __name__ == "__main__":
    main()
