"""The work-item state machine: every row of the table, every rejection, storage, branch names."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.workitem.audit import AuditEntry
from bot.workitem.docs import REGENERATE_DOCS, mermaid_diagram, workflow_markdown
from bot.workitem.item import SCHEMA_VERSION, WorkItem
from bot.workitem.names import SLUG_MAX_CHARS, branch_name, slugify
from bot.workitem.parts import (
    CIState,
    Feedback,
    FixRequest,
    Handoff,
    ItemSettings,
    Narration,
    PendingEffects,
    Planning,
    PullRequestState,
    Work,
)
from bot.workitem.plan import Plan, PlanTask
from bot.workitem.rules import RESUME, RULES, Check, Rejected, Rule, Transition, transition
from bot.workitem.states import ACTIVE_STATES, Counter, Effect, Event, State

DOCS = Path(__file__).resolve().parents[1] / "docs" / "workflow.md"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)

# The table, written out by hand: a row changed in bot/workitem/rules.py fails here until this
# list (and docs/workflow.md) say the same. (state, event, guard, next state, effects, counts)
ENDED = "learn_from_pr cancel_jobs update_progress"
"""A PR merged or closed by hand: its lessons are learned, the jobs stop."""

EXPECTED = [
    ("queued", "labeled_cto", "", "triage", "run_cto_triage update_progress", None),
    ("queued", "labeled_role", "", "implementing", "start_implementation update_progress", None),
    ("queued", "issue_closed", "", "cancelled", "cancel_jobs update_progress", None),
    ("queued", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("triage", "triage_asked_questions", "", "clarifying", "post_questions update_progress", None),
    ("triage", "plan_proposed", "plan approval required", "awaiting_plan_approval",
     "post_plan update_progress", None),
    ("triage", "plan_proposed", "plan approval not required", "implementing",
     "post_plan start_implementation update_progress", None),
    ("triage", "plan_feedback", "", "triage", "cancel_jobs run_cto_triage update_progress", None),
    ("triage", "job_failed", "", "failed", "post_failure update_progress", None),
    ("triage", "issue_closed", "", "cancelled", "cancel_jobs update_progress", None),
    ("triage", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("clarifying", "questions_answered", "", "triage", "run_cto_triage update_progress", None),
    ("clarifying", "plan_feedback", "", "triage", "run_cto_triage update_progress", None),
    ("clarifying", "job_failed", "", "failed", "post_failure update_progress", None),
    ("clarifying", "issue_closed", "", "cancelled", "cancel_jobs update_progress", None),
    ("clarifying", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("awaiting_plan_approval", "approved", "", "implementing",
     "start_implementation update_progress", None),
    ("awaiting_plan_approval", "plan_feedback", "", "triage", "run_cto_triage update_progress",
     None),
    ("awaiting_plan_approval", "job_failed", "", "failed", "post_failure update_progress", None),
    ("awaiting_plan_approval", "issue_closed", "", "cancelled", "cancel_jobs update_progress",
     None),
    ("awaiting_plan_approval", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("implementing", "implementation_done", "", "verifying",
     "open_draft_pr watch_ci update_progress", None),
    ("implementing", "job_failed", "", "failed", "post_failure update_progress", None),
    ("implementing", "merged", "", "merged", ENDED, None),
    ("implementing", "pr_closed", "", "cancelled", ENDED, None),
    ("implementing", "issue_closed", "no PR", "cancelled", "cancel_jobs update_progress", None),
    ("implementing", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("verifying", "ci_passed", "", "in_review", "run_qa_review update_progress", None),
    ("verifying", "ci_failed", "a new CI failure and ci fix attempts left", "implementing",
     "run_fix update_progress", "ci_fix_attempts"),
    ("verifying", "ci_failed", "a new CI failure and ci fix attempts exhausted",
     "awaiting_approval", "request_review ask_human update_progress", None),
    ("verifying", "ci_failed", "same CI failure twice in a row", "awaiting_approval",
     "request_review ask_human update_progress", None),
    ("verifying", "changes_requested", "fix rounds left", "implementing",
     "run_fix update_progress", "fix_rounds"),
    ("verifying", "changes_requested", "fix rounds exhausted", "awaiting_approval",
     "request_review ask_human update_progress", None),
    ("verifying", "job_failed", "", "failed", "post_failure update_progress", None),
    ("verifying", "merged", "", "merged", ENDED, None),
    ("verifying", "pr_closed", "", "cancelled", ENDED, None),
    ("verifying", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("in_review", "review_passed", "", "awaiting_approval", "request_review update_progress",
     None),
    ("in_review", "review_changes_requested", "review rounds left", "implementing",
     "run_fix update_progress", "review_rounds"),
    ("in_review", "review_changes_requested", "review rounds exhausted", "awaiting_approval",
     "request_review ask_human update_progress", None),
    ("in_review", "ci_failed", "a new CI failure and ci fix attempts left", "implementing",
     "cancel_jobs run_fix update_progress", "ci_fix_attempts"),
    ("in_review", "ci_failed", "a new CI failure and ci fix attempts exhausted",
     "awaiting_approval", "cancel_jobs request_review ask_human update_progress", None),
    ("in_review", "ci_failed", "same CI failure twice in a row", "awaiting_approval",
     "cancel_jobs request_review ask_human update_progress", None),
    ("in_review", "changes_requested", "fix rounds left", "implementing",
     "cancel_jobs run_fix update_progress", "fix_rounds"),
    ("in_review", "changes_requested", "fix rounds exhausted", "awaiting_approval",
     "cancel_jobs request_review ask_human update_progress", None),
    ("in_review", "job_failed", "", "failed", "post_failure update_progress", None),
    ("in_review", "merged", "", "merged", ENDED, None),
    ("in_review", "pr_closed", "", "cancelled", ENDED, None),
    ("in_review", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("awaiting_approval", "approved", "", "merging", "merge update_progress", None),
    ("awaiting_approval", "changes_requested", "fix rounds left", "implementing",
     "run_fix update_progress", "fix_rounds"),
    ("awaiting_approval", "changes_requested", "fix rounds exhausted", "awaiting_approval",
     "ask_human update_progress", None),
    ("awaiting_approval", "review_requested", "", "in_review", "run_qa_review update_progress",
     None),
    ("awaiting_approval", "ci_passed", "", "awaiting_approval", "update_progress", None),
    ("awaiting_approval", "ci_failed", "a new CI failure and ci fix attempts left",
     "implementing", "run_fix update_progress", "ci_fix_attempts"),
    ("awaiting_approval", "ci_failed", "a new CI failure and ci fix attempts exhausted",
     "awaiting_approval", "ask_human update_progress", None),
    ("awaiting_approval", "ci_failed", "same CI failure twice in a row", "awaiting_approval",
     "ask_human update_progress", None),
    ("awaiting_approval", "job_failed", "", "failed", "post_failure update_progress", None),
    ("awaiting_approval", "merged", "", "merged", ENDED, None),
    ("awaiting_approval", "pr_closed", "", "cancelled", ENDED, None),
    ("awaiting_approval", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("merging", "merge_blocked", "", "awaiting_approval", "ask_human update_progress", None),
    ("merging", "merged", "", "merged", "learn_from_pr update_progress", None),
    ("merging", "pr_closed", "", "cancelled", ENDED, None),
    ("merging", "job_failed", "", "failed", "post_failure update_progress", None),
    ("failed", "retry", "stopped in triage", "triage", "run_cto_triage update_progress", None),
    ("failed", "retry", "stopped in clarifying", "clarifying", "post_questions update_progress",
     None),
    ("failed", "retry", "stopped in awaiting_plan_approval", "awaiting_plan_approval",
     "post_plan update_progress", None),
    ("failed", "retry", "stopped in implementing and no PR", "implementing",
     "start_implementation update_progress", None),
    ("failed", "retry", "stopped in implementing and PR open", "implementing",
     "run_fix update_progress", None),
    ("failed", "retry", "stopped in verifying", "verifying",
     "open_draft_pr watch_ci update_progress", None),
    ("failed", "retry", "stopped in in_review", "in_review", "run_qa_review update_progress", None),
    ("failed", "retry", "stopped in awaiting_approval", "awaiting_approval",
     "request_review update_progress", None),
    ("failed", "retry", "stopped in merging", "merging", "merge update_progress", None),
    ("failed", "cancel", "", "cancelled", "update_progress", None),
    ("failed", "issue_closed", "no PR", "cancelled", "update_progress", None),
    ("failed", "pr_closed", "", "cancelled", "learn_from_pr update_progress", None),
    ("failed", "merged", "", "merged", "learn_from_pr update_progress", None),
    ("triage", "budget_reached", "", "paused", "ask_for_budget update_progress", None),
    ("implementing", "budget_reached", "", "paused", "ask_for_budget update_progress", None),
    ("in_review", "budget_reached", "", "paused", "ask_for_budget update_progress", None),
    ("paused", "budget_raised", "stopped in triage", "triage", "run_cto_triage update_progress",
     None),
    ("paused", "budget_raised", "stopped in in_review", "in_review",
     "run_qa_review update_progress", None),
    ("paused", "budget_raised", "stopped in implementing and no PR", "implementing",
     "start_implementation update_progress", None),
    ("paused", "budget_raised", "stopped in implementing and PR open", "implementing",
     "run_fix update_progress", None),
    ("paused", "cancel", "", "cancelled", "cancel_jobs update_progress", None),
    ("paused", "issue_closed", "no PR", "cancelled", "update_progress", None),
    ("paused", "job_failed", "", "failed", "post_failure update_progress", None),
    ("paused", "merged", "", "merged", "learn_from_pr update_progress", None),
    ("paused", "pr_closed", "", "cancelled", "learn_from_pr update_progress", None),
]  # fmt: skip


def row_of(rule: Rule) -> tuple[str, str, str, str, str, str | None]:
    guards = " and ".join(g.label for g in rule.when)
    count = rule.count.value if rule.count else None
    effects = " ".join(rule.effects)
    return (rule.state.value, rule.event.value, guards, rule.target.value, effects, count)


def make_item(state: State = State.QUEUED, **changes: object) -> WorkItem:
    item = WorkItem.new(
        "octo/app", 42, 7, title="Paginate GET /users", created_by="maintainer", at=T0
    )
    return replace(item, state=state, **changes)


def satisfying(rule: Rule) -> tuple[WorkItem, ItemSettings]:
    """An item in the rule's state and a policy under which every guard of the rule holds."""
    changes: dict[str, object] = {}
    policy = ItemSettings()
    for guard in rule.when:
        match guard.check:
            case Check.PLAN_APPROVAL_REQUIRED | Check.PLAN_APPROVAL_SKIPPED:
                policy = replace(
                    policy, require_plan_approval=guard.check is Check.PLAN_APPROVAL_REQUIRED
                )
            case Check.LEFT:
                changes[guard.counter] = 1
            case Check.EXHAUSTED:
                changes[guard.counter] = getattr(policy, f"max_{guard.counter}")
            case Check.HAS_PR:
                changes["pr_number"] = 43
            case Check.NO_PR:
                changes["pr_number"] = None
            case Check.FAILED_IN:
                changes["stopped_in"] = guard.state
            case Check.REPEATED_FAILURE:
                changes["ci"] = CIState(repeated=True)
    if rule.state is State.FAILED and "stopped_in" not in changes:
        changes["stopped_in"] = State.IMPLEMENTING
    return make_item(rule.state, **changes), policy


