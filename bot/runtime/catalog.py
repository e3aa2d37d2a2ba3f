"""The job catalog: every RQ job AIOS runs, with its queue, timeout, retries and purpose.

Handlers and effects enqueue through these entries (`JobQueue.enqueue(RUN_FIX, …)`), never
by a dotted path written at the call site. The paths are strings resolved by the worker that
runs the job, so the web process, which imports the handlers to ask "is this event wanted?",
loads no job module, no agent and no LLM SDK.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bot.github import scopes
from bot.github.scopes import Permissions


class QueueName(enum.StrEnum):
    QUICK = "aios-route"
    """Short jobs: routing a delivery, commands, reports, labels, opening the PR. `aios serve`
    keeps one worker on this queue alone, so a maintainer's `/aios cancel` is not stuck behind
    an agent that works for twenty minutes."""
    AGENTS = "aios-agents"
    """Agent runs (the CTO's triage, the plan's tasks, QA, fixes): long, and limited per
    installation."""


@dataclass(frozen=True)
class JobSpec:
    """One job: the RQ function that is the step, where it runs and how it is retried."""

    name: str
    path: str
    """`module.function` of the coroutine RQ runs; a test checks that each one resolves."""
    queue: QueueName
    timeout_s: int
    doc: str
    retries: int = 2
    """RQ `Retry(max=…)`: a worker killed mid-job leaves the job abandoned and RQ runs it
    again; every job is idempotent (hidden markers, lookups before creates), and an agent
    job continues its agent from the last checkpoint. A job that runs out of time is not
    run again: see `bot.jobs.scope.item_scope`."""
    permissions: Permissions = field(default_factory=lambda: dict(scopes.TALK), compare=False)
    """What the job's installation tokens may do, on the one repository it works on
    (`bot.github.scopes`): the least its own calls and the effects it may set off need."""
    fails_item: bool = False
    """The job works for one work item (args: installation, repo, number): when its last
    attempt dies without raising, RQ's failure callback `LOST_CALLBACK` fails the item."""
    installation_arg: int | None = 0
    """Which argument is the installation id (a test checks it is named so); None: the job
    learns it later (the route job reads it from the delivery)."""
    keep_s: int | None = None
    """How long a finished job is kept (None: as long as deliveries are deduplicated); short
    for jobs that run often and whose id no later enqueue reuses."""

    @property
    def limited_per_installation(self) -> bool:
        """Agent jobs of one installation run at most a few at a time (RQ `RateLimit`)."""
        return self.queue is QueueName.AGENTS


_QUICK, _AGENTS = QueueName.QUICK, QueueName.AGENTS
LOST_CALLBACK = "bot.jobs.lost.job_lost"
AGENT_TIMEOUT_S = 3600
"""The default time one attempt of an agent job may take (setting AIOS_AGENT_TIMEOUT_S)."""

