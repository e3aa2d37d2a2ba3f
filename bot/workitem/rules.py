"""The work-item state machine: a table of (state, event) → (next state, effects), pure.

A work item is one issue and, later, its pull request. Handlers and jobs report what
happened as an `Event`; `transition` looks the pair up in `RULES` and returns the new
item, the `Effect`s for jobs to carry out (in order) and an audit entry — or a
`Rejected` with a reason to log and reply with. Nothing here does I/O.

docs/workflow.md is generated from this table by `bot.workitem.docs`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from bot.workitem.audit import AuditEntry
from bot.workitem.item import WorkItem
from bot.workitem.states import (
    ACTIVE_STATES,
    STOPPED_STATES,
    TERMINAL_STATES,
    Counter,
    Effect,
    Event,
    State,
)


class WorkflowPolicy(Protocol):
    """The `workflow:` settings of `.github/aios.yml` that the table's guards read."""

    @property
    def require_plan_approval(self) -> bool: ...
    @property
    def max_review_rounds(self) -> int: ...
    @property
    def max_fix_rounds(self) -> int: ...
    @property
    def max_ci_fix_attempts(self) -> int: ...


class Check(enum.StrEnum):
    PLAN_APPROVAL_REQUIRED = "plan approval required"
    PLAN_APPROVAL_SKIPPED = "plan approval not required"
    LEFT = "left"
    EXHAUSTED = "exhausted"
    HAS_PR = "PR open"
    NO_PR = "no PR"
    FAILED_IN = "stopped in"
    REPEATED_FAILURE = "same CI failure twice in a row"
    NEW_FAILURE = "a new CI failure"


@dataclass(frozen=True)
class Guard:
    """A condition on the item and the policy that a rule needs; plain data, so rows compare."""

    check: Check
    counter: Counter | None = None
    state: State | None = None

    def holds(self, item: WorkItem, policy: WorkflowPolicy) -> bool:
        match self.check:
            case Check.PLAN_APPROVAL_REQUIRED:
                return policy.require_plan_approval
            case Check.PLAN_APPROVAL_SKIPPED:
                return not policy.require_plan_approval
            case Check.LEFT | Check.EXHAUSTED:
                assert self.counter is not None
                left = getattr(item, self.counter) < getattr(policy, f"max_{self.counter}")
                return left if self.check is Check.LEFT else not left
            case Check.HAS_PR:
                return item.pr_number is not None
            case Check.NO_PR:
                return item.pr_number is None
            case Check.FAILED_IN:
                return item.stopped_in is self.state
            case Check.REPEATED_FAILURE | Check.NEW_FAILURE:
                repeated = item.ci.repeated
                return repeated if self.check is Check.REPEATED_FAILURE else not repeated
        raise AssertionError(self.check)

    @property
    def label(self) -> str:
        if self.counter is not None:
            return f"{self.counter.replace('_', ' ')} {self.check}"
        if self.state is not None:
            return f"{self.check} {self.state}"
        return str(self.check)

    def unmet(self, item: WorkItem, policy: WorkflowPolicy) -> str:
        """Why the rule does not apply, in words a maintainer can act on."""
        match self.check:
            case Check.NO_PR:
                return (
                    f"pull request #{item.pr_number} is open, so it decides: "
                    "merge it or close it to end the work item"
                )
            case Check.HAS_PR:
                return "there is no pull request yet"
            case Check.FAILED_IN:
                where = item.stopped_in.label if item.stopped_in else "an unknown step"
                return f"the failed step ({where}) cannot be resumed"
        return f"the rule needs: {self.label}"


PLAN_APPROVAL_REQUIRED = Guard(Check.PLAN_APPROVAL_REQUIRED)
REPEATED_FAILURE = Guard(Check.REPEATED_FAILURE)
NEW_FAILURE = Guard(Check.NEW_FAILURE)
PLAN_APPROVAL_SKIPPED = Guard(Check.PLAN_APPROVAL_SKIPPED)
HAS_PR = Guard(Check.HAS_PR)
NO_PR = Guard(Check.NO_PR)


def left(counter: Counter) -> Guard:
    return Guard(Check.LEFT, counter=counter)