def test_table_is_exactly_the_expected_rows() -> None:
    assert sorted(map(row_of, RULES), key=repr) == sorted(EXPECTED, key=repr)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: "-".join(row_of(r)[:3]).strip("-"))
def test_rule_is_an_expected_row(rule: Rule) -> None:
    assert row_of(rule) in EXPECTED


@pytest.mark.parametrize("row", EXPECTED, ids=lambda r: "-".join(r[:3]).strip("-"))
def test_row(row: tuple[str, str, str, str, str, str | None]) -> None:
    """Each expected row exists in the table and `transition` does what it says."""
    rule = next((r for r in RULES if row_of(r) == row), None)
    assert rule is not None, f"row missing from RULES: {row}"
    item, policy = satisfying(rule)
    before = item.to_dict()

    result = transition(item, rule.event, actor="maintainer", at=T1, policy=policy, detail="why")

    assert isinstance(result, Transition), getattr(result, "reason", "")
    assert result.accepted
    assert result.rule is rule
    assert result.new_state == State(row[3])
    assert [e.value for e in result.effects] == row[4].split()
    for counter in Counter:
        expected = getattr(item, counter) + (1 if row[5] == counter else 0)
        assert getattr(result.item, counter) == expected
    assert result.item.updated_at == T1
    assert item.to_dict() == before, "transition must not mutate its input"
    assert result.audit == AuditEntry(
        T1, "maintainer", rule.event, rule.state, rule.target, rule.effects, "why"
    )


