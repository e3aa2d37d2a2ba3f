"""Ctrl-C during an agent run, with real processes: workers stop before Redis, the agent ends
its current step and is requeued, and the next `aios serve` resumes it from its checkpoint
without paying for a model call twice."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.runtime.catalog import BY_NAME
from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import Turn, call, finish, qa_pass
from tests.serve_harness import (
    REPO,
    Serve,
    processes_in,
    spawn_serve,
    stop_serve,
    wait_for,
    workers_of,
)

HOLD_LIMIT_S = 30.0
"""A held model call answers by itself after this long, so a broken test cannot hang."""


QUIET = {"AIOS_METRICS_TOKEN": "metrics-token-for-the-stop-test"}
"""An open /metrics is warned about at start; this test wants a log with no warning at all."""


class Gate:
    """Holds a model answer until the test opens it: the agent's step stays in flight."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._open = threading.Event()

    def hold(self) -> None:
        self.arrived.set()
        self._open.wait(HOLD_LIMIT_S)

    def open(self) -> None:
        self._open.set()


@dataclasses.dataclass
class Stack:
    github: FakeGitHub
    model: ScriptedModel
    llm: LoopbackLLM
    workdir: Path

    def progress(self, number: int) -> str:
        marker = f"<!-- aios:progress item={REPO}#{number} -->"
        (comment,) = [c for c in self.github.comments(REPO, number) if c.body.startswith(marker)]
        return str(comment.body)

    def handed_over(self, branch: str) -> bool:
        heads = {pr.head_sha for pr in self.github.pulls(REPO) if pr.head == branch}
        return any(
            run.status == "completed" and run.head_sha in heads
            for run in self.github.check_runs(REPO)
        )


@pytest.fixture
def stack(
    github_fake: FakeGitHub, scripted_model: ScriptedModel, tmp_path: Path
) -> Iterator[Stack]:
    with LoopbackLLM(scripted_model) as llm:
        yield Stack(github_fake, scripted_model, llm, tmp_path)


def _ctrl_c(serve: Serve) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
    os.killpg(serve.process.pid, signal.SIGINT)


def _exited_quietly(serve: Serve) -> str:
    """Waits for serve to exit; returns its log, which must hold no warning nor traceback."""
    assert serve.process.wait(60) == 0
    log = serve.log.read_text()
    assert "Traceback" not in log, log
    assert not re.search(r"\[(warning|error|critical)", log), log
    return log


def _without_cache_marks(value: Any) -> Any:
    """The request as the model reads it: `cache_control` marks move to the newest turn."""
    if isinstance(value, dict):
        return {k: _without_cache_marks(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_marks(v) for v in value]
    return value


def test_ctrl_c_mid_agent_stops_cleanly_and_the_restart_resumes(stack: Stack) -> None:
    gate = Gate()
    second = Turn("Now the second file.", [call("write_file", path="b.txt", content="B\n")])
    second.on_serve = gate.hold
    stack.model.script += [
        Turn("Starting.", [call("write_file", path="a.txt", content="A\n")]),
        second,
    ]
    serve = spawn_serve(stack.github, stack.llm, stack.workdir, new_session=True, env=QUIET)
    try:
        stack.github.webhook_url = f"{serve.url}/webhook"
        issue = stack.github.add_issue(REPO, "Two files")
        stack.github.label_issue_as("alice", REPO, issue.number, "aios:backend")
        wait_for(gate.arrived.is_set, "the agent to be in its second model call", timeout=30)
        # Out of the terminal's reach: Ctrl-C goes to serve alone, which stops them in order.
        redis_pid = json.loads((serve.data_dir / "redis" / "address").read_text())["pid"]
        children = [redis_pid, *workers_of(serve, include_quick=True)]
        assert len(children) == 3
        assert all(os.getsid(pid) != os.getsid(serve.process.pid) for pid in children)

        _ctrl_c(serve)
        wait_for(
            lambda: "stop after its current step" in serve.log.read_text(),
            "the worker to tell its work horse to stop after the current step",
        )
        gate.open()
        log = _exited_quietly(serve)
    finally:
        gate.open()
        stop_serve(serve)

    stopped = [line for line in log.splitlines() if "workers stopped" in line]
    assert stopped, log
    assert log.index(stopped[0]) < log.index("embedded redis stopped"), log
    assert processes_in(serve.data_dir / "redis") == []
    header = stack.progress(issue.number).splitlines()[1]
    assert "**paused: AIOS is restarting**" in header, header
    assert len(stack.model.requests) == 2  # the step in flight finished; no third call began
    requeued = re.search(r"job rescheduled .* job_id=(\S+) reason=aios-restarting", log)
    assert requeued is not None, log

    back = Gate()
    last = finish("Both files written.")
    last.on_serve = back.hold
    stack.model.script += [last, qa_pass()]
    serve = spawn_serve(stack.github, stack.llm, stack.workdir, new_session=True, env=QUIET)
    try:
        stack.github.webhook_url = f"{serve.url}/webhook"
        wait_for(back.arrived.is_set, "the resumed agent's model call", timeout=30)
        # The pause is shown only while it is true: the agent at work again says so.
        wait_for(
            lambda: "back after the restart" in stack.progress(issue.number),
            "the progress comment to say the agent is back",
        )
        assert "AIOS is restarting" not in stack.progress(issue.number)
        back.open()
        branch = f"aios/{issue.number}-two-files"
        wait_for(lambda: stack.handed_over(branch), "the PR after the restart", timeout=60)
        url = re.search(r"embedded redis started .* url=(\S+)", serve.log.read_text())
        assert url is not None
        with redis.Redis.from_url(url.group(1)) as client:
            job = client.hgetall(f"rq:job:{requeued.group(1)}")
        # The pause was no failure: the job's retries (for crashes) are all left.
        assert int(job[b"retries_left"]) == BY_NAME["run_task"].retries
        _ctrl_c(serve)
        _exited_quietly(serve)  # an idle stop is as quiet
    finally:
        back.open()
        stop_serve(serve)

    # Step one, the step Ctrl-C let finish, the step after it (resumed), QA's review: none
    # of the calls paid for before the stop is made again.
    first, interrupted, resumed, _qa = stack.model.requests
    assert json.dumps({**resumed.body, "messages": None}) == json.dumps(
        {**interrupted.body, "messages": None}
    )
    before = _without_cache_marks(interrupted.body["messages"])
    after = _without_cache_marks(resumed.body["messages"])
    assert json.dumps(after[: len(before)]) == json.dumps(before)
    answer, results = after[len(before) :]
    assert [block["name"] for block in answer["content"] if block["type"] == "tool_use"] == [
        "write_file"
    ]
    assert [block["type"] for block in results["content"]] == ["tool_result"]
    assert first.status == interrupted.status == resumed.status == 200
    git = stack.github.git(REPO)
    assert git.read(branch, "a.txt") == b"A\n"
    assert git.read(branch, "b.txt") == b"B\n"
    assert "AIOS is restarting" not in stack.progress(issue.number)