def exhausted(counter: Counter) -> Guard:
    return Guard(Check.EXHAUSTED, counter=counter)


def failed_in(state: State) -> Guard:
    return Guard(Check.FAILED_IN, state=state)


@dataclass(frozen=True)
class Rule:
    """One row: in `state`, on `event`, when every guard holds → `target`, doing `effects`."""

    state: State
    event: Event
    target: State
    effects: tuple[Effect, ...]
    when: tuple[Guard, ...] = ()
    count: Counter | None = None


S, E, X = State, Event, Effect
_P = (X.UPDATE_PROGRESS,)
_STOP = (X.CANCEL_JOBS, X.UPDATE_PROGRESS)
_LEARN = (X.LEARN_FROM_PR,)
_REVIEW, _FIX, _CI = Counter.REVIEW_ROUNDS, Counter.FIX_ROUNDS, Counter.CI_FIX_ATTEMPTS

RESUME: Mapping[State, tuple[Effect, ...]] = {
    S.TRIAGE: (X.RUN_CTO_TRIAGE,),
    S.CLARIFYING: (X.POST_QUESTIONS,),
    S.AWAITING_PLAN_APPROVAL: (X.POST_PLAN,),
    S.VERIFYING: (X.OPEN_DRAFT_PR, X.WATCH_CI),
    S.IN_REVIEW: (X.RUN_QA_REVIEW,),
    S.AWAITING_APPROVAL: (X.REQUEST_REVIEW,),
    S.MERGING: (X.MERGE,),
}
"""What `retry` runs again for each state a job can fail in (implementing: see RULES)."""


def _ci_failure_rules(
    state: State, stop: tuple[Effect, ...], *before_fix: Effect
) -> tuple[Rule, ...]:
    """CI failed in `state`: fix it, unless it is the same failure again or attempts ran out."""
    to_humans = S.AWAITING_APPROVAL
    return (
        Rule(state, E.CI_FAILED, to_humans, (*stop, *_P), (REPEATED_FAILURE,)),
        Rule(state, E.CI_FAILED, to_humans, (*stop, *_P), (NEW_FAILURE, exhausted(_CI))),
        Rule(
            state,
            E.CI_FAILED,
            S.IMPLEMENTING,
            (*before_fix, X.RUN_FIX, *_P),
            (NEW_FAILURE, left(_CI)),
            _CI,
        ),
    )


