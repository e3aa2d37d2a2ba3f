"""The typed parts of a work item: what each step records for the steps after it.

Every field a job reads back is declared here, so a misspelt name is an AttributeError at
once instead of a silent `None` from a dictionary. All parts are frozen: change one with
`dataclasses.replace` inside `bot.engine.update_item`, under the item's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemSettings:
    """What a work item keeps of `.github/aios.yml` for its whole life: editing the file
    changes the next work items, never the rules of a running one. Also the policy the
    transition table's guards read (`bot.workitem.rules.WorkflowPolicy`)."""

    require_plan_approval: bool = True
    max_review_rounds: int = 2
    max_fix_rounds: int = 3
    max_ci_fix_attempts: int = 3
    min_edit_interval_s: float = 3.0
    budget_usd: float | None = None
    """Most the work item may cost over its whole life; `/aios budget +<usd>` raises it."""
    job_budget_usd: float | None = None
    """Most one agent run of this item may cost."""
    month_budget_usd: float | None = None
    """Most the repository may spend per calendar month (UTC)."""
    models: tuple[RoleModel, ...] = ()
    """`agents.models`: the model each role's agent uses in this repository."""
    personas: bool = True
    """Narrate as the agents' personas (name, emoji); False: plain role names."""
    required_approvals: int = 1
    require_independent_approval: bool = False
    merge_method: str = "squash"
    delete_branch_on_merge: bool = True
    allow_workflow_edits: bool = False
    """`workflow.allow_workflow_edits`: agents may change `.github/workflows/`."""
    protected_paths: tuple[str, ...] = (".github/aios.yml", "CODEOWNERS")
    """`workflow.protected_paths`: what agents may not change, in their write tools and at
    every push (`bot.github.push_guard`)."""
    environment: EnvironmentSettings = field(default_factory=lambda: EnvironmentSettings())
    """`environment`: setup, test command, egress and caches (None: detected)."""

    def model_for(self, role: str) -> str | None:
        """The repository's model for `role` (a key of `agents.models`), or None."""
        return next((m.model for m in self.models if m.role == role), None)


@dataclass(frozen=True)
class EnvironmentSettings:
    """`.github/aios.yml`'s `environment` as the item keeps it; None: what AIOS detects."""

    setup: tuple[str, ...] | None = None
    test: str | None = None
    allow_hosts: tuple[str, ...] | None = None
    network_during_run: bool = False
    cache: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EnvironmentReport:
    """What the item's environment came to, for the progress comment, QA and the PR body."""

    chosen: str = ""
    """Where the setup and test command came from and what they are."""
    setup: str = ""
    """How the last setup went: "ran in 12 s", "restored from the cache"."""
    tests: str | None = None
    """The last test verdict, as one line ("tests: 41 passed, 1 failed — test_pagination")."""
    tests_ok: bool | None = None
    blocked: tuple[str, ...] = ()
    """`host:port` the egress proxy refused to the item's commands (each once)."""
    notes: tuple[str, ...] = ()
    """What the operator's egress ceiling left out, and the like: said once."""


@dataclass(frozen=True)
class RoleModel:
    """One entry of `agents.models`: the model a role's agent uses in this repository."""

    role: str
    model: str


@dataclass(frozen=True)
class IssueText:
    """The issue as the agents read it: its text when a maintainer triggered the work (from
    the webhook), replaced later only by an edit from someone with write access.

    Jobs never re-read the issue's body from GitHub: an edit after the trigger by anyone else
    would steer agents that a maintainer started on other words.
    """

    title: str
    body: str
    author: str
    """Who opened the issue (no trust follows from it)."""
    as_of: str = ""
    """The issue's `updated_at` this text is from (ISO 8601): edits arriving out of order
    never replace newer text."""
    edited_by: str | None = None
    """Who (with write access) wrote the text after the trigger; None: as at the trigger."""
    ignored_editors: tuple[str, ...] = ()
    """People without write access whose edits after the trigger were ignored (said once in
    the progress comment)."""


@dataclass(frozen=True)
class Planning:
    """The CTO's side of the conversation on the issue."""

    questions: tuple[str, ...] = ()
    """The questions the CTO posted (numbered from 1 in the comment)."""
    feedback: str | None = None
    """`/aios plan <feedback>` waiting for the next triage run."""
    approved_by: str | None = None
    """Who approved the plan, once someone did."""


@dataclass(frozen=True)
class Handoff:
    """An agent's note for the agents after it: its `finish` summary."""

    role: str
    note: str


@dataclass(frozen=True)
class Narration:
    """What the acting agent is doing now, as shown under the progress checklist."""

    role: str
    text: str


@dataclass(frozen=True)
class Work:
    """The implementation so far: tasks done, the agents' notes, the current narration."""

    tasks_done: int = 0
    commits: int = 0
    """Commits the agents pushed for the plan's tasks; none means nothing to open a PR with."""
    handoffs: tuple[Handoff, ...] = ()
    narration: Narration | None = None
    environment: EnvironmentReport | None = None


@dataclass(frozen=True)
class PullRequestState:
    """The agents' pull request as AIOS last saw it (its number is `WorkItem.pr_number`)."""

    node_id: str | None = None
    """GraphQL id, for marking the draft ready for review."""
    head_sha: str | None = None
    """The head commit AIOS pushed or read last: CI and the check run are about this one."""
    merge_waiting: bool = False
    """An approved merge waits for running checks; their completion asks for the merge again."""
    check_run_sha: str | None = None
    """The commit AIOS's check run was last written on; a new head supersedes it."""


@dataclass(frozen=True)
class FixRequest:
    """A maintainer's request for the next fix round (a review body, `/aios fix <text>`)."""

    by: str
    text: str


@dataclass(frozen=True)
class Feedback:
    """What the next fix round must address besides the open review threads."""

    requests: tuple[FixRequest, ...] = ()
    qa_notes: str | None = None
    """The QA review's summary when it asked for changes."""
    more: bool = False
    """Feedback arrived while a fix round ran: one more round follows it."""


@dataclass(frozen=True)
class CIState:
    """CI on the head commit as the next fix round and the stop messages need it."""

    failure: str | None = None
    """The digest of the failing checks (summaries, annotations, log tails)."""
    failed_checks: str = ""
    """The failing checks' names, for messages (`tests`, `lint`)."""
    repeated: bool = False
    """The failure being reported is the one the last fix round was for."""
    fingerprint: str | None = None
    """The fingerprint of the last failure reported."""
    sha: str | None = None
    """The commit that failure was reported on: the same failure on the same commit, read
    again from another CI event, is not news."""


@dataclass(frozen=True)
class PendingEffects:
    """The effects of the last transition not carried out yet.

    A job killed between storing a transition and carrying out its effects leaves them here;
    the retried job finds the event already applied and carries them out then. If it dies
    for good, the sweeper does (`bot.engine.carry_out_pending`).
    """

    event: str
    actor: str
    effects: tuple[str, ...]
    job_id: str | None = None
    """The RQ job that owes them: while it is queued or running, its retry will finish them
    and the sweeper leaves them alone."""