def test_guards_of_one_pair_never_match_together() -> None:
    policies = [
        ItemSettings(require_plan_approval=flag, max_review_rounds=2, max_fix_rounds=2,
                       max_ci_fix_attempts=2)
        for flag in (True, False)
    ]  # fmt: skip
    pairs = {(r.state, r.event) for r in RULES}
    for (state, event), policy, count, pr, stopped_in in itertools.product(
        pairs, policies, (0, 1, 2, 3), (None, 43), (None, *State)
    ):
        item = make_item(
            state,
            review_rounds=count,
            fix_rounds=count,
            ci_fix_attempts=count,
            pr_number=pr,
            stopped_in=stopped_in,
        )
        rules = [r for r in RULES if (r.state, r.event) == (state, event)]
        matching = [r for r in rules if all(g.holds(item, policy) for g in r.when)]
        assert len(matching) <= 1, (state, event, matching)


PAIRS_IN_TABLE = {(r.state, r.event) for r in RULES}
PAIRS_NOT_IN_TABLE = [(s, e) for s in State for e in Event if (s, e) not in PAIRS_IN_TABLE]


@pytest.mark.parametrize(("state", "event"), PAIRS_NOT_IN_TABLE, ids=lambda v: str(v))
def test_every_other_pair_is_rejected_with_a_reason(state: State, event: Event) -> None:
    item = make_item(state, stopped_in=State.IN_REVIEW if state is State.FAILED else None)
    result = transition(item, event, actor="maintainer", at=T1)
    assert isinstance(result, Rejected)
    assert not result.accepted
    assert result.item is item
    assert result.reason.endswith(f"(state: {state})")
    assert len(result.reason) > len(f"(state: {state})") + 10
    assert result.audit.to_state is None
    assert result.audit.rejected == result.reason
    assert result.audit.event is event


