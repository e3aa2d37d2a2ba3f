"""`.github/aios.yml`'s `environment` honoured by the whole pipeline (in one process, real RQ
workers, the real sandbox): a failing setup stops the item showing why, a coder cannot finish
on failing tests, the verdict reaches the handoff note, progress comment and pull request,
the cache replaces the setup of the next item, and a full disk refuses to start the job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.testbed.turns import Turn, call, finish, qa_pass
from bot.workitem.states import State
from tests.agent_harness import Team
from tests.serve_harness import REPO
from tests.test_promises import configure, label, say

TEST = "python3 -m unittest -v"
TEST_FILE = (
    "import unittest\n\nimport app\n\n\nclass Hello(unittest.TestCase):\n"
    "    def test_hello(self):\n        self.assertTrue(app.hello().startswith('h'))\n"
)
"""Passes on the default branch (`hi`): a failure is the agent's, not one from before."""


def greeting(text: str) -> Turn:
    return Turn(
        "Changing the greeting.",
        [call("write_file", path="app.py", content=f"def hello():\n    return {text!r}\n")],
    )


def test_a_failing_setup_stops_the_item_showing_the_command_and_its_last_lines(
    team: Team,
) -> None:
    configure(
        team, {"environment": {"setup": ["echo fetching; echo 'no such package: zzz'; exit 3"]}}
    )
    number = label(team, "Excited greeting", "aios:backend")
    item = team.item(number)
    assert item.state is State.FAILED
    body = team.progress(number)
    assert "the environment setup failed" in body
    assert "exited with code 3" in body and "no such package: zzz" in body
    assert "environment.setup" in body  # the hint: what to fix
    assert not team.model.requests  # no agent ran on a workspace that is not set up


def test_failing_tests_refuse_the_finish_and_the_verdict_is_shown_everywhere(team: Team) -> None:
    configure(
        team,
        {
            "environment": {
                "setup": ["mkdir -p .deps && echo installed > .deps/marker"],
                "test": TEST,
                "cache": [".deps"],
            }
        },
    )
    team.fake.push_as("alice", REPO, "main", {"test_app.py": TEST_FILE})
    team.model.script += [
        greeting("Hi!"),  # breaks the test, which passed before
        finish("Backend: greeting done."),  # refused: the test fails
        greeting("hi!"),
        finish("Backend: greeting is excited now."),
        qa_pass(),
    ]
    number = label(team, "Excited greeting", "aios:backend")

    refusal = json.dumps(team.model.requests[2].body)
    assert "Not finished" in refusal and "1 failed" in refusal and "test_hello" in refusal
    verdict = "tests: 1 passed"
    item = team.item(number)
    assert item.work.handoffs[0].note == f"Backend: greeting is excited now.\n\n{verdict}"
    body = team.progress(number)
    assert f"✅ {verdict}" in body
    assert "🧰 **Environment:** from `.github/aios.yml`" in body
    (pr,) = team.fake.pulls(REPO)
    assert f"**Tests** (as AIOS last ran them): ✅ {verdict}" in pr.issue.body
    assert team.fake.git(REPO).read(pr.head, ".deps/marker") is None  # never committed

    # The next item on the same lock files: the setup is restored, not run again.
    team.model.script += [greeting("hey!"), finish("Backend: hey."), qa_pass()]
    second = label(team, "Another greeting", "aios:backend")
    assert "restored .deps from the cache" in team.progress(second)


def test_a_job_below_the_disk_floor_fails_its_item_saying_what_to_free(
    team: Team, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIOS_DISK_FLOOR", "100%")  # more than is ever free
    number = label(team, "Excited greeting", "aios:backend")
    assert team.item(number).state is State.FAILED
    body = team.progress(number)
    assert "AIOS_DISK_FLOOR" in body and "frees disk space" in body
    assert not team.model.requests
    assert not (tmp_path / "data" / "workspaces").exists()  # refused before any clone


def test_an_environment_the_cto_proposed_runs_only_once_a_maintainer_approved_it(
    team: Team,
) -> None:
    proposal = {"setup": ["echo proposed > .ready"], "test": TEST}
    tasks = [{"role": "backend", "title": "Excited greeting"}]
    answer = {"plan": {"summary": "One task.", "tasks": tasks, "environment": proposal}}
    team.model.script.append(finish(json.dumps(answer)))
    number = label(team, "Excited greeting")
    assert team.item(number).state is State.AWAITING_PLAN_APPROVAL
    assert team.item(number).work.environment is None  # nothing set up before the approval

    team.model.script += [greeting("hi!"), finish("Backend: excited."), qa_pass()]
    say(team, number, "/aios approve")
    environment = team.item(number).work.environment
    assert environment is not None
    assert environment.chosen.startswith("proposed in the plan, approved by @alice")
    assert environment.setup.startswith("ran 1 command")
    assert "🧰 **Environment:** proposed in the plan, approved by" in team.progress(number)
