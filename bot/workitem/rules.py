"""The work-item state machine: a table of (state, event) → (next state, effects), pure.

A work item is one issue and, later, its pull request. Handlers and jobs report what
happened as an `Event`; `transition` looks the pair up in `RULES` and returns the new
item, the `Effect`s for jobs to carry out (in order) and an audit entry — or a
`Rejected` with a reason to log and reply with. Nothing here does I/O.

Keep docs/workflow.md in sync by running `python -m bot.workitem.rules > docs/workflow.md`.
"""

from __future__ import annotations

import enum
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Protocol, Self

REGENERATE_DOCS = "python -m bot.workitem.rules > docs/workflow.md"
"""The command that rewrites docs/workflow.md from the table."""

SCHEMA_VERSION = 1
"""Version of `WorkItem.to_dict()`; bump it (and teach `from_dict` the old one) on change."""

SLUG_MAX_CHARS = 40
"""Longest slug in a branch name; keeps `aios/<n>-<slug>` readable in GitHub's UI."""


class _Described(enum.StrEnum):
    """A string enum whose members carry a one-line description for docs and replies."""

    doc: str

    def __new__(cls, value: str, doc: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        return member

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class State(_Described):
    QUEUED = "queued", "created from a label; nothing has started yet"
    TRIAGE = "triage", "the CTO agent reads the issue to plan it or to ask questions"
    CLARIFYING = "clarifying", "the CTO asked questions; waiting for an answer on the issue"
    AWAITING_PLAN_APPROVAL = (
        "awaiting_plan_approval",
        "the plan is posted; waiting for `/aios approve` or `/aios plan <text>`",
    )
    IMPLEMENTING = "implementing", "coder agents edit the branch: first version or a fix round"
    VERIFYING = "verifying", "the PR is up; waiting for CI on its head commit"
    IN_REVIEW = "in_review", "the QA agent reviews the diff"
    AWAITING_APPROVAL = "awaiting_approval", "the PR is with the maintainers: review, approve"
    MERGING = "merging", "approved; AIOS merges the PR"
    MERGED = "merged", "the PR was merged"
    FAILED = "failed", "a job gave up; `/aios retry` resumes the step that failed"
    CANCELLED = "cancelled", "stopped by a maintainer, or the issue or PR was closed"


class Event(_Described):
    LABELED_CTO = "labeled_cto", "label `aios` added to the issue"
    LABELED_ROLE = "labeled_role", "label `aios:<role>` added: that role's agent takes the issue"
    TRIAGE_ASKED_QUESTIONS = "triage_asked_questions", "triage job: the CTO needs answers first"
    PLAN_PROPOSED = "plan_proposed", "triage job: the CTO produced a plan (in `WorkItem.plan`)"
    QUESTIONS_ANSWERED = "questions_answered", "a maintainer answered the CTO's questions"
    PLAN_FEEDBACK = "plan_feedback", "`/aios plan <text>`: plan again with this guidance"
    APPROVED = "approved", "`/aios approve`, the plan's approval box, or an approving PR review"
    IMPLEMENTATION_DONE = "implementation_done", "an implementation or fix job pushed its commits"
    CI_PASSED = "ci_passed", "required checks on the PR head are green (or there are none)"
    CI_FAILED = "ci_failed", "a required check on the PR head failed"
    REVIEW_PASSED = "review_passed", "the QA agent's review found nothing blocking"
    REVIEW_CHANGES_REQUESTED = "review_changes_requested", "the QA agent's review asks for changes"
    CHANGES_REQUESTED = (
        "changes_requested",
        "a maintainer asked for changes: review, inline comments or `/aios fix <text>`",
    )
    REVIEW_REQUESTED = "review_requested", "`/aios review`: ask the QA agent for another review"
    MERGE_BLOCKED = "merge_blocked", "merge job: the merge policy does not hold (checks, conflicts)"
    JOB_FAILED = "job_failed", "a job gave up after its own retries"
    RETRY = "retry", "`/aios retry`, or the Control Center's retry box"
    CANCEL = "cancel", "`/aios cancel`, or the Control Center's cancel box"
    ISSUE_CLOSED = "issue_closed", "the issue was closed"
    PR_CLOSED = "pr_closed", "the agents' PR was closed without merging"
    MERGED = "merged", "the agents' PR was merged, by AIOS or by hand"


class Effect(_Described):
    UPDATE_PROGRESS = "update_progress", "re-render the progress comment and the check run"
    RUN_CTO_TRIAGE = "run_cto_triage", "run the CTO agent on the issue, answers and feedback so far"
    POST_QUESTIONS = "post_questions", "post the CTO's questions, addressed to the requester"
    POST_PLAN = "post_plan", "upsert the plan comment (with its approval box when one is needed)"
    START_IMPLEMENTATION = (
        "start_implementation",
        "create or reuse the branch `WorkItem.branch` and run the coder agents on the plan",
    )
    OPEN_DRAFT_PR = "open_draft_pr", "open the draft PR for the branch unless one is open (upsert)"
    WATCH_CI = (
        "watch_ci",
        "note the head commit; report ci_passed at once if the repo has no checks",
    )
    RUN_QA_REVIEW = "run_qa_review", "run the QA agent: a review with inline comments on the diff"
    RUN_FIX = (
        "run_fix",
        "run the coder agent on open review threads, failing checks or the fix request; "
        "reply in each thread",
    )
    REQUEST_REVIEW = (
        "request_review",
        "mark the PR ready and ask the maintainers to review; report approved if a valid "
        "approval of the head commit already exists",
    )
    ASK_HUMAN = "ask_human", "say why the agents stopped (a bound, a blocked merge) and what to do"
    MERGE = "merge", "merge with the configured method; report merged or merge_blocked"
    CANCEL_JOBS = "cancel_jobs", "cancel the work item's queued and running jobs"
    POST_FAILURE = "post_failure", "show the failure and the exact next step (`/aios retry`)"


class Counter(enum.StrEnum):
    """A bounded loop; the bound is the policy attribute `max_<counter>`."""

    REVIEW_ROUNDS = "review_rounds"
    FIX_ROUNDS = "fix_rounds"
    CI_FIX_ATTEMPTS = "ci_fix_attempts"


ACTIVE_STATES = tuple(s for s in State if s not in (State.MERGED, State.FAILED, State.CANCELLED))
"""States in which agents or maintainers still have something to do."""

TERMINAL_STATES = frozenset({State.MERGED, State.FAILED, State.CANCELLED})
"""States that accept no steering; only `failed` can be retried (and closed out)."""


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


@dataclass(frozen=True)
class WorkflowConfig:
    """Defaults of the workflow policy; any object with these attributes will do."""

    require_plan_approval: bool = True
    max_review_rounds: int = 2
    max_fix_rounds: int = 3
    max_ci_fix_attempts: int = 3


class Check(enum.StrEnum):
    PLAN_APPROVAL_REQUIRED = "plan approval required"
    PLAN_APPROVAL_SKIPPED = "plan approval not required"
    LEFT = "left"
    EXHAUSTED = "exhausted"
    HAS_PR = "PR open"
    NO_PR = "no PR"
    FAILED_IN = "failed in"
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
                return item.failed_from is self.state
            case Check.REPEATED_FAILURE | Check.NEW_FAILURE:
                repeated = bool(item.extra.get(CI_REPEATED))
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
                where = item.failed_from.label if item.failed_from else "an unknown step"
                return f"the failed step ({where}) cannot be resumed"
        return f"the rule needs: {self.label}"


CI_REPEATED = "ci_repeated"
"""`WorkItem.extra` flag: the CI failure being reported is the one the last fix was for."""

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
    Rule(S.MERGING, E.MERGED, S.MERGED, _P),
    # A human merging or closing the PR by hand ends the work item wherever it is.
    *(
        Rule(s, e, target, _STOP)
        for e, target in ((E.MERGED, S.MERGED), (E.PR_CLOSED, S.CANCELLED))
        for s in (S.IMPLEMENTING, S.VERIFYING, S.IN_REVIEW, S.AWAITING_APPROVAL)
    ),
    Rule(S.MERGING, E.PR_CLOSED, S.CANCELLED, _STOP),
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
    Rule(S.FAILED, E.ISSUE_CLOSED, S.CANCELLED, _P, (NO_PR,)),
    Rule(S.FAILED, E.PR_CLOSED, S.CANCELLED, _P),
    Rule(S.FAILED, E.MERGED, S.MERGED, _P),
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


@dataclass(frozen=True, kw_only=True)
class WorkItem:
    """One issue and, later, its pull request, as stored (JSON via `to_dict`)."""

    repo: str
    number: int
    installation_id: int
    created_at: datetime
    updated_at: datetime
    title: str = ""
    created_by: str = ""
    state: State = State.QUEUED
    roles: tuple[str, ...] = ()
    branch: str | None = None
    pr_number: int | None = None
    plan: dict[str, Any] | None = None
    review_rounds: int = 0
    fix_rounds: int = 0
    ci_fix_attempts: int = 0
    failed_from: State | None = None
    failure: str | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    progress_comment_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _REPO.fullmatch(self.repo):
            raise ValueError(f"repo must be 'owner/name', got {self.repo!r}")
        for name in ("number", "installation_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("created_at", "updated_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware (use datetime.now(UTC))")

    @classmethod
    def new(
        cls,
        repo: str,
        number: int,
        installation_id: int,
        *,
        title: str,
        created_by: str,
        at: datetime,
        roles: tuple[str, ...] = (),
    ) -> WorkItem:
        """A queued item for a freshly labeled issue, its branch name already chosen."""
        return cls(
            repo=repo,
            number=number,
            installation_id=installation_id,
            title=title,
            created_by=created_by,
            created_at=at,
            updated_at=at,
            roles=roles,
            branch=branch_name(number, title),
        )

    @property
    def key(self) -> str:
        return f"{self.repo}#{self.number}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": SCHEMA_VERSION}
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, State):
                value = value.value
            data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkItem:
        """Read a stored item; raises ValueError naming the field that is wrong."""
        version = data.get("v")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"work item schema version {version!r} is not {SCHEMA_VERSION}; "
                "it was written by another AIOS version"
            )
        unknown = sorted(set(data) - set(_FIELDS) - {"v"})
        if unknown:
            raise ValueError(f"unknown work item field(s): {', '.join(unknown)}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise ValueError(f"work item field(s) missing: {', '.join(missing)}")
        values = dict(data)
        values.pop("v")
        try:
            for name in ("created_at", "updated_at"):
                values[name] = datetime.fromisoformat(values[name])
            for name in ("state", "failed_from"):
                if values.get(name) is not None:
                    values[name] = State(values[name])
            if "roles" in values:
                values["roles"] = tuple(values["roles"])
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"work item is malformed: {exc}") from None