def test_no_pair_is_silently_dropped() -> None:
    """Every (state, event) either has a row or is rejected; nothing else can come back."""
    for state, event in itertools.product(State, Event):
        result = transition(make_item(state, stopped_in=State.TRIAGE), event, actor="a", at=T1)
        if isinstance(result, Rejected):
            assert result.reason.endswith(f"(state: {state})")
        else:
            assert isinstance(result, Transition)
            assert (state, event) in PAIRS_IN_TABLE


def test_approve_when_nothing_awaits_approval_says_so() -> None:
    result = transition(make_item(State.IMPLEMENTING), Event.APPROVED, actor="m", at=T1)
    assert isinstance(result, Rejected)
    assert result.reason == "nothing is waiting for approval (state: implementing)"


def test_unmet_guard_is_a_rejection_naming_the_pull_request() -> None:
    item = make_item(State.IMPLEMENTING, pr_number=43)
    result = transition(item, Event.ISSUE_CLOSED, actor="m", at=T1)
    assert isinstance(result, Rejected)
    assert "pull request #43 is open" in result.reason
    assert result.reason.endswith("(state: implementing)")


@pytest.mark.parametrize("state", [State.MERGED, State.CANCELLED])
def test_closed_terminal_states_accept_nothing(state: State) -> None:
    for event in Event:
        result = transition(make_item(state), event, actor="m", at=T1)
        assert isinstance(result, Rejected), event
        assert f"is {state.label} and accepts nothing more" in result.reason


def test_failed_accepts_only_retry_and_closing_out() -> None:
    item = make_item(State.FAILED, stopped_in=State.IN_REVIEW, failure="boom")
    accepted = {e for e in Event if isinstance(transition(item, e, actor="m", at=T1), Transition)}
    assert accepted == {Event.RETRY, Event.CANCEL, Event.ISSUE_CLOSED, Event.PR_CLOSED,
                        Event.MERGED}  # fmt: skip
    result = transition(item, Event.APPROVED, actor="m", at=T1)
    assert isinstance(result, Rejected)
    assert "failed in in review" in result.reason
    assert "`/aios retry`" in result.reason


