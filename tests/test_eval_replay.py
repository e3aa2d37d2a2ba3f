"""`aios eval --replay`: linking issues to the PRs that fixed them, and a replayed history."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.evals.history import changed_tests, choose, closing_issues, is_test_path, linked
from bot.evals.replay import project_test_command
from bot.evals.stage import Setup
from bot.evals.suite import run_all
from bot.evals.task import TaskError, load_task, load_tasks
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.routes.pulls import close_referenced_issues
from bot.testbed.github.state import AppIdentity, PullRequest, iso
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import Fail, Turn, call, finish, qa_pass
from tests.eval_harness import aios_eval

REPO = "acme/calc"
RUN_TIMEOUT_S = 240


# -- linking and selection (no servers) ------------------------------------------------------


def test_closing_keywords_link_an_issue_as_github_does() -> None:
    body = (
        "Fixes #3, closes: acme/calc#4 and resolved https://github.com/acme/calc/issues/5.\n"
        "Fixes other/repo#6; mentions #7; fix #3 again; Resolves #8"
    )
    assert closing_issues(body, "Acme/Calc") == [3, 4, 5, 8]
    assert closing_issues(None, REPO) == []


@pytest.mark.parametrize(
    ("path", "test"),
    [
        ("tests/test_calc.py", True),
        ("pkg/test_util.py", True),
        ("pkg/util_test.go", True),
        ("web/src/__tests__/app.js", True),
        ("web/src/app.test.tsx", True),
        ("spec/models/user_spec.rb", True),
        ("conftest.py", True),
        ("calc.py", False),
        ("docs/testing.md", False),
        ("contest.py", False),
    ],
)
def test_test_looking_paths(path: str, test: bool) -> None:
    assert is_test_path(path) is test


def pull(number: int, body: str, merged_at: str | None, sha: str = "m") -> dict[str, Any]:
    return {"number": number, "body": body, "merged_at": merged_at, "merge_commit_sha": sha}


def issue(number: int, closed_at: str | None, **extra: Any) -> dict[str, Any]:
    state = "closed" if closed_at else "open"
    return {"number": number, "title": f"issue {number}", "body": None, "labels": [],
            "state": state, "closed_at": closed_at, **extra}  # fmt: skip


def test_only_merged_pulls_link_and_the_latest_closed_issues_are_chosen() -> None:
    pulls = [
        pull(10, "Fixes #1", "2026-01-01T00:00:00Z", "a"),
        pull(11, "Fixes #2", None),  # closed without merging: fixed nothing
        pull(12, "Closes #3 and #4", "2026-01-03T00:00:00Z", "c"),  # only #3 is closed
        pull(13, "Fixes #5", "2026-01-04T00:00:00Z", "d"),  # #5 is a pull request
        pull(14, "Fixes #1 for good", "2026-01-05T00:00:00Z", "e"),
    ]
    fixed_by = linked(pulls, REPO)
    assert {n: p["number"] for n, p in fixed_by.items()} == {1: 14, 3: 12, 5: 13}
    issues = [
        issue(1, "2026-01-05T00:00:00Z"),
        issue(2, "2026-01-06T00:00:00Z"),
        issue(3, "2026-01-03T00:00:00Z", labels=[{"name": "bug"}]),
        issue(4, None),
        issue(5, "2026-01-04T00:00:00Z", pull_request={}),
    ]
    chosen = choose(issues, fixed_by, 5)
    assert [(f.issue, f.pull, f.merge_commit_sha) for f in chosen] == [(1, 14, "e"), (3, 12, "c")]
    assert chosen[1].labels == ("bug",)
    assert [f.issue for f in choose(issues, fixed_by, 1)] == [1]


def test_hidden_tests_are_the_test_files_a_pull_request_added_or_changed() -> None:
    files = [
        {"filename": "calc.py", "status": "modified"},
        {"filename": "tests/test_calc.py", "status": "modified"},
        {"filename": "tests/test_new.py", "status": "added"},
        {"filename": "tests/test_old.py", "status": "removed"},
    ]
    assert changed_tests(files) == ("tests/test_calc.py", "tests/test_new.py")


def test_the_test_command_is_the_config_s_else_the_detected_one_else_none(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    assert project_test_command(tmp_path) is None  # no manifest: nothing detected
    (tmp_path / "go.mod").write_text("module example.com/calc\n")
    assert project_test_command(tmp_path) == "sh -c 'go mod download && go test ./...'"
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "aios.yml").write_text(
        "environment:\n  setup: []\n  test: python3 -m unittest discover -s tests\n"
    )
    assert project_test_command(tmp_path) == "python3 -m unittest discover -s tests"


# -- usage errors ----------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    drop = ("ANTHROPIC", "OPENAI", "APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--tasks", "x"], "--replay builds its own tasks from the history: drop --tasks"),
        (["--last", "0"], "--last must be 1 or more"),
        ([], "--replay reads the repository as the App: set APP_ID and PRIVATE_KEY"),
        (["--model", "scripted"], "replayed issues have no scripted solutions"),
    ],
)
def test_replay_usage_errors_exit_2(tmp_path: Path, argv: list[str], says: str) -> None:
    model = [] if "--model" in argv else ["--model", "claude-sonnet-4-5"]
    env = clean_env(ANTHROPIC_API_KEY="sk-ant-not-used")
    done = aios_eval(tmp_path, "--replay", REPO, *model, *argv, env=env, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr


# -- a replayed history, end to end ----------------------------------------------------------

BASE = {
    "calc.py": '"""Small arithmetic."""\n\n\ndef add(a, b):\n    return a + b\n\n\n'
    "def clamp(x, low, high):\n    return max(low, x)\n\n\n"
    "def mean(xs):\n    return sum(xs) / len(xs)\n",
    "tests/test_calc.py": "import unittest\n\nfrom calc import add\n\n\n"
    "class AddTest(unittest.TestCase):\n    def test_add(self):\n"
    "        self.assertEqual(add(2, 3), 5)\n",
    ".github/aios.yml": "environment:\n  test: python3 -m unittest discover -s tests\n",
}
CLAMP_FIX = "def clamp(x, low, high):\n    return min(high, max(low, x))\n"
MEAN_FIX = "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n"
CLAMP_TEST = (
    "import unittest\n\nfrom calc import add, clamp\n\n\n"
    "class AddTest(unittest.TestCase):\n    def test_add(self):\n"
    "        self.assertEqual(add(2, 3), 5)\n\n"
    "    def test_clamp_caps_at_high(self):\n        self.assertEqual(clamp(9, 0, 5), 5)\n"
)
MEAN_TEST = (
    "import unittest\n\nfrom calc import mean\n\n\n"
    "class MeanTest(unittest.TestCase):\n    def test_mean_of_nothing_is_zero(self):\n"
        "        self.assertEqual(mean([]), 0.0)\n"
)  # fmt: skip
FIXES = [
    # (issue title, PR branch, code after the fix, the PR's test file and its text)
    ("clamp() ignores the upper bound", "fix-clamp", CLAMP_FIX, "tests/test_calc.py", CLAMP_TEST),
    ("mean([]) divides by zero", "fix-mean", MEAN_FIX, "tests/test_mean.py", MEAN_TEST),
    ("add() docs", "fix-add-doc", "", "tests/test_add_doc.py",
     "import unittest\n\nimport calc\n\n\nclass DocTest(unittest.TestCase):\n"
     "    def test_add_has_a_docstring(self):\n        self.assertTrue(calc.add.__doc__)\n"),
]  # fmt: skip
ADD_DOC = 'def add(a, b):\n    """a plus b."""\n    return a + b\n'


def with_code(text: str, fix: str) -> str:
    """calc.py with the function `fix` defines replaced."""
    name = fix.split("(", 1)[0]
    head, _, rest = text.partition(name + "(")
    _, sep, tail = rest.partition("\n\n\n")
    return head + fix.rstrip("\n") + "\n" + (sep[1:] + tail if sep else "")


def merge(fake: FakeGitHub, pr: PullRequest, login: str) -> str:
    """Merge `pr` as GitHub's merge button does: a merge commit, the linked issue closed."""
    git = fake.git(REPO)
    sha = git.merge(pr.base_sha, pr.head_sha, squash=False, message=pr.title, author=(login, "x@y"))
    assert sha is not None
    git.move_branch("main", sha, pr.base_sha)
    with fake.lock:
        repo = fake.repo(REPO)
        pr.merged_at, pr.merged_by, pr.merge_commit_sha = iso(), login, sha
        pr.issue.state, pr.issue.closed_at = "closed", pr.merged_at
        close_referenced_issues(repo, pr, login)
    return sha