ROUTE_DELIVERY = JobSpec(
    "route_delivery",
    "bot.inbox.route.route_delivery",
    _QUICK,
    120,
    "run one stored webhook delivery through every handler that wants it, once",
    retries=3,
    permissions=scopes.TALK,
    installation_arg=None,
)
ENSURE_LABELS = JobSpec(
    "ensure_labels",
    "bot.jobs.labels.ensure_labels",
    _QUICK,
    120,
    "create the AIOS labels a repository lacks (one job per repository)",
    permissions=scopes.TALK,
)
START_WORK_ITEM = JobSpec(
    "start_work_item",
    "bot.jobs.intake.start_work_item",
    _QUICK,
    300,
    "a permitted AIOS label: read the issue and `.github/aios.yml`, start the work item",
    permissions=scopes.TRIAGE,
)
RECORD_ISSUE_EDIT = JobSpec(
    "record_issue_edit",
    "bot.jobs.intake.record_issue_edit",
    _QUICK,
    120,
    "the issue was edited mid-work: a permitted editor's text counts, anyone else's is ignored",
    permissions=scopes.PROGRESS,
)
REPORT_EVENT = JobSpec(
    "report_event",
    "bot.jobs.intake.report_event",
    _QUICK,
    300,
    "what a person did (an answer, an approval, feedback, a closed PR) reaches the work item",
    permissions=scopes.STEER,
)
RUN_COMMAND = JobSpec(
    "run_command",
    "bot.jobs.commands.run_command",
    _QUICK,
    300,
    "one `/aios` command line from someone with write access: 👍, act, answer",
    permissions=scopes.STEER,
)
REFUSE_COMMAND = JobSpec(
    "refuse_command",
    "bot.jobs.commands.refuse_command",
    _QUICK,
    300,
    "the one polite reply to a command from someone without write access",
    permissions=scopes.TALK,
)
REVIEW_LINKED_PULL_REQUEST = JobSpec(
    "review_linked_pull_request",
    "bot.jobs.qa.review_linked_pull_request",
    _QUICK,
    300,
    "`aios:qa` on an issue: the QA agent reviews the pull request that fixes it, if one does",
    permissions=scopes.FIND_PULLS,
)
EVALUATE_CI = JobSpec(
    "evaluate_ci",
    "bot.jobs.ci.evaluate_ci",
    _QUICK,
    300,
    "read CI on the agent PR's head and report ci_passed or ci_failed",
    permissions=scopes.STEER,
)
FINISH_IMPLEMENTATION = JobSpec(
    "finish_implementation",
    "bot.jobs.implement.finish_implementation",
    _QUICK,
    300,
    "every plan task ran: report implementation_done (the draft PR opens)",
    permissions=scopes.REVIEW,
    fails_item=True,
)
CARRY_OUT_PENDING = JobSpec(
    "carry_out_pending",
    "bot.jobs.pending.carry_out_pending",
    _QUICK,
    300,
    "the sweeper found effects a dead job left pending for a minute: carry them out",
    # The sweeper finds the item again a minute after a failed attempt: that is its retry.
    retries=0,
    # Any transition's effects: what a person's action may lead to, a merge included.
    permissions=scopes.STEER,
    # Keyed by the item, not the installation: the sweeper owes it, no burst to pace.
    installation_arg=None,
)
REPORT_LOST_JOB = JobSpec(
    "report_lost_job",
    "bot.jobs.lost.report_lost_job",
    _QUICK,
    300,
    "an item's job died on its last attempt without a word (killed, RQ's timeout): fail it",
    permissions=scopes.PROGRESS,
    # Rare and owed to one item: it must not wait behind its installation's burst.
    installation_arg=None,
)
RUN_TRIAGE = JobSpec(
    "run_triage",
    "bot.jobs.triage.run_triage",
    _AGENTS,
    AGENT_TIMEOUT_S,
    "the CTO agent reads the issue and the repository, then asks or plans",
    permissions=scopes.TRIAGE,
    fails_item=True,
)
RUN_TASK = JobSpec(
    "run_task",
    "bot.jobs.implement.run_task",
    _AGENTS,
    AGENT_TIMEOUT_S,
    "one plan task by its role's agent on the work item's branch; commit, push, hand off",
    permissions=scopes.CODE,
    fails_item=True,
)
RUN_QA_REVIEW = JobSpec(
    "run_qa_review",
    "bot.jobs.qa.run_qa_review",
    _AGENTS,
    AGENT_TIMEOUT_S,
    "the QA agent reviews the agent PR's diff: one review, inline comments",
    permissions=scopes.REVIEW,
    fails_item=True,
)
RUN_FIX = JobSpec(
    "run_fix",
    "bot.jobs.fix.run_fix",
    _AGENTS,
    AGENT_TIMEOUT_S,
    "a fix round: threads, CI failures and requests in; one push and a reply per thread out",
    permissions=scopes.FIX,
    fails_item=True,
)
REVIEW_PULL_REQUEST = JobSpec(
    "review_pull_request",
    "bot.jobs.qa.review_pull_request",
    _AGENTS,
    AGENT_TIMEOUT_S,
    "`/aios review` on a pull request people wrote: one QA review, nothing else changes",
    permissions=scopes.REVIEW,
)
TEST_PULL_REQUEST = JobSpec(
    "test_pull_request",
    "bot.jobs.qa.test_pull_request",
    _AGENTS,
    AGENT_TIMEOUT_S,
    "`/aios test`: the QA agent runs the tests on the pull request's head and replies",
    permissions=scopes.REVIEW,
)

REFRESH_CONTROL_CENTER = JobSpec(
    "refresh_control_center",
    "bot.jobs.center.refresh_control_center",
    _QUICK,
    300,
    "re-render a repository's Control Center issue when its paced refresh is due (finds or "
    "creates the issue, computes the scorecard, expires memories, looks for reverts)",
    permissions=scopes.CENTER,
    keep_s=600,
)
ACT_ON_TICKS = JobSpec(
    "act_on_ticks",
    "bot.jobs.ticks.act_on_ticks",
    _QUICK,
    300,
    "boxes a permitted user ticked in the Control Center: approve, retry, cancel, accept or "
    "forget; the refresh that follows clears them",
    permissions=scopes.STEER,
)
LEARN_FROM_PULL_REQUEST = JobSpec(
    "learn_from_pull_request",
    "bot.jobs.learn.learn_from_pull_request",
    _AGENTS,
    900,
    "an agent PR was merged or closed: record what it came to for the scorecard and distil "
    "the maintainers' review feedback into proposed memories (the cheap model)",
    permissions=scopes.LEARN,
)

CATALOG: tuple[JobSpec, ...] = (
    ROUTE_DELIVERY,
    ENSURE_LABELS,
    START_WORK_ITEM,
    RECORD_ISSUE_EDIT,
    REPORT_EVENT,
    RUN_COMMAND,
    REFUSE_COMMAND,
    REVIEW_LINKED_PULL_REQUEST,
    EVALUATE_CI,
    FINISH_IMPLEMENTATION,
    CARRY_OUT_PENDING,
    REPORT_LOST_JOB,
    RUN_TRIAGE,
    RUN_TASK,
    RUN_QA_REVIEW,
    RUN_FIX,
    REVIEW_PULL_REQUEST,
    TEST_PULL_REQUEST,
    REFRESH_CONTROL_CENTER,
    ACT_ON_TICKS,
    LEARN_FROM_PULL_REQUEST,
)

BY_NAME = {spec.name: spec for spec in CATALOG}

LEGACY_PREFIX = "bot.jobs."
"""AIOS 0.1 queued every job as `bot.jobs.<name>`; `bot.jobs` resolves those names to the
catalog's functions, so jobs queued before an upgrade still run. Drop after 0.2."""
