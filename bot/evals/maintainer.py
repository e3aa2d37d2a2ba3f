"""The scripted maintainer: answers the CTO, approves the plan, runs CI, reviews, approves.

It acts on the work item as `aios serve` stored it (its state) and on what AIOS wrote on the
local GitHub (the plan comment, its own check run), the way a person reads the issue page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.evals.checkout import Outcome, checkout, run_command
from bot.evals.serve import Serve
from bot.evals.task import Task
from bot.render.plan import APPROVE_LINE
from bot.testbed.github import FakeGitHub
from bot.testbed.github.state import GITHUB_ACTIONS
from bot.workitem.item import WorkItem
from bot.workitem.names import comment_marker, progress_marker
from bot.workitem.states import State

MAINTAINER = "alice"
CI_NAME = "tests"
POLL_S = 0.1
STOPPED = (State.FAILED, State.CANCELLED, State.PAUSED)
REASON_CHARS = 400


class Stopped(Exception):
    """The run ended before a merge: `reason` says where and with what."""

    def __init__(self, reason: str, state: State | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.state = state


@dataclass
class Maintainer:
    fake: FakeGitHub
    serve: Serve
    task: Task
    repo: str
    scratch: Path
    """Where the CI checkouts go (one per head commit)."""
    ci_env: dict[str, str] = field(default_factory=dict)
    """Environment for the CI command (the task's package index)."""
    answers_given: int = 0
    questions: int = 0
    reviews_left: int = 0
    ci_runs: dict[str, Outcome] = field(default_factory=dict)
    _answered_this_round: bool = False
    _plan_approved: bool = False
    _review_sha: str | None = None
    _approved: set[str] = field(default_factory=set)

    @property
    def human_interventions(self) -> int:
        return self.answers_given + self.reviews_left

    def drive(self, number: int, deadline: float) -> WorkItem:
        """Play the maintainer for issue `number` until its PR is merged and AIOS has learned
        from it (the distiller's call is part of what the issue cost; a learning that does
        not end by `deadline` is not waited for further).

        Raises:
            Stopped: the item failed, paused, was cancelled or handed to a human, serve
                exited, or `deadline` (a `time.monotonic()` value) passed.
        """
        item: WorkItem | None = None
        while True:
            if self.serve.process.poll() is not None:
                raise Stopped(f"aios serve exited:\n{self.serve.log_tail(REASON_CHARS)}", None)
            item = self.serve.item(self.repo, number) or item
            if item is not None:
                if item.state is State.MERGED:
                    return self._learned(item, deadline)
                self._check_stopped(item)
                self._act(item)
            if time.monotonic() > deadline:
                where = item.state.label if item is not None else "before the work item existed"
                raise Stopped(f"timed out in {where}", item.state if item else None)
            time.sleep(POLL_S)

    def _learned(self, item: WorkItem, deadline: float) -> WorkItem:
        while not self.serve.learned(item) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return item

    def _check_stopped(self, item: WorkItem) -> None:
        if item.state in STOPPED:
            where = (item.stopped_in or item.state).label
            what = item.failure or self._progress_text(item.number)
            raise Stopped(f"{item.state.label} in {where}: {_short(what)}", item.state)
        if item.needs_human:
            raise Stopped(f"handed to a human: {_short(item.needs_human)}", item.state)

    def _act(self, item: WorkItem) -> None:
        if item.state is not State.CLARIFYING:
            self._answered_this_round = False
        if item.state is State.CLARIFYING and not self._answered_this_round:
            self._answer(item)
        elif item.state is State.AWAITING_PLAN_APPROVAL and not self._plan_approved:
            self._approve_plan(item)
        elif item.state is State.AWAITING_APPROVAL and self._handed_over(item):
            self._pull_request(item)

    def _answer(self, item: WorkItem) -> None:
        self.questions += len(item.planning.questions)  # asked, answered or not
        if self.answers_given >= len(self.task.answers):
            asked = " ".join(item.planning.questions)
            # A replayed issue's answers are not on record: a made-up one would flatter the run.
            why = (
                "questions the history cannot answer"
                if self.task.source
                else "more than the task answers"
            )
            raise Stopped(f"the CTO asked {why}: {_short(asked)}", item.state)
        answer = self.task.answers[self.answers_given]
        self.fake.comment_as(MAINTAINER, self.repo, item.number, answer)
        self.answers_given += 1
        self._answered_this_round = True

    def _approve_plan(self, item: WorkItem) -> None:
        marker = comment_marker("plan", self.repo, item.number)
        for comment in self.fake.comments(self.repo, item.number):
            if comment.body.startswith(marker) and APPROVE_LINE in comment.body:
                ticked = comment.body.replace(APPROVE_LINE, APPROVE_LINE.replace("[ ]", "[x]"), 1)
                self.fake.edit_comment_as(MAINTAINER, comment.id, ticked)
                self._plan_approved = True
                return

    def _handed_over(self, item: WorkItem) -> bool:
        """AIOS's own check run on the head is completed: the PR waits for the maintainers."""
        sha = item.pr.head_sha
        return sha is not None and any(
            run.app_id == self.fake.app_id and run.head_sha == sha and run.status == "completed"
            for run in self.fake.check_runs(self.repo)
        )

    def _pull_request(self, item: WorkItem) -> None:
        sha = item.pr.head_sha
        assert sha is not None and item.pr_number is not None
        if sha not in self.ci_runs:
            self.ci_runs[sha] = self._run_ci(sha)
            return
        if not self.ci_runs[sha].passed or sha == self._review_sha or sha in self._approved:
            return  # the agents are fixing CI or the review: a new head comes
        if self.task.review and self.reviews_left == 0:
            self.fake.review_as(
                MAINTAINER, self.repo, item.pr_number, "REQUEST_CHANGES", self.task.review
            )
            self.reviews_left += 1
            self._review_sha = sha
            return
        self.fake.review_as(MAINTAINER, self.repo, item.pr_number, "APPROVE")
        self._approved.add(sha)

    def _run_ci(self, sha: str) -> Outcome:
        """The task's test command on a checkout of `sha`, reported as a GitHub Actions run."""
        bare = self.fake.repo(self.repo).git_dir
        assert bare is not None
        tree = checkout(bare, sha, self.scratch / f"ci-{sha[:12]}")
        ran = run_command(self.task.ci, tree, env=self.ci_env)
        # Paths as in the repository: the host's scratch directory is none of the agents' business.
        outcome = Outcome(ran.passed, ran.output.replace(f"{tree}/", ""))
        self.fake.ci_result(
            self.repo,
            sha,
            name=CI_NAME,
            conclusion="success" if outcome.passed else "failure",
            summary=f"`{' '.join(self.task.ci)}` " + ("passed" if outcome.passed else "failed"),
            text=f"```\n{outcome.output}\n```",
            app=GITHUB_ACTIONS.slug,
            log=outcome.output,
        )
        return outcome

    def _progress_text(self, number: int) -> str:
        marker = progress_marker(self.repo, number)
        bodies = [
            c.body for c in self.fake.comments(self.repo, number) if c.body.startswith(marker)
        ]
        return bodies[0].removeprefix(marker) if bodies else "(no progress comment)"


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_CHARS else flat[: REASON_CHARS - 1] + "…"
