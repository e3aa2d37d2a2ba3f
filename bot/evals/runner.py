"""One run of an eval task on the run's shared stage: its issue driven to a merge, then judged.

Runs go side by side (`--jobs`): each has its own repository, issue, scripted model and
directory (CI checkouts, the judge's checkout, the model's requests).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.agents.ledger import Totals
from bot.evals.checkout import Outcome, add_files, checkout, run_command
from bot.evals.maintainer import MAINTAINER, Maintainer, Stopped
from bot.evals.result import TaskResult, Tokens
from bot.evals.stage import SCRIPT_END, Run, Setup, Stage
from bot.evals.task import Task
from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.workitem.item import WorkItem

REQUESTS_FILE = "model-requests.json"
"""What the scripted model received, kept in the run's directory for inspection."""


def run_task(run: Run, setup: Setup, stage: Stage, workdir: Path) -> TaskResult:
    """Run `run` on `stage` in the new directory `workdir`; never raises (a crash is an
    unresolved result whose reason says what broke)."""
    started = time.monotonic()
    task, repo = run.task, run.repo
    result = TaskResult(task.name, run.number)
    workdir.mkdir(parents=True)
    model = None
    if stage.scripts is not None:
        model = ScriptedModel([*task.script(setup.model), SCRIPT_END])
        stage.scripts.add(repo, model)
    maintainer: Maintainer | None = None
    number = 0
    try:
        number = stage.fake.add_issue(repo, task.title, task.body, user=MAINTAINER).number
        for label in task.labels:
            stage.fake.label_issue_as(MAINTAINER, repo, number, label)
        result.phases["setup_s"] = _since(started)
        env = stage.packages.commands
        maintainer = Maintainer(stage.fake, stage.serve, task, repo, workdir, ci_env=env)
        maintainer.drive(number, started + task.timeout_s)
        result.phases["pipeline_s"] = round(_since(started) - result.phases["setup_s"], 2)
        verdict = judge(task, stage.fake, repo, workdir / "judge", env)
        result.phases["judge_s"] = round(_since(started) - sum(result.phases.values()), 2)
        result.resolved = verdict.passed
        if not verdict.passed:
            result.reason = f"merged, but the hidden tests fail: {failures(verdict.output)}"
    except Stopped as stopped:
        result.reason = stopped.reason
    except Exception as exc:  # one task's crash must not end the others' run
        result.reason = f"the harness broke: {type(exc).__name__}: {exc}"
    finally:
        if number:
            _record(result, stage.serve.item(repo, number), stage.serve.usage(repo, number))
        if maintainer is not None:
            result.questions = maintainer.questions
            result.human_interventions = maintainer.human_interventions
        # Every request names its repository: this run's are the ones under it.
        result.api_violations = sum(1 for v in stage.fake.violations if f"/{repo}/" in v)
        if model is not None:
            _keep_requests(model, workdir / REQUESTS_FILE)
    result.wall_s = _since(started)
    return result


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def judge(
    task: Task, fake: FakeGitHub, full_name: str, into: Path, env: dict[str, str] | None = None
) -> Outcome:
    """The hidden tests on a checkout of the default branch: the first and only time they
    are anywhere near the project's files."""
    repo = fake.repo(full_name)
    assert repo.git_dir is not None
    tree = checkout(repo.git_dir, repo.default_branch, into)
    add_files(task.hidden_dir, tree)
    return run_command(task.judge, tree, env=env)


def _record(result: TaskResult, item: WorkItem | None, usage: Totals) -> None:
    if item is not None:
        result.stopped_in = item.state.value
        result.review_rounds = item.review_rounds + item.fix_rounds  # QA's and maintainers'
        result.ci_fix_attempts = item.ci_fix_attempts
    used = usage.usage
    result.model_calls = usage.calls
    result.cost_usd = round(usage.cost_usd, 6)
    result.tokens = Tokens(
        input=used.input_tokens + used.cache_write_tokens,
        cached=used.cache_read_tokens,
        output=used.output_tokens,
        total=used.total_tokens,
    )


def _keep_requests(model: ScriptedModel, path: Path) -> None:
    path.write_text(json.dumps([r.body for r in model.requests]))


def failures(output: str, chars: int = 600) -> str:
    """unittest's, pytest's and `node --test`'s failing test names and closing line (the
    names first, as many as fit), else the output's tail."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    named = [
        line
        for line in lines
        if line.startswith(("FAIL:", "ERROR:", "not ok "))
        # pytest's `FAILED test_x.py::name`, not unittest's closing `FAILED (failures=1)`
        or (line.startswith("FAILED ") and not line.startswith("FAILED ("))
    ]
    if not named:
        tail = " ".join(" ".join(lines).split())
        return tail if len(tail) <= chars else "…" + tail[-chars:]
    text = "; ".join([*named, lines[-1]])
    return text if len(text) <= chars else text[: chars - 1] + "…"
