"""The plan and questions comments on an issue: rendering, and reading the approval box.

All text from the model or the issue is untrusted: it goes through `neutralize` (no mentions,
HTML or Markdown structure) and `redact` (no secrets) before it reaches a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from bot.redact import redact
from bot.render.markdown import fit, neutralize
from bot.render.progress import Persona
from bot.workitem.names import comment_marker, find_comment_marker
from bot.workitem.plan import COMMAND_CHARS, Plan, PlanTask, ProposedEnvironment, Questions

APPROVE_LINE = "- [ ] Approve this plan"
APPROVE_HINT = "Tick the box, or comment `/aios approve`; `/aios plan <feedback>` for a revision."
SUMMARY_CHARS, TITLE_CHARS, ITEM_CHARS, PATH_CHARS = 2000, 200, 500, 300
"""Caps on each piece of model text as shown (the plan's own caps, repeated for stored plans)."""

ANSWER_HINT = (
    "Answer in a comment on this issue, in any format (numbering your answers helps). "
    "I'll write the plan as soon as someone with write access to the repository does; "
    "anyone else's comments are read as context."
)

_APPROVE_BOX = re.compile(
    r"^[ \t]*[-*+][ \t]+\[(?P<mark>[ xX])\][ \t]+Approve this plan[ \t\r]*$", re.M
)


def _inert(text: str, limit: int, mentions: Iterable[str] = ()) -> str:
    # Redact first: escaping splits a token (`ghs_…` becomes `ghs\_…`) past recognition.
    return neutralize(redact(text), mentions=mentions, limit=limit)


def _who(persona: Persona | None, fallback: str) -> str:
    if persona is None:
        return f"**{neutralize(fallback, limit=40)}**"
    if persona.name == persona.role:  # `progress.personas: false`
        return f"**{neutralize(persona.role, limit=40)}**"
    emoji = neutralize(persona.emoji, limit=8)
    name = f"{emoji} **{neutralize(persona.name, limit=40)}**".strip()
    return f"{name} ({neutralize(persona.role, limit=40)})"


def _login(login: str) -> str:
    """`@login` as a live mention: only this login, and only if it is a real GitHub login."""
    return neutralize(f"@{login}", mentions={login}, limit=60)


def render_questions(
    repo: str, number: int, questions: Questions, persona: Persona, *, mention: str | None
) -> str:
    """The CTO's clarifying questions as one comment, marker first, numbered."""
    count = len(questions.questions)
    needed = "an answer" if count == 1 else f"{count} answers"
    ask = f"Before I plan this I need {needed} from you:"
    lines = [
        comment_marker("questions", repo, number),
        f"{_who(persona, 'CTO')} · questions on #{number}",
        "",
        f"{_login(mention)}, {ask[0].lower()}{ask[1:]}" if mention else ask,
        "",
        *(f"{i}. {_inert(q, ITEM_CHARS)}" for i, q in enumerate(questions.questions, 1)),
        "",
        ANSWER_HINT,
    ]
    return fit(redact("\n".join(lines) + "\n"))


def _task_lines(index: int, task: PlanTask, personas: Mapping[str, Persona]) -> list[str]:
    who = _who(personas.get(task.role), task.role)
    lines = [f"{index}. {who} — {_inert(task.title, TITLE_CHARS)}"]
    lines += [f"   - Done when: {_inert(a, ITEM_CHARS)}" for a in task.acceptance]
    if task.files:
        spans = ", ".join(_inert(f"`{path}`", PATH_CHARS + 2) for path in task.files)
        lines.append(f"   - Files: {spans}")
    return lines


def _environment_lines(
    proposed: ProposedEnvironment, *, require_approval: bool, approved_by: str | None
) -> list[str]:
    """The proposed setup, and whether it will run: only a person's approval runs it."""
    title = "**Environment the agents will set up**"
    if approved_by:
        title += " (approved with this plan)"
    elif require_approval:
        title += " (runs only once you approve this plan)"
    else:
        title = (
            "**Environment proposed** (not run: with `workflow.require_plan_approval: false` "
            "nobody approves the plan; to use it, put it under `environment` in "
            "`.github/aios.yml`)"
        )
    lines = [title]
    if proposed.setup:
        spans = ", ".join(_inert(f"`{c}`", COMMAND_CHARS + 2) for c in proposed.setup)
        lines.append(f"- Setup: {spans}")
    if proposed.test:
        lines.append(f"- Tests: {_inert(f'`{proposed.test}`', COMMAND_CHARS + 2)}")
    return lines


def render_plan(
    repo: str,
    number: int,
    plan: Plan,
    personas: Mapping[str, Persona],
    *,
    require_approval: bool,
    approved_by: str | None = None,
) -> str:
    """The plan comment, marker first; with the approval box while approval is pending.

    `personas` maps role keys (`cto`, `backend`, …) to personas; missing ones show the key.
    """
    count = len(plan.tasks)
    blocks = [
        f"{comment_marker('plan', repo, number)}\n"
        f"{_who(personas.get('cto'), 'AIOS')} · plan for #{number} · "
        f"{count} task{'s' if count != 1 else ''}",
        f"> {_inert(plan.summary, SUMMARY_CHARS)}",
        "**Tasks**",
        "\n".join(
            line for i, task in enumerate(plan.tasks, 1) for line in _task_lines(i, task, personas)
        ),
    ]
    if plan.risks:
        blocks += ["**Risks**", "\n".join(f"- {_inert(r, ITEM_CHARS)}" for r in plan.risks)]
    if plan.decisions:
        blocks += [
            "**Decisions needing a human**",
            "\n".join(f"- {_inert(d, ITEM_CHARS)}" for d in plan.decisions),
        ]
    if plan.environment is not None:
        shown = _environment_lines(
            plan.environment, require_approval=require_approval, approved_by=approved_by
        )
        blocks.append("\n".join(shown))
    if approved_by:
        blocks += ["**Your approval**", f"- [x] Approved by {_login(approved_by)}"]
    elif require_approval:
        blocks += ["**Your approval**", APPROVE_LINE, APPROVE_HINT]
    else:
        blocks.append(
            "No approval needed (`workflow.require_plan_approval: false`): the team starts now. "
            "Comment `/aios cancel` to stop it."
        )
    return fit(redact("\n\n".join(blocks) + "\n"))


def _approval_box(body: str | None) -> bool | None:
    """Whether the plan comment's approval box is ticked; None if it has none."""
    match = _APPROVE_BOX.search(body or "")
    return None if match is None else match["mark"] != " "


def plan_checkbox_ticked(before: str | None, after: str) -> bool:
    """Whether an edit of a plan comment ticked its "Approve this plan" box.

    `before` is the body before the edit (`changes.body.from` of the webhook); None means
    the body did not change. Ticking any other box, or editing text, is not an approval.
    """
    marker = find_comment_marker(after)
    if before is None or marker is None or marker[0] != "plan":
        return False
    return _approval_box(before) is False and _approval_box(after) is True