_FIELDS = tuple(f.name for f in fields(WorkItem))
_REQUIRED = ("repo", "number", "installation_id", "created_at", "updated_at")
_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when, and what came of it; flat strings, ready for a Redis stream."""

    at: datetime
    actor: str
    event: Event
    from_state: State
    to_state: State | None
    effects: tuple[Effect, ...] = ()
    detail: str = ""
    rejected: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "event": self.event.value,
            "from": self.from_state.value,
            "to": self.to_state.value if self.to_state else "",
            "effects": ",".join(self.effects),
            "detail": self.detail,
            "rejected": self.rejected,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> AuditEntry:
        return cls(
            at=datetime.fromisoformat(data["at"]),
            actor=data["actor"],
            event=Event(data["event"]),
            from_state=State(data["from"]),
            to_state=State(data["to"]) if data["to"] else None,
            effects=tuple(Effect(e) for e in data["effects"].split(",") if e),
            detail=data.get("detail", ""),
            rejected=data.get("rejected", ""),
        )


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
    """Apply `event` to `item` (never mutated) under `policy` (default `WorkflowConfig()`).

    `actor` is the GitHub login (or job name) behind the event and `detail` free text
    for the audit (for `job_failed`: the failure shown to maintainers).
    """
    policy = policy if policy is not None else WorkflowConfig()
    rules = _RULES_BY_KEY.get((item.state, event), ())
    for rule in rules:
        if all(guard.holds(item, policy) for guard in rule.when):
            changes: dict[str, Any] = {"state": rule.target, "updated_at": at}
            if rule.count is not None:
                changes[rule.count] = getattr(item, rule.count) + 1
            if rule.target is State.FAILED:
                changes.update(failed_from=item.state, failure=detail or "a job failed")
            elif item.state is State.FAILED:
                changes.update(failed_from=None, failure=None)
            audit = AuditEntry(at, actor, event, item.state, rule.target, rule.effects, detail)
            return Transition(replace(item, **changes), rule, rule.effects, audit)
    reason = rejection_reason(item, event, policy)
    audit = AuditEntry(at, actor, event, item.state, None, (), detail, rejected=reason)
    return Rejected(item, event, reason, audit)


def rejection_reason(item: WorkItem, event: Event, policy: WorkflowPolicy) -> str:
    """Why `event` does nothing in `item`'s state, ending with the state for context."""
    where = f"(state: {item.state})"
    rules = _RULES_BY_KEY.get((item.state, event), ())
    if rules:
        unmet = [g.unmet(item, policy) for r in rules for g in r.when if not g.holds(item, policy)]
        return f"{'; '.join(dict.fromkeys(unmet))} {where}"
    if item.state is State.FAILED:
        step = item.failed_from.label if item.failed_from else "an earlier step"
        return f"the work item failed in {step}: comment `/aios retry` or `/aios cancel` {where}"
    if item.state in TERMINAL_STATES:
        return (
            f"the work item is {item.state.label} and accepts nothing more; "
            f"add the `aios` label again to start a new one {where}"
        )
    default = f"{event} was not expected while {item.state.label}; ignored as stale"
    return f"{_REJECTIONS.get(event, default)} {where}"


_TRANSLITERATE = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l"})


def slugify(title: str, max_chars: int = SLUG_MAX_CHARS) -> str:
    """Lowercase ASCII words joined by hyphens, at most `max_chars`, never empty."""
    ascii_title = (
        unicodedata.normalize("NFKD", title.lower().translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    if len(slug) > max_chars:
        cut = slug[: max_chars + 1]
        # End on a whole word when one ends in the second half of the budget.
        slug = cut[: cut.rfind("-")] if cut.rfind("-") > max_chars // 2 else slug[:max_chars]
        slug = slug.rstrip("-")
    return slug or "issue"


def branch_name(issue_number: int, title: str) -> str:
    """`aios/<n>-<slug>`, a valid branch name (`git check-ref-format --branch`)."""
    if isinstance(issue_number, bool) or not isinstance(issue_number, int) or issue_number < 1:
        raise ValueError(f"issue_number must be a positive integer, got {issue_number!r}")
    return f"aios/{issue_number}-{slugify(title)}"


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
