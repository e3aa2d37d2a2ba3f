"""What the progress comment shows, derived from the stored work item alone (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.agents.roster import Roster, load_roster
from bot.render.progress import (
    BUDGET_HINT,
    RESTARTING,
    RESTARTING_NOTE,
    RETRY_HINT,
    Note,
    Persona,
    ProgressView,
    Step,
)
from bot.workitem.item import WorkItem
from bot.workitem.states import State

_PAST_TRIAGE = frozenset(State) - {State.QUEUED, State.TRIAGE, State.CLARIFYING}
_PAST_PLAN = _PAST_TRIAGE - {State.AWAITING_PLAN_APPROVAL}
_PAST_QA = frozenset({State.AWAITING_APPROVAL, State.MERGING, State.MERGED})


_STOPPED = frozenset({State.FAILED, State.PAUSED, State.CANCELLED})


def persona_of(roster: Roster, role: str, *, plain: bool = False) -> Persona:
    """The role's persona, or with `plain` (`progress.personas: false`) just its title."""
    member = roster.get(role)
    if plain:
        return Persona(name=member.title, emoji="", role=member.title)
    return Persona(name=member.name, emoji=member.emoji, role=member.title)


def _stop(item: WorkItem) -> tuple[str | None, str, str]:
    """(what stopped the agents, the kind of stop, the next step) as the banner says it."""
    if item.state is State.FAILED:
        return item.failure or "a job failed", "failed", item.stop_hint or RETRY_HINT
    if item.state is State.PAUSED:
        return item.failure or "the budget is reached", "paused", BUDGET_HINT
    if item.state is State.CANCELLED:
        who = f" by @{item.ended_by}" if item.ended_by and item.ended_by != "aios" else ""
        return f"this work item was cancelled{who}; nothing more runs.", "cancelled", ""
    if item.state is State.AWAITING_APPROVAL and item.needs_human:
        return item.needs_human, "needs_human", ""
    return None, "failed", RETRY_HINT


def progress_view(
    item: WorkItem,
    *,
    roster: Roster | None = None,
    now: datetime | None = None,
    operator_warnings: tuple[str, ...] = (),
) -> ProgressView:
    """Everything the progress comment shows, derived from the stored work item alone, and
    `operator_warnings` about the AIOS that publishes it (the caller finds them)."""
    roster = roster or load_roster()
    plain = not item.settings.personas
    team = tuple(persona_of(roster, role, plain=plain) for role in team_roles(item))
    failure, kind, hint = _stop(item)
    narration = item.work.narration if failure is None else None
    restarting = narration is not None and narration.text == RESTARTING
    if narration is not None and restarting:
        narration = replace(narration, text=RESTARTING_NOTE)
    return ProgressView(
        repo=item.repo,
        number=item.number,
        state=RESTARTING if restarting else item.state.label,
        started_at=item.created_at,
        now=now or datetime.now(UTC),
        tokens=item.tokens,
        cost_usd=item.cost_usd,
        budget_usd=item.settings.budget_usd,
        team=team,
        steps=tuple(_steps(item, roster)),
        narration=(
            Note(persona_of(roster, narration.role, plain=plain), narration.text)
            if narration
            else None
        ),
        handoff_notes=tuple(
            Note(persona_of(roster, handoff.role, plain=plain), handoff.note)
            for handoff in item.work.handoffs
        ),
        failure=failure,
        stop_kind=kind,
        stop_hint=hint,
        ignored_editors=item.issue.ignored_editors if item.issue else (),
        mentions=frozenset({item.created_by.lower()}) if item.created_by else frozenset(),
        environment=item.work.environment,
        operator_warnings=operator_warnings,
    )


def team_roles(item: WorkItem) -> list[str]:
    """The roles working on the item: the label's, then the plan's, in order (the CTO alone
    until there is a plan)."""
    roles: list[str] = list(item.roles)
    for task in item.plan.tasks if item.plan else ():
        if task.role not in roles:
            roles.append(task.role)
    return roles or ["cto"]


def _steps(item: WorkItem, roster: Roster) -> list[Step]:
    # A stopped item's steps are ticked as they were where it stopped: the step that failed
    # is the first unticked one, and nothing after it is ticked.
    state = item.stopped_in if item.state in _STOPPED and item.stopped_in else item.state
    steps: list[Step] = []
    if "cto" in item.roles:
        questions = len(item.planning.questions)
        cto = roster.get("cto").title if not item.settings.personas else roster.get("cto").name
        detail = f"{cto} asked {questions} question(s)" if questions else ""
        steps.append(Step("Triage and plan", done=state in _PAST_TRIAGE, detail=detail))
        approved_by = item.planning.approved_by
        steps.append(
            Step(
                f"Plan approved by @{approved_by}" if approved_by else "Plan approval",
                done=bool(approved_by)
                or (state in _PAST_PLAN and not item.settings.require_plan_approval),
            )
        )
    done_tasks = item.work.tasks_done
    for index, task in enumerate(item.plan.tasks if item.plan else ()):
        member = roster.get(task.role)
        who = member.name if item.settings.personas else ""
        steps.append(
            Step(
                f"{member.title}: {task.title}",
                done=index < done_tasks,
                detail=who if index >= done_tasks else "",
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
    qa = f"QA review by {roster.get('qa').name}" if item.settings.personas else "QA review"
    steps.append(Step(qa, done=state in _PAST_QA, detail=", ".join(rounds)))
    steps.append(Step("Your review", done=state is State.MERGED))
    return steps
