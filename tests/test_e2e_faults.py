"""Faults with real processes: a worker SIGKILLed mid-agent, an agent job out of time, a job
killed between storing a transition and carrying out its effects.

One `aios serve` serves the whole module (each scenario on an issue of its own), with an
agent timeout of a few seconds and a pending-effects sweep after one second, so time is
driven by settings and every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import Hang, Turn, call, finish, qa_pass
from tests.fakes.plugin import started_github
from tests.serve_harness import (
    REPO,
    Serve,
    horses_of,
    spawn_serve,
    stop_serve,
    wait_for,
    workers_of,
)

AGENT_TIMEOUT_S = 10
"""Per agent job; the agent stops two seconds before it (a fifth), at its last checkpoint.
Long enough for a QA job whose GitHub writes are paced at one a second."""


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

    def redis(self) -> redis.Redis:
        """A client of the embedded Redis `aios serve` started (its URL is in the log)."""
        url = re.search(r"embedded redis started .* url=(\S+)", self.serve.log.read_text())
        assert url is not None, "aios serve did not log its Redis URL"
        return redis.Redis.from_url(url.group(1))

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
    model = ScriptedModel([])
    with (
        started_github(openapi_checker, github_app_identity) as github,
        LoopbackLLM(model) as llm,
    ):
        serve = spawn_serve(
            github,
            llm,
            tmp_path_factory.mktemp("faults"),
            env={"AIOS_AGENT_TIMEOUT_S": str(AGENT_TIMEOUT_S), "AIOS_PENDING_EFFECTS_AFTER_S": "1"},
        )
        github.webhook_url = f"{serve.url}/webhook"
        try:
            yield Stack(github, model, serve)
        finally:
            stop_serve(serve)


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
    assert len(horses_of(worker)) == 1, "the worker runs the agent in one work horse"
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
    assert [b for b in stack.github.branches(REPO) if b.startswith(f"aios/{number}-")] == [branch]
    assert stack.github.git(REPO).read(branch, "crash.txt") == b"A = 1\n"


def test_an_agent_out_of_time_fails_the_item_and_retry_resumes_it(stack: Stack) -> None:
    """Finding 7: the agent stops at its deadline, the item fails saying so, nothing runs it
    again by itself, and `/aios retry` continues from the checkpoint."""
    first = len(stack.model.requests)
    hang = Hang()
    stack.model.script += [
        Turn("Starting.", [call("write_file", path="slow.txt", content="1\n")]),
        hang,
    ]
    number = stack.label("Outlast the clock")
    wait_for(hang.abandoned.is_set, "the agent to stop at its deadline", AGENT_TIMEOUT_S + 15)
    wait_for(
        lambda: "ran out of time" in stack.progress(number)[0].body,
        "the progress comment to say why the item stopped",
    )
    (comment,) = stack.progress(number)
    assert "AIOS_AGENT_TIMEOUT_S" in comment.body and "/aios retry" in comment.body

    stack.model.script += [finish("Done, in time."), qa_pass()]
    stack.github.comment_as("alice", REPO, number, "/aios retry")
    branch = f"aios/{number}-outlast-the-clock"
    wait_for(lambda: stack.handed_over(branch), "the PR after the retry", timeout=60)
    # Two calls before the deadline, none by RQ on its own, then the cut-short call again
    # from the checkpoint and QA's review.
    calls = stack.model.requests[first:]
    assert len(calls) == 4, [r.status for r in calls]
    assert calls[2].body == calls[1].body
    assert stack.github.git(REPO).read(branch, "slow.txt") == b"1\n"
    assert len(stack.pulls_from(branch)) == 1


def test_a_job_killed_on_every_attempt_fails_its_item_and_never_repays_a_step(
    stack: Stack,
) -> None:
    """Finding 7, a poison job: its horse killed on each of its three attempts. Each retry
    continues from the checkpoint (the same request, never the run again); the item then
    fails saying so, and `/aios retry` finishes it."""
    first = len(stack.model.requests)
    hangs = [Hang(), Hang(), Hang()]
    stack.model.script += [
        Turn("Starting.", [call("write_file", path="poison.txt", content="1\n")]),
        *hangs,
    ]
    number = stack.label("Poison pill")
    (worker,) = workers_of(stack.serve)
    for attempt, hang in enumerate(hangs, start=1):
        wait_for(hang.arrived.is_set, f"attempt {attempt} to be in its model call", timeout=30)
        (horse,) = horses_of(worker)
        os.kill(horse, signal.SIGKILL)
        wait_for(hang.abandoned.is_set, f"attempt {attempt} to die")
    wait_for(
        lambda: "killed on every attempt" in stack.progress(number)[0].body,
        "the progress comment to say why the item stopped",
    )

    stack.model.script += [finish("Survived."), qa_pass()]
    stack.github.comment_as("alice", REPO, number, "/aios retry")
    branch = f"aios/{number}-poison-pill"
    wait_for(lambda: stack.handed_over(branch), "the PR after the retry", timeout=60)
    calls = stack.model.requests[first:]
    assert len(calls) == 6, [r.status for r in calls]  # 1 step, 4 tries of the 2nd, QA
    assert calls[1].body == calls[2].body == calls[3].body == calls[4].body
    assert stack.github.git(REPO).read(branch, "poison.txt") == b"1\n"


def test_effects_of_a_job_killed_for_good_are_swept_up(stack: Stack) -> None:
    """Finding 9: the job stores the CTO's questions, then dies before posting them, three
    times: its retries are spent. The sweeper posts them."""
    first = len(stack.model.requests)
    issue = stack.github.add_issue(REPO, "Pick a database")
    number = issue.number
    # From the CTO's answer on, every read of the issue's comments hangs: the first is the
    # one posting the questions does, right after the transition is stored.
    held = stack.github.hold("GET", rf"/issues/{number}/comments$", armed=False)
    answer = finish(json.dumps({"questions": ["Which database?"]}))
    answer.on_serve = held.arm
    stack.model.script.append(answer)
    stack.github.label_issue_as("alice", REPO, number, "aios")
    (worker,) = workers_of(stack.serve)
    for attempt in range(1, 4):
        wait_for(lambda a=attempt: held.arrivals == a, f"attempt {attempt} to hang")
        (horse,) = horses_of(worker)
        os.kill(horse, signal.SIGKILL)
        wait_for(lambda a=attempt: held.dropped == a, f"attempt {attempt} to die")
    assert len(stack.model.requests) == first + 1  # each retry had the CTO's answer already
    client = stack.redis()
    item_key = f"{REPO}#{number}"
    stored = json.loads(client.get(f"aios:item:{item_key}"))
    assert stored["state"] == "clarifying"
    assert stored["pending"]["effects"] == ["post_questions", "update_progress"]

    held.release()
    questions = f"<!-- aios:questions item={item_key} -->"
    wait_for(lambda: stack.marked(number, questions), "the sweeper to post the questions")
    wait_for(
        lambda: json.loads(client.get(f"aios:item:{item_key}"))["pending"] is None,
        "the pending effects to be cleared",
    )
    assert client.zscore("aios:pending-effects", item_key) is None
    assert "Which database?" in stack.marked(number, questions)[0].body
    assert len(stack.progress(number)) == 1
    client.close()
