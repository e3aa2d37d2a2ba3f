"""`aios agent run` as a real subprocess against the loopback scripted model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import Turn, call, finish
from tests.test_workspace import git

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [str(Path(sys.executable).with_name("aios")), "agent", "run"]


def local_repo(path: Path) -> Path:
    git("init", "-q", "-b", "main", str(path))
    (path / "greet.py").write_text("def greet(name):\n    return 'Hello ' + name\n")
    git("add", "-A", cwd=path)
    git("-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-qm", "start", cwd=path)
    return path


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "LANG", "HOME", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(AIOS_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), **extra)
    return env


KEY = "sk-ant-cli-test-123456"


def run_cli(
    tmp_path: Path,
    repo: Path,
    model: ScriptedModel,
    *args: str,
    task: str = "Make the greeting excited",
    data_dir: bool = True,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """`aios agent run` from inside `repo`, as a user runs it, against the loopback model.
    Without `data_dir`, AIOS_DATA_DIR is unset: the default (`.aios` here) is in play."""
    with LoopbackLLM(model) as server:
        env = environment(
            tmp_path,
            ANTHROPIC_API_KEY=KEY,
            ANTHROPIC_BASE_URL=server.url,
            OPENAI_BASE_URL=f"{server.url}/v1",  # used only with AIOS_LLM_PROVIDER=openai
        )
        env.update(extra)
        if not data_dir:
            del env["AIOS_DATA_DIR"]
        return subprocess.run(
            [*COMMAND, *args, task],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=repo,
        )


def branches(repo: Path) -> list[str]:
    return git("branch", "--format=%(refname:short)", cwd=repo).split()


def test_agent_run_narrates_and_leaves_a_commit_on_a_new_branch(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    model = ScriptedModel(
        [
            Turn("I'll read the greeting first.", [call("read_file", path="greet.py")]),
            Turn(
                "Adding the exclamation mark.",
                [
                    call(
                        "edit_file",
                        path="greet.py",
                        old="'Hello ' + name",
                        new="'Hello ' + name + '!'",
                    )
                ],
            ),
            Turn(
                "Checking it.",
                [call("run", command="python3 -c 'import greet; print(greet.greet(\"Ada\"))'")],
            ),
            finish("greet() now ends with an exclamation mark."),
        ],
        api_key="sk-ant-cli-test-123456",
    )
    with LoopbackLLM(model) as server:
        done = subprocess.run(
            [*COMMAND, "--repo", str(repo), "--role", "backend", "Make the greeting excited"],
            env=environment(
                tmp_path, ANTHROPIC_API_KEY="sk-ant-cli-test-123456", ANTHROPIC_BASE_URL=server.url
            ),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "AIOS · 🛠️ Bea (Backend) · project@main" in out
    assert "🛠️ Bea: I'll read the greeting first." in out
    assert "↳ edit_file greet.py" in out and "↳ run python3 -c" in out
    assert "[finished] greet() now ends with an exclamation mark." in out
    assert "commit " in out and "aios/local-make-the-greeting-excited" in out
    branch = "aios/local-make-the-greeting-excited"
    assert (
        git("show", f"{branch}:greet.py", cwd=repo)
        == "def greet(name):\n    return 'Hello ' + name + '!'\n"
    )
    assert "AIOS-Agent: 🛠️ Bea (Backend)" in git("log", "-1", "--format=%B", branch, cwd=repo)
    assert git("status", "--porcelain", cwd=repo) == ""  # the user's working tree is untouched
    assert (tmp_path / "data" / "transcripts").is_dir()
    assert [r.status for r in model.requests] == [200, 200, 200, 200]


def test_a_missing_key_is_a_one_line_error_naming_the_variable(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    done = subprocess.run(
        [*COMMAND, "--repo", str(repo), "do something"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ANTHROPIC_API_KEY" in lines[0]
    assert done.stdout == ""


LOG_LINE = re.compile(r"\[(debug|info)\s*\]|HTTP Request|^\d{4}-\d\d-\d\d[T ]", re.M)
"""A structlog or standard-library log line, as the console renderer writes one."""


def test_a_run_leaves_nothing_in_the_repository_and_no_log_lines_in_the_narration(
    tmp_path: Path,
) -> None:
    repo = local_repo(tmp_path / "project")
    model = ScriptedModel(
        [
            Turn(
                "Adding the exclamation mark.",
                [
                    call(
                        "write_file", path="greet.py", content="def greet(n):\n    return n + '!'\n"
                    )
                ],
            ),
            finish("Excited."),
        ],
        api_key=KEY,
    )
    done = run_cli(tmp_path, repo, model, data_dir=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # The agent's change is on its branch; the user's work tree shows nothing new.
    assert git("status", "--porcelain", "--ignored", cwd=repo) == ""
    assert "aios/local-make-the-greeting-excited" in branches(repo)
    (transcript,) = [line for line in done.stdout.splitlines() if line.startswith("transcript: ")]
    path = Path(transcript.removeprefix("transcript: "))
    assert path.is_file() and path.is_relative_to((repo / ".git").resolve())
    # The terminal shows the narration (stdout) and only what went wrong (stderr).
    assert LOG_LINE.search(done.stdout) is None, done.stdout
    assert LOG_LINE.search(done.stderr) is None, done.stderr
    assert (
        done.stdout.startswith("AIOS · ") and "🛠️ Bea: Adding the exclamation mark." in done.stdout
    )


def test_a_data_dir_set_inside_the_repository_moves_to_its_git_directory(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    model = ScriptedModel([finish("Nothing to do.")], api_key=KEY)
    done = run_cli(tmp_path, repo, model, AIOS_DATA_DIR=str(repo / "state"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert git("status", "--porcelain", "--ignored", cwd=repo) == ""
    assert list((repo / ".git" / "aios" / "transcripts").glob("*.jsonl"))


def test_uncommitted_changes_refuse_the_run_unless_forced(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    (repo / "greet.py").write_text("def greet(name):\n    return 'Hi ' + name\n")
    (repo / "notes.txt").write_text("mine\n")
    before = git("status", "--porcelain", cwd=repo)

    model = ScriptedModel([finish("Nothing to do.")], api_key=KEY)
    refused = run_cli(tmp_path, repo, model)
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert "uncommitted changes (2 files)" in line and "--force" in line
    assert model.requests == [] and branches(repo) == ["main"]

    forced = run_cli(tmp_path, repo, model, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "warning: 2 files with uncommitted changes" in forced.stderr
    assert "--force" in forced.stderr and len(model.requests) == 1
    # The user's edits are where they were, untouched by the run.
    assert git("status", "--porcelain", cwd=repo) == before
    assert (repo / "greet.py").read_text() == "def greet(name):\n    return 'Hi ' + name\n"


@pytest.mark.parametrize("commits", [False, True], ids=["git-init-only", "unborn-branch"])
def test_an_empty_repository_is_a_one_line_error(tmp_path: Path, commits: bool) -> None:
    repo = tmp_path / "empty"
    git("init", "-q", "-b", "main", str(repo))
    if commits:  # files staged but never committed: still no commit to start from
        (repo / "a.py").write_text("A = 1\n")
        git("add", "a.py", cwd=repo)
    model = ScriptedModel([finish("Nothing to do.")], api_key=KEY)
    done = run_cli(tmp_path, repo, model, "--force")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "has no commits yet" in line and "Traceback" not in done.stderr
    assert model.requests == []


def test_a_budget_stop_names_the_flag_that_was_used(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    script = [Turn("Reading.", [call("read_file", path="greet.py")]), finish("Done.")]
    model = ScriptedModel(script, api_key=KEY)
    done = run_cli(tmp_path, repo, model, "--budget", "0.001")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[budget] Stopped: this run's budget, --budget 0.001, is used up" in done.stdout
    assert "AIOS_BUDGET" not in done.stdout + done.stderr and len(model.requests) == 1


def test_a_step_limit_stop_names_the_flag_that_was_used(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    script = [Turn("Reading.", [call("read_file", path="greet.py")]), finish("Done.")]
    model = ScriptedModel(script, api_key=KEY)
    done = run_cli(tmp_path, repo, model, "--max-steps", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[step_limit] Stopped: reached --max-steps 1 without `finish`" in done.stdout
    assert "--max-steps 2" in done.stdout
    assert "AIOS_AGENT_MAX_STEPS" not in done.stdout + done.stderr


def test_a_failing_command_shows_the_end_of_its_output(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    failing = "python3 -c 'import sys; [print(f\"line {i}\") for i in range(30)]; sys.exit(3)'"
    passing = "python3 -c 'print(\"quiet success\")'"
    model = ScriptedModel(
        [
            Turn("Running the tests.", [call("run", command=failing)]),
            Turn("And the other check.", [call("run", command=passing)]),
            finish("One check fails."),
        ],
        api_key=KEY,
    )
    done = run_cli(tmp_path, repo, model)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "[exit code 3;" in out and "│ … 10 earlier lines" in out
    assert "│ line 29" in out and "│ line 10" in out and "line 9\n" not in out
    assert "[exit code 0;" in out and "│ quiet success" not in out  # a success stays short


def test_a_model_without_a_price_shows_cost_unknown_not_dollars(tmp_path: Path) -> None:
    repo = local_repo(tmp_path / "project")
    model = ScriptedModel(
        [Turn("Reading.", [call("read_file", path="greet.py")]), finish("Read it.")],
        api_key="ollama",
    )
    done = run_cli(
        tmp_path,
        repo,
        model,
        "--model",
        "llama3.1",
        AIOS_LLM_PROVIDER="openai",
        OPENAI_API_KEY="ollama",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cost unknown for llama3.1" in done.stdout
    assert "$" not in done.stdout
