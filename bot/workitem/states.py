"""The work item's vocabulary: its states, the events that move it, the effects it asks for.

Each member carries a one-line description: the docs generator and the replies to maintainers
read them, so the words a reader sees are written once, here.
"""

from __future__ import annotations

import enum
from typing import Self


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
    PAUSED = (
        "paused",
        "the agents stopped at the work item's budget; `/aios budget +<usd>` continues",
    )
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
    BUDGET_REACHED = (
        "budget_reached",
        "an agent job stopped at 80 % (between steps) or 100 % of the work item's budget",
    )
    BUDGET_RAISED = "budget_raised", "`/aios budget +<usd>` raised the work item's budget"
    RETRY = "retry", "`/aios retry`"
    CANCEL = "cancel", "`/aios cancel`"
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
    ASK_FOR_BUDGET = (
        "ask_for_budget",
        "say what was spent on what, and ask for `/aios budget +<usd>` or `/aios cancel`",
    )
    LEARN_FROM_PR = (
        "learn_from_pr",
        "the PR was merged or closed: record what it came to for the scorecard and distil the "
        "maintainers' review feedback into proposed memories",
    )


class Counter(enum.StrEnum):
    """A bounded loop; the bound is the policy attribute `max_<counter>`."""

    REVIEW_ROUNDS = "review_rounds"
    FIX_ROUNDS = "fix_rounds"
    CI_FIX_ATTEMPTS = "ci_fix_attempts"


ACTIVE_STATES = tuple(s for s in State if s not in (State.MERGED, State.FAILED, State.CANCELLED))
"""States in which agents or maintainers still have something to do."""

STOPPED_STATES = frozenset({State.FAILED, State.PAUSED})
"""States the agents stopped in, remembering the step to resume (`WorkItem.stopped_in`)."""

TERMINAL_STATES = frozenset({State.MERGED, State.FAILED, State.CANCELLED})
"""States that accept no steering; only `failed` can be retried (and closed out)."""