def seed_history(fake: FakeGitHub, root: Path) -> list[dict[str, Any]]:
    """acme/calc: three issues each fixed by a merged PR that changes code and a test; a
    closed issue without a PR; an open issue whose PR was closed unmerged."""
    fake.create_git_repo(REPO, root, BASE)
    fake.add_installation(7, "acme", [REPO])
    numbers = [fake.add_issue(REPO, title, "It is wrong.", labels=["bug"]).number
               for title, *_ in FIXES]  # fmt: skip
    fake.add_issue(REPO, "Question: why Python?", state="closed")
    still_open = fake.add_issue(REPO, "Support complex numbers").number
    fake.push_as("bob", REPO, "complex", {"complex.py": "X = 1j\n"})
    unmerged = fake.open_pull_as("bob", REPO, "complex", "main", "Complex", f"Fixes #{still_open}")
    with fake.lock:
        unmerged.issue.state, unmerged.issue.closed_at = "closed", iso()
    seeded = []
    for number, (title, branch, fix, test_path, test_text) in zip(numbers, FIXES, strict=True):
        git = fake.git(REPO)
        parent = git.branch_sha("main")
        assert parent is not None
        listed = git.git("ls-tree", "-r", "--name-only", parent).decode().split()
        before = {p: (git.read(parent, p) or b"").decode() for p in listed}
        code = with_code(before["calc.py"], fix or ADD_DOC)
        fake.push_as("bob", REPO, branch, {"calc.py": code, test_path: test_text})
        pr = fake.open_pull_as("bob", REPO, branch, "main", f"Fix: {title}", f"Fixes #{number}.")
        sha = merge(fake, pr, "bob")
        seeded.append({"issue": number, "parent": parent, "merge": sha, "before": before,
                       "test": (test_path, test_text), "code": code})  # fmt: skip
    return seeded