def test_retry_when_not_failed_is_rejected() -> None:
    result = transition(make_item(State.IN_REVIEW), Event.RETRY, actor="m", at=T1)
    assert isinstance(result, Rejected)
    assert result.reason.startswith("nothing to retry")


@pytest.mark.parametrize(
    "state", [s for s in ACTIVE_STATES if s not in (State.QUEUED, State.PAUSED)]
)
@pytest.mark.parametrize("pr_number", [None, 43])
def test_retry_resumes_the_step_that_failed(state: State, pr_number: int | None) -> None:
    item = make_item(state, review_rounds=1, fix_rounds=2, pr_number=pr_number)
    failed = transition(item, Event.JOB_FAILED, actor="job", at=T1, detail="push rejected")
    assert isinstance(failed, Transition)
    assert failed.item.state is State.FAILED
    assert failed.item.stopped_in is state
    assert failed.item.failure == "push rejected"
    assert failed.effects == (Effect.POST_FAILURE, Effect.UPDATE_PROGRESS)

    resumed = transition(failed.item, Event.RETRY, actor="maintainer", at=T1)
    assert isinstance(resumed, Transition)
    assert resumed.item.state is state
    assert resumed.item.stopped_in is None
    assert resumed.item.failure is None
    assert (resumed.item.review_rounds, resumed.item.fix_rounds) == (1, 2)
    if state is State.IMPLEMENTING:
        work = Effect.RUN_FIX if pr_number else Effect.START_IMPLEMENTATION
        assert resumed.effects == (work, Effect.UPDATE_PROGRESS)
    else:
        assert resumed.effects == (*RESUME[state], Effect.UPDATE_PROGRESS)


def test_job_failed_without_detail_still_says_something() -> None:
    result = transition(make_item(State.TRIAGE), Event.JOB_FAILED, actor="job", at=T1)
    assert isinstance(result, Transition)
    assert result.item.failure == "a job failed"


def test_plan_approval_policy_decides_where_a_plan_goes() -> None:
    item = make_item(State.TRIAGE)
    gated = transition(item, Event.PLAN_PROPOSED, actor="job", at=T1)
    assert isinstance(gated, Transition)
    assert gated.new_state is State.AWAITING_PLAN_APPROVAL
    straight = transition(
        item, Event.PLAN_PROPOSED, actor="job", at=T1,
        policy=ItemSettings(require_plan_approval=False),
    )  # fmt: skip
    assert isinstance(straight, Transition)
    assert straight.new_state is State.IMPLEMENTING
    assert Effect.START_IMPLEMENTATION in straight.effects


def run(item: WorkItem, policy: ItemSettings, *events: Event) -> Transition:
    result: Transition | Rejected | None = None
    for event in events:
        result = transition(item, event, actor="someone", at=T1, policy=policy)
        assert isinstance(result, Transition), (event, getattr(result, "reason", ""))
        item = result.item
    assert isinstance(result, Transition)
    return result


@pytest.mark.parametrize(
    ("counter", "state", "event"),
    [
        (Counter.REVIEW_ROUNDS, State.IN_REVIEW, Event.REVIEW_CHANGES_REQUESTED),
        (Counter.FIX_ROUNDS, State.AWAITING_APPROVAL, Event.CHANGES_REQUESTED),
        (Counter.CI_FIX_ATTEMPTS, State.VERIFYING, Event.CI_FAILED),
    ],
)
@pytest.mark.parametrize("bound", [0, 1, 3])
def test_loops_are_bounded_then_hand_over_to_a_human(
    counter: Counter, state: State, event: Event, bound: int
) -> None:
    policy = ItemSettings(max_review_rounds=bound, max_fix_rounds=bound,
                            max_ci_fix_attempts=bound)  # fmt: skip
    back_to = {State.IN_REVIEW: (Event.IMPLEMENTATION_DONE, Event.CI_PASSED),
               State.VERIFYING: (Event.IMPLEMENTATION_DONE,),
               State.AWAITING_APPROVAL: (Event.IMPLEMENTATION_DONE, Event.CI_PASSED,
                                         Event.REVIEW_PASSED)}[state]  # fmt: skip
    item = make_item(state, pr_number=43)
    for round_ in range(1, bound + 1):
        fixing = run(item, policy, event)
        assert fixing.new_state is State.IMPLEMENTING
        assert Effect.RUN_FIX in fixing.effects
        assert getattr(fixing.item, counter) == round_
        item = run(fixing.item, policy, *back_to).item
        assert item.state is state
    over = run(item, policy, event)
    assert over.new_state is State.AWAITING_APPROVAL
    assert Effect.ASK_HUMAN in over.effects
    assert Effect.RUN_FIX not in over.effects
    assert getattr(over.item, counter) == bound