# fmt: off
RULES: tuple[Rule, ...] = (
    Rule(S.QUEUED, E.LABELED_CTO, S.TRIAGE, (X.RUN_CTO_TRIAGE, *_P)),
    Rule(S.QUEUED, E.LABELED_ROLE, S.IMPLEMENTING, (X.START_IMPLEMENTATION, *_P)),
    Rule(S.TRIAGE, E.TRIAGE_ASKED_QUESTIONS, S.CLARIFYING, (X.POST_QUESTIONS, *_P)),
    Rule(
        S.TRIAGE, E.PLAN_PROPOSED, S.AWAITING_PLAN_APPROVAL, (X.POST_PLAN, *_P),
        when=(PLAN_APPROVAL_REQUIRED,),
    ),
    Rule(
        S.TRIAGE, E.PLAN_PROPOSED, S.IMPLEMENTING, (X.POST_PLAN, X.START_IMPLEMENTATION, *_P),
        when=(PLAN_APPROVAL_SKIPPED,),
    ),
    Rule(S.TRIAGE, E.PLAN_FEEDBACK, S.TRIAGE, (X.CANCEL_JOBS, X.RUN_CTO_TRIAGE, *_P)),
    Rule(S.CLARIFYING, E.QUESTIONS_ANSWERED, S.TRIAGE, (X.RUN_CTO_TRIAGE, *_P)),
    Rule(S.CLARIFYING, E.PLAN_FEEDBACK, S.TRIAGE, (X.RUN_CTO_TRIAGE, *_P)),
    Rule(S.AWAITING_PLAN_APPROVAL, E.APPROVED, S.IMPLEMENTING, (X.START_IMPLEMENTATION, *_P)),
    Rule(S.AWAITING_PLAN_APPROVAL, E.PLAN_FEEDBACK, S.TRIAGE, (X.RUN_CTO_TRIAGE, *_P)),
    Rule(S.IMPLEMENTING, E.IMPLEMENTATION_DONE, S.VERIFYING, (X.OPEN_DRAFT_PR, X.WATCH_CI, *_P)),
    Rule(S.VERIFYING, E.CI_PASSED, S.IN_REVIEW, (X.RUN_QA_REVIEW, *_P)),
    *_ci_failure_rules(S.VERIFYING, (X.REQUEST_REVIEW, X.ASK_HUMAN)),
    Rule(S.VERIFYING, E.CHANGES_REQUESTED, S.IMPLEMENTING, (X.RUN_FIX, *_P), (left(_FIX),), _FIX),
    Rule(
        S.VERIFYING, E.CHANGES_REQUESTED, S.AWAITING_APPROVAL,
        (X.REQUEST_REVIEW, X.ASK_HUMAN, *_P), (exhausted(_FIX),),
    ),
    Rule(S.IN_REVIEW, E.REVIEW_PASSED, S.AWAITING_APPROVAL, (X.REQUEST_REVIEW, *_P)),
    Rule(
        S.IN_REVIEW, E.REVIEW_CHANGES_REQUESTED, S.IMPLEMENTING, (X.RUN_FIX, *_P),
        (left(_REVIEW),), _REVIEW,
    ),
    Rule(
        S.IN_REVIEW, E.REVIEW_CHANGES_REQUESTED, S.AWAITING_APPROVAL,
        (X.REQUEST_REVIEW, X.ASK_HUMAN, *_P), (exhausted(_REVIEW),),
    ),
    # CI failing while the QA agent reviews: its review would be of code about to change.
    *_ci_failure_rules(S.IN_REVIEW, (X.CANCEL_JOBS, X.REQUEST_REVIEW, X.ASK_HUMAN), X.CANCEL_JOBS),
    Rule(
        S.IN_REVIEW, E.CHANGES_REQUESTED, S.IMPLEMENTING, (X.CANCEL_JOBS, X.RUN_FIX, *_P),
        (left(_FIX),), _FIX,
    ),
    Rule(
        S.IN_REVIEW, E.CHANGES_REQUESTED, S.AWAITING_APPROVAL,
        (X.CANCEL_JOBS, X.REQUEST_REVIEW, X.ASK_HUMAN, *_P), (exhausted(_FIX),),
    ),
    Rule(
        S.AWAITING_APPROVAL, E.CHANGES_REQUESTED, S.IMPLEMENTING, (X.RUN_FIX, *_P),
        (left(_FIX),), _FIX,
    ),
    Rule(
        S.AWAITING_APPROVAL, E.CHANGES_REQUESTED, S.AWAITING_APPROVAL, (X.ASK_HUMAN, *_P),
        (exhausted(_FIX),),
    ),
    Rule(S.AWAITING_APPROVAL, E.REVIEW_REQUESTED, S.IN_REVIEW, (X.RUN_QA_REVIEW, *_P)),
    Rule(S.AWAITING_APPROVAL, E.CI_PASSED, S.AWAITING_APPROVAL, _P),
    *_ci_failure_rules(S.AWAITING_APPROVAL, (X.ASK_HUMAN,)),
    Rule(S.AWAITING_APPROVAL, E.APPROVED, S.MERGING, (X.MERGE, *_P)),
    Rule(S.MERGING, E.MERGE_BLOCKED, S.AWAITING_APPROVAL, (X.ASK_HUMAN, *_P)),
    Rule(S.MERGING, E.MERGED, S.MERGED, (*_LEARN, *_P)),
    # A human merging or closing the PR by hand ends the work item wherever it is.
    *(
        Rule(s, e, target, (*_LEARN, *_STOP))
        for e, target in ((E.MERGED, S.MERGED), (E.PR_CLOSED, S.CANCELLED))
        for s in (S.IMPLEMENTING, S.VERIFYING, S.IN_REVIEW, S.AWAITING_APPROVAL)
    ),
    Rule(S.MERGING, E.PR_CLOSED, S.CANCELLED, (*_LEARN, *_STOP)),
    *(
        Rule(s, E.ISSUE_CLOSED, S.CANCELLED, _STOP)
        for s in (S.QUEUED, S.TRIAGE, S.CLARIFYING, S.AWAITING_PLAN_APPROVAL)
    ),
    Rule(S.IMPLEMENTING, E.ISSUE_CLOSED, S.CANCELLED, _STOP, (NO_PR,)),
    # A merge under way cannot be called back, so merging accepts no cancel.
    *(Rule(s, E.CANCEL, S.CANCELLED, _STOP) for s in ACTIVE_STATES if s is not S.MERGING),
    *(
        Rule(s, E.JOB_FAILED, S.FAILED, (X.POST_FAILURE, *_P))
        for s in ACTIVE_STATES if s is not S.QUEUED
    ),
    *(Rule(S.FAILED, E.RETRY, s, (*RESUME[s], *_P), (failed_in(s),)) for s in RESUME),
    Rule(
        S.FAILED, E.RETRY, S.IMPLEMENTING, (X.START_IMPLEMENTATION, *_P),
        (failed_in(S.IMPLEMENTING), NO_PR),
    ),
    Rule(
        S.FAILED, E.RETRY, S.IMPLEMENTING, (X.RUN_FIX, *_P), (failed_in(S.IMPLEMENTING), HAS_PR)
    ),
    # Facts from GitHub and a maintainer's cancel close out a failed item; nothing runs.
    Rule(S.FAILED, E.CANCEL, S.CANCELLED, _P),
    *(
        rule
        for stopped in (S.FAILED, S.PAUSED)
        for rule in (
            Rule(stopped, E.ISSUE_CLOSED, S.CANCELLED, _P, (NO_PR,)),
            Rule(stopped, E.PR_CLOSED, S.CANCELLED, (*_LEARN, *_P)),
            Rule(stopped, E.MERGED, S.MERGED, (*_LEARN, *_P)),
        )
    ),
    # The budget: an agent job stops between steps at 80 %, or mid-step at 100 %; raising it
    # resumes the step it stopped in, exactly as a retry does.
    *(
        Rule(s, E.BUDGET_REACHED, S.PAUSED, (X.ASK_FOR_BUDGET, *_P))
        for s in (S.TRIAGE, S.IMPLEMENTING, S.IN_REVIEW)
    ),
    *(
        Rule(S.PAUSED, E.BUDGET_RAISED, s, (*RESUME[s], *_P), (failed_in(s),))
        for s in (S.TRIAGE, S.IN_REVIEW)
    ),
    Rule(
        S.PAUSED, E.BUDGET_RAISED, S.IMPLEMENTING, (X.START_IMPLEMENTATION, *_P),
        (failed_in(S.IMPLEMENTING), NO_PR),
    ),
    Rule(
        S.PAUSED, E.BUDGET_RAISED, S.IMPLEMENTING, (X.RUN_FIX, *_P),
        (failed_in(S.IMPLEMENTING), HAS_PR),
    ),
)
# fmt: on
"""The whole workflow; a (state, event) pair absent here is rejected with a reason."""