def seed_untested_fix(fake: FakeGitHub) -> tuple[int, int]:
    """The newest fix: a merged PR that changes code but no test (nothing to judge with)."""
    number = fake.add_issue(REPO, "add() is slow", "It is.", labels=["bug"]).number
    git = fake.git(REPO)
    main = git.branch_sha("main")
    assert main is not None
    code = (git.read(main, "calc.py") or b"").decode() + "\n\nFAST = True\n"
    fake.push_as("bob", REPO, "fast-add", {"calc.py": code})
    pr = fake.open_pull_as("bob", REPO, "fast-add", "main", "Faster add", f"Fixes #{number}.")
    merge(fake, pr, "bob")
    return number, pr.number


def cto_plan(title: str) -> Turn:
    plan = {"summary": title, "tasks": [{"role": "backend", "title": title,
            "acceptance": ["the tests pass"], "files": ["calc.py"]}], "risks": [],
            "decisions": []}  # fmt: skip
    return finish(json.dumps({"plan": plan}))


def team_turns(title: str, code: str) -> list[Turn]:
    """The CTO plans, the backend agent writes calc.py and finishes, QA passes."""
    return [
        cto_plan(title),
        Turn("Writing calc.py.", [call("write_file", path="calc.py", content=code)]),
        finish(f"Fixed: {title}"),
        qa_pass("Fine."),
    ]