def test_the_whole_happy_path() -> None:
    item = make_item()
    events = [
        Event.LABELED_CTO, Event.TRIAGE_ASKED_QUESTIONS, Event.QUESTIONS_ANSWERED,
        Event.PLAN_PROPOSED, Event.APPROVED, Event.IMPLEMENTATION_DONE, Event.CI_PASSED,
        Event.REVIEW_CHANGES_REQUESTED, Event.IMPLEMENTATION_DONE, Event.CI_PASSED,
        Event.REVIEW_PASSED, Event.APPROVED, Event.MERGED,
    ]  # fmt: skip
    states = []
    for event in events:
        result = transition(item, event, actor="m", at=T1)
        assert isinstance(result, Transition), (event, getattr(result, "reason", ""))
        item = result.item
        states.append(item.state.value)
    assert states == [
        "triage", "clarifying", "triage", "awaiting_plan_approval", "implementing",
        "verifying", "in_review", "implementing", "verifying", "in_review",
        "awaiting_approval", "merging", "merged",
    ]  # fmt: skip
    assert item.review_rounds == 1


def test_merging_ignores_the_issue_closing_by_the_merge_itself() -> None:
    """GitHub closes the issue as the PR merges; that event may arrive before `merged`."""
    item = make_item(State.MERGING, pr_number=43)
    assert isinstance(transition(item, Event.ISSUE_CLOSED, actor="gh", at=T1), Rejected)
    assert isinstance(transition(item, Event.CANCEL, actor="m", at=T1), Rejected)
    merged = transition(item, Event.MERGED, actor="gh", at=T1)
    assert isinstance(merged, Transition)
    assert merged.new_state is State.MERGED


# --- storage -----------------------------------------------------------------------------

logins = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
items = st.builds(
    WorkItem,
    repo=st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}/[A-Za-z0-9._-]{1,20}", fullmatch=True),
    number=st.integers(1, 10**7),
    installation_id=st.integers(1, 10**9),
    created_at=st.datetimes(timezones=st.just(UTC)),
    updated_at=st.datetimes(timezones=st.just(UTC)),
    title=st.text(max_size=80),
    created_by=logins,
    state=st.sampled_from(State),
    roles=st.lists(st.sampled_from(["cto", "backend", "frontend", "qa", "devops"])).map(tuple),
    branch=st.none() | st.text(max_size=30),
    pr_number=st.none() | st.integers(1, 10**6),
    plan=st.none()
    | st.builds(
        Plan,
        summary=st.just("Fix it."),
        tasks=st.lists(
            st.builds(PlanTask, st.sampled_from(["backend", "qa"]), st.just("Do the thing")),
            min_size=1,
            max_size=3,
        ).map(tuple),
    ),
    review_rounds=st.integers(0, 9),
    fix_rounds=st.integers(0, 9),
    ci_fix_attempts=st.integers(0, 9),
    stopped_in=st.none() | st.sampled_from(State),
    failure=st.none() | st.text(max_size=40),
    tokens=st.integers(0, 10**8),
    cost_usd=st.floats(0, 1000, allow_nan=False),
    progress_comment_id=st.none() | st.integers(1, 10**10),
    settings=st.builds(
        ItemSettings,
        require_plan_approval=st.booleans(),
        max_fix_rounds=st.integers(0, 9),
        min_edit_interval_s=st.floats(1, 300),
        budget_usd=st.none() | st.floats(0.01, 100),
    ),
    planning=st.builds(
        Planning,
        questions=st.lists(st.text(max_size=20), max_size=3).map(tuple),
        feedback=st.none() | st.text(max_size=20),
        approved_by=st.none() | logins,
    ),
    work=st.builds(
        Work,
        tasks_done=st.integers(0, 5),
        handoffs=st.lists(st.builds(Handoff, logins, st.text(max_size=20)), max_size=2).map(tuple),
        narration=st.none() | st.builds(Narration, logins, st.text(max_size=20)),
    ),
    pr=st.builds(
        PullRequestState,
        node_id=st.none() | st.text(max_size=10),
        head_sha=st.none() | st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
        merge_waiting=st.booleans(),
    ),
    feedback=st.builds(
        Feedback,
        requests=st.lists(st.builds(FixRequest, logins, st.text(max_size=20)), max_size=2).map(
            tuple
        ),
        qa_notes=st.none() | st.text(max_size=20),
        more=st.booleans(),
    ),
    ci=st.builds(
        CIState,
        failure=st.none() | st.text(max_size=20),
        failed_checks=st.text(max_size=10),
        repeated=st.booleans(),
        fingerprint=st.none() | st.text(max_size=16),
    ),
    pending=st.none()
    | st.builds(
        PendingEffects,
        st.sampled_from([e.value for e in Event]),
        logins,
        st.lists(st.sampled_from([e.value for e in Effect]), max_size=3).map(tuple),
    ),
)