def _index(rules: tuple[Rule, ...]) -> dict[tuple[State, Event], tuple[Rule, ...]]:
    index: dict[tuple[State, Event], tuple[Rule, ...]] = {}
    for rule in rules:
        index[rule.state, rule.event] = (*index.get((rule.state, rule.event), ()), rule)
    return index


_RULES_BY_KEY = _index(RULES)

_REJECTIONS: Mapping[Event, str] = {
    E.APPROVED: "nothing is waiting for approval",
    E.RETRY: "nothing to retry: only a failed work item can be retried",
    E.CANCEL: "a merge is under way and cannot be called back",
    E.PLAN_FEEDBACK: (
        "the plan can change only before implementation starts; "
        "use `/aios fix <text>` to steer the code"
    ),
    E.CHANGES_REQUESTED: (
        "there is no pushed work to change yet; ask again once the agents have pushed "
        "(before that, `/aios plan <text>` changes the plan)"
    ),
    E.REVIEW_REQUESTED: "a QA review can be asked for once the pull request awaits approval",
    E.LABELED_CTO: "AIOS is already working on this issue",
    E.LABELED_ROLE: "AIOS is already working on this issue",
    E.ISSUE_CLOSED: "the pull request decides now: merge it or close it to end the work item",
    E.QUESTIONS_ANSWERED: "no questions are waiting for an answer",
}
"""Replies for events that arrive in a state with no row for them; others read as stale."""