@pytest.mark.timeout(300)  # three real `aios serve` runs in a row on a shared 2-core machine
def test_a_replayed_history_is_judged_by_the_prs_own_tests(
    tmp_path: Path, openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity
) -> None:
    source = FakeGitHub(openapi_checker, app=github_app_identity)
    seeded = seed_history(source, tmp_path / "source-remotes")
    untested_issue, untested_pull = seed_untested_fix(source)
    newest_first = seeded[::-1]
    right_mean, right_clamp = newest_first[1]["code"], newest_first[2]["code"]
    # The docstring task's "fix" changes nothing that matters: CI (the old tests) passes,
    # the PR's test fails.
    wrong_doc = newest_first[0]["before"]["calc.py"].replace("add(a, b):", "add(a, b):  # sum")
    script = [
        *team_turns("add() docs", wrong_doc),
        *team_turns("mean([]) divides by zero", right_mean),
        *team_turns("clamp() ignores the upper bound", right_clamp),
        Fail(400, "invalid_request_error", "the test's script has no more turns"),
    ]
    model = ScriptedModel(script)
    out, workdir = tmp_path / "replay.json", tmp_path / "work"
    with source, LoopbackLLM(model) as llm:
        env = clean_env(**source.env(), ANTHROPIC_BASE_URL=llm.url)
        env["ANTHROPIC_API_KEY"] = "sk-ant-replay-loopback-not-a-real-key"
        done = aios_eval(
            tmp_path,
            *("--replay", REPO, "--last", "4", "--model", "claude-sonnet-4-5", "--jobs", "1"),
            *("--out", str(out), "--workdir", str(workdir)),
            env=env,
            timeout=RUN_TIMEOUT_S,
        )
        writes = [(r.method, r.path) for r in source.requests if r.method != "GET"]
    # Nothing reached the source but the App minting its read-only token.
    assert writes == [("POST", "/app/installations/7/access_tokens")], done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads(out.read_text())
    tasks = {t["name"]: t for t in results["tasks"]}
    names = [f"calc-{s['issue']}" for s in newest_first]
    assert list(tasks) == names
    assert [tasks[n]["resolved"] for n in names] == [False, True, True]
    assert results["summary"]["resolved"] == 2 and "resolved 2/3" in done.stdout
    wrong = tasks[names[0]]
    assert wrong["stopped_in"] == "merged"
    assert wrong["reason"].startswith("merged, but the hidden tests fail: FAIL: ")
    assert "test_add_has_a_docstring" in wrong["reason"]
    assert all(tasks[n]["reason"] == "" for n in names[1:])
    # The closed issue without a PR and the open one are not replayed; the fix without a
    # test is chosen but skipped, and the report says so (a rate over 3, not over 4).
    assert "4 closed issue(s) fixed by a merged pull request" in done.stdout
    reason = f"#{untested_pull} added or changed no test files: nothing to judge with"
    assert f"#{untested_issue} (fixed by #{untested_pull}): skipped, {reason}" in done.stdout
    assert results["skipped"] == [
        {"issue": untested_issue, "pull": untested_pull, "reason": reason}
    ]

    for name, fix in zip(names, newest_first, strict=True):
        task = workdir / "tasks" / name
        project = {str(p.relative_to(task / "repo")): p.read_text()
                   for p in (task / "repo").rglob("*") if p.is_file()}  # fmt: skip
        assert project == fix["before"]  # the parent commit's files
        hidden = {str(p.relative_to(task / "hidden")): p.read_text()
                  for p in (task / "hidden").rglob("*") if p.is_file()}  # fmt: skip
        assert hidden == dict([fix["test"]])  # the PR's test file, as merged
        spec = (task / "task.yml").read_text()
        assert f"{REPO}#{fix['issue']}, fixed by #" in spec and fix["merge"] in spec
    sent = json.dumps([r.body for r in model.requests])
    hidden_names = ("test_add_has_a_docstring", "test_mean_of_nothing", "test_clamp_caps_at")
    assert not [name for name in hidden_names if name in sent]


def test_a_replayed_issue_whose_cto_asks_stops_unanswered(
    tmp_path: Path, openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity
) -> None:
    task = tmp_path / "calc-4"
    for relative, text in {
        "task.yml": "title: Make calc faster\nlabels: [aios]\nci: python3 -m unittest\n"
        "judge: python3 -m unittest\nsource: 'acme/calc#4, fixed by #9 (abc)'\n",
        "repo/calc.py": BASE["calc.py"],
        "hidden/test_speed.py": "import unittest\n",
        # The only way to reach the CTO in-process: a script; a replayed task has none.
        "solution.yml": '- finish: {questions: ["Faster at what?"]}\n',
    }.items():
        (task / relative).parent.mkdir(parents=True, exist_ok=True)
        (task / relative).write_text(text)
    setup = Setup(openapi_checker, github_app_identity, "scripted")
    (result,) = run_all([load_task(task)], setup, tmp_path / "run", jobs=1)
    assert not result.resolved and result.questions == 1
    assert result.reason == "the CTO asked questions the history cannot answer: Faster at what?"
    assert result.human_interventions == 0


def test_a_task_without_scripts_refuses_the_scripted_models(tmp_path: Path) -> None:
    task = tmp_path / "calc-5"
    (task / "repo").mkdir(parents=True)
    (task / "hidden").mkdir()
    (task / "task.yml").write_text("title: t\nlabels: [aios]\nci: a\njudge: b\n")
    (task / "repo" / "calc.py").write_text("X = 1\n")
    (task / "hidden" / "test_x.py").write_text("import unittest\n")
    assert [t.name for t in load_tasks(tmp_path, model="claude-sonnet-4-5")] == ["calc-5"]
    with pytest.raises(TaskError, match=r"solution.yml: missing, so `--model scripted` cannot"):
        load_tasks(tmp_path, model="scripted")