@given(items)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_json_round_trip(item: WorkItem) -> None:
    stored = json.dumps(item.to_dict())
    assert WorkItem.from_dict(json.loads(stored)) == item


def test_to_dict_is_plain_json_with_a_version() -> None:
    data = make_item(State.FAILED, stopped_in=State.VERIFYING, roles=("backend",)).to_dict()
    assert data["v"] == SCHEMA_VERSION == 5
    assert data["state"] == "failed"
    assert data["stopped_in"] == "verifying"
    assert data["roles"] == ["backend"]
    assert data["created_at"] == "2025-03-01T12:00:00+00:00"
    assert data["branch"] == "aios/42-paginate-get-users"
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 6}, "schema version 6"),
        ({"surprise": 1}, "unknown work item field(s): surprise"),
        ({"state": "dancing"}, "'dancing' is not a valid State"),
        ({"repo": "no-slash"}, "repo must be 'owner/name'"),
        ({"number": 0}, "number must be a positive integer"),
        ({"created_at": "2025-03-01T12:00:00"}, "created_at must be timezone-aware"),
    ],
)
def test_from_dict_names_what_is_wrong(change: dict[str, object], message: str) -> None:
    data = {**make_item().to_dict(), **change}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WorkItem.from_dict(data)


def test_from_dict_names_a_missing_field() -> None:
    data = make_item().to_dict()
    del data["installation_id"]
    with pytest.raises(ValueError, match="missing: installation_id"):
        WorkItem.from_dict(data)


def test_audit_entry_is_flat_strings_and_round_trips() -> None:
    result = transition(make_item(State.AWAITING_APPROVAL), Event.APPROVED, actor="m", at=T1)
    flat = result.audit.to_dict()
    assert all(isinstance(v, str) for v in flat.values())
    assert flat["effects"] == "merge,update_progress"
    assert AuditEntry.from_dict(flat) == result.audit
    rejected = transition(make_item(), Event.APPROVED, actor="m", at=T1).audit
    assert rejected.to_dict()["to"] == ""
    assert AuditEntry.from_dict(rejected.to_dict()) == rejected


# --- branch names ------------------------------------------------------------------------

NASTY_TITLES = [
    "", "   ", "...", "..", "a..b", "x.lock", "foo.lock.", "/leading/slash/", "trailing/",
    "-leading-dash", "--", "@{u}", "@", "back\\slash", "ctrl\x00\x07chars", "tab\there",
    "~^:?*[", "Ünïcödé façade — naïve café", "Straße über Brücke", "日本語のタイトル",
    "emoji 🚀 launch", "🚀", "HEAD", "refs/heads/main", "a" * 200, "word " * 40,
    "Fix: `GET /users?page=2` returns 500 (regression in v1.2.3)",
]  # fmt: skip


