"""`aios eval`: the task loader's errors, and real runs of the task set through the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.evals.runner import failures
from bot.evals.script import load_script
from bot.evals.stage import ScriptRouter, Setup
from bot.evals.suite import run_all
from bot.evals.task import TaskError, load_task, load_tasks
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import finish, qa_pass
from tests.eval_harness import aios_eval

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "evals" / "tasks"
NAMES = [
    "deps-install",
    "duration-parse",
    "greet-languages",
    "inventory-refactor",
    "js-query-string",
    "js-wordcount",
    "lint-ci-fix",
    "median-weakened-test",
    "price-currency",
    "slug-bugfix",
    "stats-add-tests",
    "todo-fullstack",
]
RUN_TIMEOUT_S = 400
HIDDEN_MARK = "HIDDEN-ACCEPTANCE"
"""The first line of every hidden test file: words no project file or prompt holds."""


def copy_task(tmp_path: Path, name: str = "slug-bugfix") -> Path:
    return Path(shutil.copytree(TASKS / name, tmp_path / name))


def test_the_shipped_tasks_load_with_their_scripts() -> None:
    tasks = load_tasks(TASKS)
    assert [t.name for t in tasks] == NAMES
    greet = tasks[NAMES.index("greet-languages")]
    assert greet.labels == ("aios",) and len(greet.answers) == 1
    assert greet.ci == ("python3", "-m", "unittest")
    assert all(HIDDEN_MARK not in text for t in tasks for text in t.files().values())


def test_no_issue_names_a_hidden_test_and_no_hidden_file_is_in_the_project() -> None:
    found: dict[str, list[str]] = {}
    for task in load_tasks(TASKS):
        issue = "\n".join([task.title, task.body, *task.answers, task.review or ""])
        hidden = [p for p in task.hidden_dir.rglob("*") if p.is_file()]
        assert not {p.name for p in hidden} & {Path(f).name for f in task.files()}, task.name
        # Python's `def test_x` and node:test's `test("x", ...)`.
        pairs = [re.findall(r"def (test_\w+)|test\(\"([^\"]+)\"", p.read_text()) for p in hidden]
        found[task.name] = [
            name for found_in in pairs for pair in found_in for name in pair if name
        ]
        assert [name for name in found[task.name] if name in issue] == [], task.name
    assert found["slug-bugfix"] and found["js-wordcount"]  # both spellings are recognised


def test_a_script_turns_into_the_scripted_model_s_turns(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text(
        '- say: Writing.\n  calls: [{tool: write_file, path: a.py, content: "A = 1\\n"}]\n'
        "- finish: {summary: Done., replies: {}}\n"
        "- qa_pass: Nothing blocking.\n"
    )
    write, done, qa = load_script(path)
    assert (write.text, write.calls) == (
        "Writing.",
        [("write_file", {"path": "a.py", "content": "A = 1\n"})],
    )
    assert done == finish(json.dumps({"summary": "Done.", "replies": {}}))
    assert qa == qa_pass("Nothing blocking.")


@pytest.mark.parametrize(
    ("break_it", "where", "says"),
    [
        (lambda t: (t / "task.yml").write_text("title: x\n"), "task.yml", "labels is required"),
        (
            lambda t: (t / "task.yml").write_text("title: x\nlabels: [backend]\nci: a\njudge: b\n"),
            "task.yml",
            "labels must be a non-empty list of `aios` or `aios:<role>`",
        ),
        (
            lambda t: (t / "task.yml").write_text(
                "title: x\nlabels: [aios]\nci: a\njudge: b\nanswer: [y]\n"
            ),
            "task.yml",
            "unknown field(s) answer",
        ),
        (lambda t: shutil.rmtree(t / "hidden"), "hidden", "missing or empty"),
        (
            lambda t: (t / "wrong.yml").write_text("- finish: done\n- qa: pass\n"),
            "wrong.yml",
            "turn 2: unknown key(s) qa",
        ),
        (
            lambda t: (t / "solution.yml").write_text("- say: hm\n"),
            "solution.yml",
            "turn 1: calls must be a non-empty list",
        ),
        (
            lambda t: (t / "packages" / "tally" / "tally.py").parent.mkdir(parents=True),
            "packages/tally",
            "a package is a folder named <name>-<version> (tally-1.0)",
        ),
        (
            lambda t: (t / "packages" / "tally-1.0" / "README").parent.mkdir(parents=True),
            "packages/tally-1.0",
            "holds no .py file for the wheel",
        ),
    ],
)
def test_the_loader_says_what_is_wrong_and_where(
    tmp_path: Path, break_it: Any, where: str, says: str
) -> None:
    task = copy_task(tmp_path)
    break_it(task)
    with pytest.raises(TaskError) as raised:
        load_task(task)
    assert str(raised.value).startswith(str(task / where))
    assert says in str(raised.value)


def test_an_unknown_task_name_lists_the_known_ones(tmp_path: Path) -> None:
    copy_task(tmp_path)
    with pytest.raises(TaskError, match=r"no task named nope \(known: slug-bugfix\)"):
        load_tasks(tmp_path, ["nope"])


def run_eval(model: str, tmp_path: Path, *more: str) -> tuple[int, dict[str, Any], str, Path]:
    """`aios eval --jobs 2` in a child process, as a user runs it: exit code, JSON, table."""
    out, workdir = tmp_path / f"{model}.json", tmp_path / model
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}
    argv = ["eval", "--jobs", "2", "--model", model, "--tasks-dir", str(TASKS), *more]
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *argv, "--out", str(out), "--workdir", str(workdir)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert out.is_file(), done.stdout + done.stderr
    return done.returncode, json.loads(out.read_text()), done.stdout, workdir


def hidden_texts() -> list[str]:
    return [p.read_text() for p in sorted(TASKS.glob("*/hidden/**/*")) if p.is_file()]


def strings(value: Any) -> list[str]:
    """Every text in a decoded JSON request (prompts, tool results), escapes undone."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def files_with(mark: str, directory: Path) -> list[Path]:
    """Files under `directory` (the judge's checkout aside) whose bytes hold `mark`, git's
    objects included once unpacked (`git cat-file` reads every object of every bare remote)."""
    found = [
        p
        for p in directory.rglob("*")
        if p.is_file()
        and "judge" not in p.relative_to(directory).parts[:2]
        and mark.encode() in p.read_bytes()
    ]
    bares = sorted(directory.glob("remotes/*/*.git"))
    assert bares, f"no bare remote under {directory}"
    for bare in bares:
        objects = subprocess.run(
            ["git", "-C", str(bare), "cat-file", "--batch-all-objects", "--batch"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        if mark.encode() in objects:
            found.append(bare)
    return found


def test_scripted_resolves_every_task_and_the_hidden_tests_never_reach_the_agents(
    tmp_path: Path,
) -> None:
    code, results, table, workdir = run_eval("scripted", tmp_path)
    assert code == 0, table
    assert results["summary"] == {
        **results["summary"],
        "tasks": len(NAMES),
        "resolved": len(NAMES),
        "resolved_rate": 1.0,
        "human_interventions": 3,  # greet's answer, price's and duration's review comments
    }
    assert results["summary"]["cost_usd"] > 0
    # Tokens by kind, from the server's ledger: the scripted model caches the prompt's prefix.
    tokens = results["summary"]["tokens"]
    assert min(tokens["input"], tokens["cached"], tokens["output"]) > 0
    assert tokens["total"] == tokens["input"] + tokens["cached"] + tokens["output"]
    tasks = {t["name"]: t for t in results["tasks"]}
    assert list(tasks) == NAMES
    for task in tasks.values():
        assert task["resolved"] is True and task["reason"] == ""
        assert task["stopped_in"] == "merged" and task["api_violations"] == 0
        assert task["model_calls"] > 0 and task["tokens"]["total"] > 0 and task["wall_s"] > 0
    assert (
        tasks["greet-languages"]["questions"],
        tasks["greet-languages"]["human_interventions"],
    ) == (2, 1)
    assert tasks["price-currency"]["review_rounds"] == 1
    assert tasks["duration-parse"]["review_rounds"] == 1
    # A merge with review comments ends with the memory distiller's call, which the run
    # waits for and counts: the last request is the distiller's, and every one was billed.
    for reviewed in ("price-currency", "duration-parse"):
        sent = json.loads((workdir / reviewed / "model-requests.json").read_text())
        review = load_task(TASKS / reviewed).review
        assert review is not None
        distiller = "\n".join(strings(sent[-1]))
        assert '"memories"' in distiller and review.splitlines()[0] in distiller
        assert tasks[reviewed]["model_calls"] == len(sent)
    assert tasks["lint-ci-fix"]["ci_fix_attempts"] == 1  # the docstring checker failed CI once
    slug = tasks["slug-bugfix"]
    assert (slug["ci_fix_attempts"], slug["human_interventions"]) == (1, 0)  # CI failed once
    assert tasks["todo-fullstack"]["model_calls"] == 7  # CTO twice, backend, frontend, QA
    assert tasks["deps-install"]["model_calls"] == 3  # its finish passed the environment's tests
    assert f"resolved {len(NAMES)}/{len(NAMES)} (100%)" in table

    # The hidden tests never reached the agents: not in a prompt, a workspace, a commit.
    sent = "\n".join(
        text
        for name in NAMES
        for text in strings(json.loads((workdir / name / "model-requests.json").read_text()))
    )
    assert HIDDEN_MARK not in sent
    assert all(hidden not in sent for hidden in hidden_texts())
    assert all("def test_" not in line for line in sent.splitlines() if "Hidden" in line)
    assert files_with(HIDDEN_MARK, workdir) == []
    assert any(
        HIDDEN_MARK in p.read_text()
        for p in (workdir / "slug-bugfix" / "judge").iterdir()
        if p.is_file()
    )


def test_scripted_wrong_resolves_none_the_hidden_tests_say_why(tmp_path: Path) -> None:
    code, results, table, _ = run_eval("scripted-wrong", tmp_path)
    assert code == 1, table
    assert results["summary"]["resolved"] == 0 and results["summary"]["resolved_rate"] == 0.0
    for task in results["tasks"]:
        assert task["resolved"] is False and task["stopped_in"] == "merged"
        named = "FAIL: " if task["name"] != "todo-fullstack" else "not ok "  # node's TAP
        assert task["reason"].startswith(f"merged, but the hidden tests fail: {named}")
    assert f"resolved 0/{len(NAMES)} (0%)" in table


def test_a_run_that_stops_is_unresolved_with_where_and_why(
    tmp_path: Path, openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity
) -> None:
    task = copy_task(tmp_path)
    (task / "solution.yml").write_text(
        "- say: Writing.\n  calls: [{tool: write_file, path: slug.py, content: 'X = 1'}]\n"
    )
    setup = Setup(openapi_checker, github_app_identity, "scripted")
    (result,) = run_all([load_task(task)], setup, tmp_path / "run", jobs=1)
    assert not result.resolved
    assert result.stopped_in == "failed"
    assert result.reason.startswith("failed in implementing: ")
    # The ledger's count: the write was answered and billed, the call past the script refused.
    assert result.model_calls == 1
    assert result.tokens.input > 0 and result.tokens.output > 0 and result.cost_usd > 0
    assert set(result.phases) == {"setup_s"}  # it never got past the pipeline to the judge


def test_a_real_model_route_without_a_key_is_a_usage_error(tmp_path: Path) -> None:
    done = aios_eval(tmp_path, "--model", "claude-sonnet-4-5")
    assert done.returncode == 2
    assert "--model claude-sonnet-4-5 runs the real model: set ANTHROPIC_API_KEY" in done.stderr
    # A configuration without --model is run by the real model too, on its routes.
    config = tmp_path / "aios.yml"
    config.write_text("agents:\n  models:\n    backend: claude-haiku-5-5\n")
    done = aios_eval(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert f"--config {config} runs the real model: set ANTHROPIC_API_KEY" in done.stderr


def test_repeat_runs_each_task_k_times_with_the_config_under_evaluation(tmp_path: Path) -> None:
    config = tmp_path / "aios.yml"
    config.write_text("agents:\n  models:\n    backend: claude-haiku-5-5\n")
    code, results, table, workdir = run_eval(
        "scripted", tmp_path, "--tasks", "stats-add-tests", "--repeat", "2", "--config", str(config)
    )
    assert code == 0, table
    assert results["repeat"] == 2 and results["summary"]["runs"] == 2
    assert [(t["name"], t["run"], t["resolved"]) for t in results["tasks"]] == [
        ("stats-add-tests", 1, True),
        ("stats-add-tests", 2, True),
    ]
    assert results["by_task"][0]["resolved"] == 2
    assert results["summary"]["resolved_rate_spread"]["stdev"] == 0.0
    assert "resolved rate per repeat: 100% to 100%" in table
    for run in ("stats-add-tests-1", "stats-add-tests-2"):
        requests = json.loads((workdir / run / "model-requests.json").read_text())
        models = {
            role: {r["model"] for r in requests if f"the {role} agent" in r["system"][0]["text"]}
            for role in ("Backend", "QA")
        }
        # The config's route for the backend role; QA keeps the default route.
        assert models == {"Backend": {"claude-haiku-5-5"}, "QA": {"claude-sonnet-5-5"}}


def test_a_config_aios_would_refuse_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "aios.yml"
    config.write_text("agents:\n  modles:\n    backend: claude-haiku-5-5\n")
    done = aios_eval(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert f"aios: --config {config}: not a valid .github/aios.yml: line 2: agents.modles:" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (
            "..F\nFAIL: test_a (test_x.T)\nTraceback…\nRan 3 tests\nFAILED (failures=1)\n",
            "FAIL: test_a (test_x.T); FAILED (failures=1)",
        ),
        (
            "FAILED test_x.py::test_b - assert 1 == 2\n1 failed, 2 passed in 0.1s\n",
            "FAILED test_x.py::test_b - assert 1 == 2; 1 failed, 2 passed in 0.1s",
        ),
        ("TAP version 13\nnot ok 1 - counts tabs\n# fail 1\n", "not ok 1 - counts tabs; # fail 1"),
        ("Traceback\nImportError: no module x\n", "Traceback ImportError: no module x"),
        ("", "(no output)"),
    ],
)
def test_an_unresolved_reason_names_the_failing_tests_once(output: str, reason: str) -> None:
    assert failures(output) == reason


def test_a_long_reason_keeps_its_first_failures() -> None:
    output = "".join(f"FAIL: test_{n} (t.T)\n" for n in range(100)) + "FAILED (failures=100)\n"
    reason = failures(output)
    assert reason.startswith("FAIL: test_0 (t.T); FAIL: test_1") and reason.endswith("…")
    assert len(reason) == 600


def test_one_loopback_model_answers_each_run_from_its_own_script() -> None:
    router = ScriptRouter()
    router.add("eval-org/slug-bugfix-2", ScriptedModel([finish("second run")]))
    router.add("eval-org/slug-bugfix", ScriptedModel([finish("first run")]))
    headers = {"x-api-key": "k"}

    def ask(text: str) -> tuple[int, dict[str, Any]]:
        body = {
            "model": "claude-sonnet-5-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": text}],
        }
        status, answer, _ = router.handle("/v1/messages", headers, json.dumps(body).encode())
        return status, answer

    status, answer = ask("Work on eval-org/slug-bugfix, issue #1.")
    assert status == 200 and "first run" in json.dumps(answer)
    status, answer = ask("Work on eval-org/slug-bugfix-2, issue #1.")
    assert status == 200 and "second run" in json.dumps(answer)
    status, answer = ask("Work on some-org/elsewhere.")
    assert status == 400 and "no eval task's repository" in json.dumps(answer)
