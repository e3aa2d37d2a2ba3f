"""`aios agent run --repo` honours the repository's `.github/aios.yml` `environment` as the
App does: the setup runs before the agent, its `finish` waits for the tests' verdict, and a
failing setup stops the run showing why."""

from __future__ import annotations

import json
from pathlib import Path

from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import Turn, call, finish
from tests.test_agent_cli import KEY, branches, local_repo, run_cli
from tests.test_workspace import git

TEST_FILE = (
    "import unittest\n\nfrom greet import greet\n\n\nclass Greet(unittest.TestCase):\n"
    "    def test_greet(self):\n        self.assertTrue(greet('Ada').startswith('Hello'))\n"
)


def configured(path: Path, environment: dict[str, object]) -> Path:
    repo = local_repo(path)
    (repo / ".github").mkdir()
    (repo / ".github" / "aios.yml").write_text(json.dumps({"environment": environment}))
    (repo / "test_greet.py").write_text(TEST_FILE)
    git("add", "-A", cwd=repo)
    git("-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-qm", "env", cwd=repo)
    return repo


def test_the_setup_runs_first_and_the_finish_waits_for_the_tests(tmp_path: Path) -> None:
    repo = configured(
        tmp_path / "project",
        {
            "setup": ["mkdir -p .deps && echo installed > .deps/marker"],
            "test": "python3 -m unittest -v",
            "cache": [".deps"],
        },
    )
    excited = "def greet(name):\n    return 'Hello ' + name + '!'\n"
    short = "def greet(name):\n    return 'Hi ' + name\n"
    model = ScriptedModel(
        [
            Turn("Is it set up?", [call("run", command="grep -q installed .deps/marker")]),
            Turn("Shorter.", [call("write_file", path="greet.py", content=short)]),
            finish("The greeting is short."),  # refused: the test that passed now fails
            Turn("Excited now.", [call("write_file", path="greet.py", content=excited)]),
            finish("The greeting is excited."),
        ],
        api_key=KEY,
    )
    done = run_cli(tmp_path, repo, model)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "environment: from `.github/aios.yml`" in out
    assert "setup: ran 1 command" in out
    # The marker the setup wrote is there when the agent's first command runs.
    assert out.split("grep -q installed .deps/marker", 1)[1].lstrip().startswith("[exit code 0;")
    refusal = json.dumps(model.requests[3].body)
    assert "Not finished" in refusal and "1 failed" in refusal and "test_greet" in refusal
    assert "tests: 1 passed" in out
    (branch,) = [b for b in branches(repo) if b.startswith("aios/")]
    files = git("ls-tree", "-r", "--name-only", branch, cwd=repo).split()
    assert ".deps/marker" not in files and "greet.py" in files  # set up, never committed


def test_a_failing_setup_stops_the_run_before_the_agent(tmp_path: Path) -> None:
    repo = configured(tmp_path / "project", {"setup": ["echo 'no such package: zzz'; exit 4"]})
    model = ScriptedModel([finish("never asked")], api_key=KEY)
    done = run_cli(tmp_path, repo, model)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "setup failed" in done.stdout and "exited with code 4" in done.stdout
    assert "no such package: zzz" in done.stdout
    assert not model.requests  # no model call on a workspace that is not set up
