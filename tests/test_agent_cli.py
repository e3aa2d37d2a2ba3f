"""`aios agent run` as a real subprocess against the loopback scripted model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.llm import LoopbackLLM, ScriptedModel, Turn, call, finish
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
