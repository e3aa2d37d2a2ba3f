"""What the Control Center shows, derived from a repository's stored history alone (pure).

Each work item goes in one section by its state: waiting for a person (a plan to approve,
questions to answer, a pull request to review, a budget to raise), working, stopped (failed,
or handed to people because a loop ran out: "blocked"), or done in the last 14 days. Items
done earlier are only counted by the scorecard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.agents.memory import Memory
from bot.agents.roster import Roster, load_roster
from bot.render.progress import Persona
from bot.render.progress_view import persona_of, team_roles
from bot.workitem.history import ItemHistory
from bot.workitem.item import WorkItem
from bot.workitem.scorecard import Scorecard
from bot.workitem.states import State

DONE_RECENTLY = timedelta(days=14)
TOP_EXPENSIVE = 3


@dataclass(frozen=True)
class ItemLine:
    """One work item in a section; `action` names its checkbox (None: no box)."""

    number: int
    title: str
    what: str
    """Its state in words: "plan to approve", "implementing", "failed in implementing"."""
    age_s: float
    """How long it has been so: waiting, working, stopped or done."""
    team: tuple[Persona, ...]
    cost_usd: float
    action: str | None = None
    detail: str = ""
    """Loop counters, the reason it stopped, or what to do."""


@dataclass(frozen=True)
class MemoryLine:
    id: int
    text: str
    accepted: bool
    source: str
    source_url: str | None
    last_used_s: float | None
    """Seconds since an agent last had it in its prompt; None: never yet."""
    expires_in_s: float


@dataclass(frozen=True)
class BudgetView:
    month: str
    installation_spent_usd: float
    installation_budget_usd: float | None
    repo_spent_usd: float
    repo_budget_usd: float | None
    most_expensive: tuple[tuple[int, str, float], ...] = ()
    """(issue, title, cost) of the costliest items of the last 30 days."""


@dataclass(frozen=True)
class CenterView:
    repo: str
    now: datetime
    waiting: tuple[ItemLine, ...]
    working: tuple[ItemLine, ...]
    stopped: tuple[ItemLine, ...]
    done: tuple[ItemLine, ...]
    budget: BudgetView
    memories: tuple[MemoryLine, ...]
    expire_after_days: int
    scorecard: Scorecard


_WAITING = {
    State.AWAITING_PLAN_APPROVAL: "plan to approve",
    State.CLARIFYING: "questions to answer",
    State.AWAITING_APPROVAL: "pull request to review",
    State.PAUSED: "paused at its budget",
}
_WORKING = frozenset(
    {
        State.QUEUED,
        State.TRIAGE,
        State.IMPLEMENTING,
        State.VERIFYING,
        State.IN_REVIEW,
        State.MERGING,
    }
)


def _counters(item: WorkItem) -> str:
    """The loops under way, e.g. "CI fix 2/3 · QA round 1/2"."""
    settings = item.settings
    shown = [
        f"{name} {count}/{bound}"
        for name, count, bound in (
            ("CI fix", item.ci_fix_attempts, settings.max_ci_fix_attempts),
            ("QA round", item.review_rounds, settings.max_review_rounds),
            ("fix round", item.fix_rounds, settings.max_fix_rounds),
        )
        if count
    ]
    return " · ".join(shown)


def _line(
    item: WorkItem, roster: Roster, now: datetime, what: str, since: datetime, **more: str | None
) -> ItemLine:
    plain = not item.settings.personas
    return ItemLine(
        number=item.number,
        title=item.title,
        what=what,
        age_s=max(0.0, (now - since).total_seconds()),
        team=tuple(persona_of(roster, role, plain=plain) for role in team_roles(item)),
        cost_usd=item.cost_usd,
        action=more.get("action"),
        detail=more.get("detail") or "",
    )


def classify(
    items: Iterable[WorkItem], now: datetime, roster: Roster | None = None
) -> tuple[list[ItemLine], list[ItemLine], list[ItemLine], list[ItemLine]]:
    """(waiting, working, stopped, done recently): longest waiting first, newest stop first."""
    roster = roster or load_roster()
    waiting: list[tuple[datetime, ItemLine]] = []
    working: list[tuple[datetime, ItemLine]] = []
    stopped: list[tuple[datetime, ItemLine]] = []
    done: list[tuple[datetime, ItemLine]] = []
    for item in items:
        state, updated = item.state, item.updated_at
        if state is State.AWAITING_APPROVAL and item.needs_human:
            line = _line(item, roster, now, "blocked", updated, detail=item.needs_human)
            stopped.append((updated, line))
        elif state in _WAITING:
            what = _WAITING[state]
            detail = ""
            if state is State.AWAITING_APPROVAL and item.pr_number:
                what = f"pull request #{item.pr_number} to review"
            elif state is State.PAUSED:
                detail = "`/aios budget +<usd>` continues"
            action = "approve" if state is State.AWAITING_PLAN_APPROVAL else None
            line = _line(item, roster, now, what, updated, action=action, detail=detail)
            waiting.append((updated, line))
        elif state in _WORKING:
            action = None if state is State.MERGING else "cancel"
            line = _line(
                item, roster, now, state.label, item.created_at,
                action=action, detail=_counters(item),
            )  # fmt: skip
            working.append((item.created_at, line))
        elif state is State.FAILED:
            where = item.stopped_in.label if item.stopped_in else "an earlier step"
            line = _line(
                item, roster, now, f"failed in {where}", updated,
                action="retry", detail=item.failure or "a job failed",
            )  # fmt: skip
            stopped.append((updated, line))
        elif now - updated <= DONE_RECENTLY:
            who = f" by @{item.ended_by}" if item.ended_by and item.ended_by != "aios" else ""
            what = f"{state.label}{who}"
            if state is State.MERGED and item.pr_number:
                what += f" (pull request #{item.pr_number})"
            done.append((updated, _line(item, roster, now, what, updated)))
    return (
        [line for _at, line in sorted(waiting, key=lambda pair: pair[0])],
        [line for _at, line in sorted(working, key=lambda pair: pair[0])],
        [line for _at, line in sorted(stopped, key=lambda pair: pair[0], reverse=True)],
        [line for _at, line in sorted(done, key=lambda pair: pair[0], reverse=True)],
    )


def memory_lines(
    memories: Sequence[Memory], now: datetime, expire_after_days: int
) -> tuple[MemoryLine, ...]:
    """Accepted memories first (by id), then the proposed ones."""
    ordered = sorted(memories, key=lambda m: (not m.accepted, m.id))
    return tuple(
        MemoryLine(
            id=m.id,
            text=m.text,
            accepted=m.accepted,
            source=m.source,
            source_url=m.source_url,
            last_used_s=None if m.last_used_at is None else (now - m.last_used_at).total_seconds(),
            expires_in_s=(m.expires_at(expire_after_days) - now).total_seconds(),
        )
        for m in ordered
    )


def most_expensive(
    histories: Iterable[ItemHistory], now: datetime, count: int = TOP_EXPENSIVE
) -> tuple[tuple[int, str, float], ...]:
    recent = [
        h.item
        for h in histories
        if h.item.cost_usd > 0 and now - h.item.updated_at <= timedelta(30)
    ]
    recent.sort(key=lambda item: item.cost_usd, reverse=True)
    return tuple((item.number, item.title, item.cost_usd) for item in recent[:count])


def center_view(
    repo: str,
    histories: Sequence[ItemHistory],
    *,
    now: datetime,
    memories: Sequence[Memory],
    expire_after_days: int,
    budget: BudgetView,
    scorecard: Scorecard,
    roster: Roster | None = None,
) -> CenterView:
    waiting, working, stopped, done = classify((h.item for h in histories), now, roster)
    return CenterView(
        repo=repo,
        now=now,
        waiting=tuple(waiting),
        working=tuple(working),
        stopped=tuple(stopped),
        done=tuple(done),
        budget=budget,
        memories=memory_lines(memories, now, expire_after_days),
        expire_after_days=expire_after_days,
        scorecard=scorecard,
    )
