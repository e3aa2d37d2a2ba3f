"""What the progress comment shows, derived from the stored work item alone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.agents.roster import Roster, load_roster
from bot.render.progress import Note, Persona, ProgressView, Step
from bot.workitem.item import WorkItem
from bot.workitem.states import State

_PAST_TRIAGE = frozenset(State) - {State.QUEUED, State.TRIAGE, State.CLARIFYING}
_PAST_PLAN = _PAST_TRIAGE - {State.AWAITING_PLAN_APPROVAL}
_PAST_QA = frozenset({State.AWAITING_APPROVAL, State.MERGING, State.MERGED})


def persona_of(roster: Roster, role: str) -> Persona:
    member = roster.get(role)
    return Persona(name=member.name, emoji=member.emoji, role=member.title)


def progress_view(
    item: WorkItem, *, roster: Roster | None = None, now: datetime | None = None
) -> ProgressView:
    """Everything the progress comment shows, derived from the stored work item alone."""
    roster = roster or load_roster()
    team = tuple(persona_of(roster, role) for role in _team_roles(item))
    narration = item.work.narration
    return ProgressView(
        repo=item.repo,
        number=item.number,
        state=item.state.label,
        started_at=item.created_at,
        now=now or datetime.now(UTC),
        tokens=item.tokens,
        cost_usd=item.cost_usd,
        budget_usd=item.settings.budget_usd,
        team=team,
        steps=tuple(_steps(item, roster)),
        narration=(Note(persona_of(roster, narration.role), narration.text) if narration else None),
        handoff_notes=tuple(
            Note(persona_of(roster, handoff.role), handoff.note) for handoff in item.work.handoffs
        ),
        failure=item.failure if item.state is State.FAILED else None,
        mentions=frozenset({item.created_by.lower()}) if item.created_by else frozenset(),
    )


def _team_roles(item: WorkItem) -> list[str]:
    roles: list[str] = list(item.roles)
    for task in item.plan.tasks if item.plan else ():
        if task.role not in roles:
            roles.append(task.role)
    return roles or ["cto"]


def _steps(item: WorkItem, roster: Roster) -> list[Step]:
    steps: list[Step] = []
    if "cto" in item.roles:
        questions = len(item.planning.questions)
        detail = f"{roster.get('cto').name} asked {questions} question(s)" if questions else ""
        steps.append(Step("Triage and plan", done=item.state in _PAST_TRIAGE, detail=detail))
        approved_by = item.planning.approved_by
        steps.append(
            Step(
                f"Plan approved by @{approved_by}" if approved_by else "Plan approval",
                done=bool(approved_by)
                or (item.state in _PAST_PLAN and not item.settings.require_plan_approval),
            )
        )
    done_tasks = item.work.tasks_done
    for index, task in enumerate(item.plan.tasks if item.plan else ()):
        member = roster.get(task.role)
        steps.append(
            Step(
                f"{member.title}: {task.title}",
                done=index < done_tasks,
                detail=member.name if index >= done_tasks else "",
            )
        )
    pr = f"Draft pull request #{item.pr_number}" if item.pr_number else "Draft pull request"
    steps.append(Step(pr, done=item.pr_number is not None))
    rounds = [
        f"{count} {what}"
        for count, what in (
            (item.review_rounds, "QA fix round(s)"),
            (item.fix_rounds, "review fix round(s)"),
            (item.ci_fix_attempts, "CI fix(es)"),
        )
        if count
    ]
    steps.append(
        Step(
            f"QA review by {roster.get('qa').name}",
            done=item.state in _PAST_QA,
            detail=", ".join(rounds),
        )
    )
    steps.append(Step("Your review", done=item.state is State.MERGED))
    return steps
