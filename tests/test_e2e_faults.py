"""Faults with real processes: a worker SIGKILLed mid-agent, an agent job out of time, a job
killed between storing a transition and carrying out its effects.

One `aios serve` serves the whole module (each scenario on an issue of its own), with an
agent timeout of a few seconds and a pending-effects sweep after one second, so time is
driven by settings and every wait is on a condition with a deadline.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.github.openapi import OpenAPIChecker
from tests.fakes.github.state import AppIdentity
from tests.fakes.llm import Hang, LoopbackLLM, ScriptedModel, Turn, call, finish, qa_pass
from tests.serve_harness import (
    REPO,
    Serve,
    children_of,
    spawn_serve,
    stop_serve,
    wait_for,
    workers_of,
)

AGENT_TIMEOUT_S = 5
"""Per agent job; the agent stops a second before it, at its last checkpoint."""


@dataclass
class Stack:
    github: FakeGitHub
    model: ScriptedModel
    serve: Serve

    def label(self, title: str, label: str = "aios:backend") -> int:
        issue = self.github.add_issue(REPO, title)
        self.github.label_issue_as("alice", REPO, issue.number, label)
        return issue.number

    def marked(self, number: int, marker: str) -> list[Any]:
        return [c for c in self.github.comments(REPO, number) if c.body.startswith(marker)]

    def progress(self, number: int) -> list[Any]:
        return self.marked(number, f"<!-- aios:progress item={REPO}#{number} -->")

    def pulls_from(self, branch: str) -> list[Any]:
        return [pr for pr in self.github.pulls(REPO) if pr.head == branch]

    def handed_over(self, branch: str) -> bool:
        """The PR of `branch` exists and its check run completed: the flow came to rest."""
        heads = {pr.head_sha for pr in self.pulls_from(branch)}
        return any(
            run.status == "completed" and run.head_sha in heads
            for run in self.github.check_runs(REPO)
        )


@pytest.fixture(scope="module")
def stack(
    openapi_checker: OpenAPIChecker,
    github_app_identity: AppIdentity,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    github = FakeGitHub(openapi_checker, app=dataclasses.replace(github_app_identity))
    github.add_installation(1, "octo-org", [REPO])
    github.set_permission(REPO, "alice", "write")
    github.start()
    model = ScriptedModel([])
    llm = LoopbackLLM(model).__enter__()
    workdir: Path = tmp_path_factory.mktemp("faults")
    serve = spawn_serve(
        github,
        llm,
        workdir,
        env={"AIOS_AGENT_TIMEOUT_S": str(AGENT_TIMEOUT_S), "AIOS_PENDING_EFFECTS_AFTER_S": "1"},
    )
    github.webhook_url = f"{serve.url}/webhook"
    try:
        yield Stack(github, model, serve)
    finally:
        stop_serve(serve)
        llm.__exit__()
        github.stop()
    assert github.violations == [], "\n".join(github.violations)


def test_a_worker_killed_mid_agent_takes_its_work_horse_along(stack: Stack) -> None:
    """Finding 8: SIGKILL to the worker alone. Its horse must not go on spending, and the
    retried job continues the agent from its checkpoint instead of starting over."""
    first = len(stack.model.requests)
    hang = Hang()
    stack.model.script += [
        Turn("Starting.", [call("write_file", path="crash.txt", content="A = 1\n")]),
        hang,
    ]
    number = stack.label("Survive a killed worker")
    wait_for(hang.arrived.is_set, "the agent to be in its second model call", timeout=30)
    stack.model.script += [finish("Done after the restart."), qa_pass()]
    (worker,) = workers_of(stack.serve)
    assert len(children_of(worker)) == 1, "the worker runs the agent in one work horse"
    os.kill(worker, signal.SIGKILL)  # the worker only: not its process group, not its horse
    wait_for(hang.abandoned.is_set, "the work horse to die with its worker (its call hung up)")

    branch = f"aios/{number}-survive-a-killed-worker"
    wait_for(lambda: stack.handed_over(branch), "the PR after the restart", timeout=60)
    # The first step, the call the kill interrupted, that call again from the checkpoint
    # (byte for byte: the prompt cache still holds its prefix), and QA's review.
    calls = stack.model.requests[first:]
    assert len(calls) == 4, [r.status for r in calls]
    assert calls[2].body == calls[1].body
    assert len(stack.pulls_from(branch)) == 1
    assert len(stack.progress(number)) == 1
    assert stack.github.git(REPO).read(branch, "crash.txt") == b"A = 1\n"