@dataclass(frozen=True)
class Transition:
    """An accepted event: the updated item, the effects to carry out in order, the audit."""

    item: WorkItem
    rule: Rule
    effects: tuple[Effect, ...]
    audit: AuditEntry
    accepted: bool = True

    @property
    def new_state(self) -> State:
        return self.item.state


@dataclass(frozen=True)
class Rejected:
    """An event the item's state does not accept; `reason` is fit to reply with."""

    item: WorkItem
    event: Event
    reason: str
    audit: AuditEntry
    accepted: bool = False


def transition(
    item: WorkItem,
    event: Event,
    *,
    actor: str,
    at: datetime,
    policy: WorkflowPolicy | None = None,
    detail: str = "",
) -> Transition | Rejected:
    """Apply `event` to `item` (never mutated) under `policy` (default: the item's own settings).

    `actor` is the GitHub login (or job name) behind the event and `detail` free text
    for the audit (for `job_failed`: the failure shown to maintainers).
    """
    policy = policy if policy is not None else item.settings
    rules = _RULES_BY_KEY.get((item.state, event), ())
    for rule in rules:
        if all(guard.holds(item, policy) for guard in rule.when):
            changes: dict[str, Any] = {"state": rule.target, "updated_at": at}
            if rule.count is not None:
                changes[rule.count] = getattr(item, rule.count) + 1
            changes.update(_stop_fields(item, rule.target, actor, detail))
            if item.state is State.AWAITING_APPROVAL and (
                rule.target is not State.AWAITING_APPROVAL or event is Event.CI_PASSED
            ):
                changes["needs_human"] = None  # moved on, or CI turned green: nothing to ask
            audit = AuditEntry(at, actor, event, item.state, rule.target, rule.effects, detail)
            return Transition(replace(item, **changes), rule, rule.effects, audit)
    reason = rejection_reason(item, event, policy)
    audit = AuditEntry(at, actor, event, item.state, None, (), detail, rejected=reason)
    return Rejected(item, event, reason, audit)


def _stop_fields(item: WorkItem, target: State, actor: str, detail: str) -> dict[str, Any]:
    """What a transition records about stopping: where and why it stopped, who ended it."""
    if target in STOPPED_STATES:
        stopped_in = item.stopped_in if item.state in STOPPED_STATES else item.state
        return {"stopped_in": stopped_in, "failure": detail or "a job failed"}
    if target is State.CANCELLED:
        return {"stopped_in": item.stopped_in or item.state, "ended_by": actor}
    if target is State.MERGED:
        return {"ended_by": actor}
    if item.state in STOPPED_STATES:
        return {"stopped_in": None, "failure": None, "stop_hint": None}
    return {}


def rejection_reason(item: WorkItem, event: Event, policy: WorkflowPolicy) -> str:
    """Why `event` does nothing in `item`'s state, ending with the state for context."""
    where = f"(state: {item.state})"
    rules = _RULES_BY_KEY.get((item.state, event), ())
    if rules:
        unmet = [g.unmet(item, policy) for r in rules for g in r.when if not g.holds(item, policy)]
        return f"{'; '.join(dict.fromkeys(unmet))} {where}"
    if item.state is State.FAILED:
        step = item.stopped_in.label if item.stopped_in else "an earlier step"
        return f"the work item failed in {step}: comment `/aios retry` or `/aios cancel` {where}"
    if item.state is State.PAUSED:
        return (
            "the work item is paused at its budget: `/aios budget +<usd>` raises it and "
            f"continues, `/aios cancel` stops {where}"
        )
    if item.state in TERMINAL_STATES:
        return (
            f"the work item is {item.state.label} and accepts nothing more; "
            f"add the `aios` label again to start a new one {where}"
        )
    default = f"{event} was not expected while {item.state.label}; ignored as stale"
    return f"{_REJECTIONS.get(event, default)} {where}"