def git_accepts(branches: list[str]) -> list[str]:
    """The branches `git check-ref-format --branch` rejects (run in one batch per call)."""
    bad = []
    for branch in branches:
        done = subprocess.run(
            ["git", "check-ref-format", "--branch", branch],
            capture_output=True, timeout=10, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            bad.append(branch)
    return bad


def test_branch_names_of_nasty_titles_are_valid_for_git() -> None:
    names = [branch_name(n, t) for n, t in zip(itertools.count(1), NASTY_TITLES, strict=False)]
    assert git_accepts(names) == []
    for name in names:
        slug = name.split("-", 1)[1]
        assert slug and len(slug) <= SLUG_MAX_CHARS
        assert slug == slug.lower() and slug.isascii()


@given(st.integers(1, 10**9), st.text(max_size=120))
@settings(max_examples=200, deadline=None)
def test_branch_name_is_always_valid_for_git(number: int, title: str) -> None:
    name = branch_name(number, title)
    assert name.startswith(f"aios/{number}-")
    assert len(name.split("-", 1)[1]) <= SLUG_MAX_CHARS
    assert git_accepts([name]) == []


def test_slugify_reads_well() -> None:
    assert slugify("Add pagination to GET /users") == "add-pagination-to-get-users"
    assert slugify("Ünïcödé façade — naïve café") == "unicode-facade-naive-cafe"
    assert slugify("Straße") == "strasse"
    assert slugify("日本語") == "issue"
    long = slugify("implement the cursor based pagination for every list endpoint")
    assert long == "implement-the-cursor-based-pagination"
    assert slugify("x" * 100) == "x" * SLUG_MAX_CHARS


@pytest.mark.parametrize("number", [0, -1, True])
def test_branch_name_refuses_a_bad_issue_number(number: int) -> None:
    with pytest.raises(ValueError, match="issue_number must be a positive integer"):
        branch_name(number, "title")


# --- diagram and docs --------------------------------------------------------------------


def test_docs_are_generated_from_the_table() -> None:
    assert DOCS.read_text() == workflow_markdown(), (
        f"docs/workflow.md is out of date with bot/workitem/rules.py; run: {REGENERATE_DOCS}"
    )
    assert f"```mermaid\n{mermaid_diagram()}```" in DOCS.read_text()


def test_the_module_prints_the_docs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.workitem.docs"],
        capture_output=True, text=True, timeout=60, check=True, cwd=DOCS.parents[1],
    )  # fmt: skip
    assert done.stdout == workflow_markdown()


def test_diagram_draws_every_rule() -> None:
    lines = mermaid_diagram().splitlines()
    assert lines[0] == "stateDiagram-v2"
    for rule in RULES:
        arrow = next(
            (ln for ln in lines if ln.strip().startswith(f"{rule.state} --> {rule.target} :")),
            None,
        )
        assert arrow is not None, rule
        assert str(rule.event) in arrow.split(" : ", 1)[1]
    edges = {(r.state, r.target) for r in RULES}
    assert sum(" : " in ln for ln in lines) == len(edges)
    # Mermaid ends a transition label at ':' , ';' or '#'.
    assert not any(c in ln.split(" : ", 1)[1] for ln in lines if " : " in ln for c in ":;#")


def test_diagram_changes_when_the_table_does() -> None:
    changed = (*RULES, Rule(State.QUEUED, Event.APPROVED, State.MERGED, ()))
    assert mermaid_diagram(changed) != mermaid_diagram()
    assert "queued --> merged : approved" in mermaid_diagram(changed)


def test_the_repo_config_workflow_section_is_a_policy_with_the_same_defaults() -> None:
    from bot.config.model import RepoConfig

    section = RepoConfig().workflow
    for name in ("require_plan_approval", "max_review_rounds", "max_fix_rounds",
                 "max_ci_fix_attempts"):  # fmt: skip
        assert getattr(section, name) == getattr(ItemSettings(), name), name
    item = make_item(State.TRIAGE)
    result = transition(item, Event.PLAN_PROPOSED, actor="job", at=T1, policy=section)
    assert isinstance(result, Transition)
    assert result.new_state is State.AWAITING_PLAN_APPROVAL
