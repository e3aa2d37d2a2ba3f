"""One eval task end to end: its own local GitHub, model, bare repo and `aios serve`, then judged.

Each task gets its own ports and directories, so tasks run side by side (`--jobs`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.agents.ledger import Totals
from bot.evals.checkout import Outcome, add_files, checkout, run_command
from bot.evals.command import DEFAULT_ROUTE
from bot.evals.config import with_config
from bot.evals.maintainer import MAINTAINER, Maintainer, Stopped
from bot.evals.packages import task_packages
from bot.evals.result import TaskResult, Tokens
from bot.evals.serve import Serve, spawn, stop
from bot.evals.task import SCRIPTS, Task
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import Fail
from bot.workitem.item import WorkItem

OWNER = "eval-org"
INSTALLATION_ID = 1
LOOPBACK_KEY = "sk-ant-eval-loopback-not-a-real-key"
GITHUB_SECRETS = ("PRIVATE_KEY", "WEBHOOK_SECRET")
SCRIPT_END = Fail(400, "invalid_request_error", "the task's script has no more turns")
"""Answers the first call past the script: refused, never retried, so the job fails at once
(the loopback's own answer when it runs out, a 500, is retried for minutes)."""
REQUESTS_FILE = "model-requests.json"
"""What the scripted model received, kept in the task's directory for inspection."""


@dataclass(frozen=True)
class Setup:
    """What every task of one run shares: loaded or generated once, as both are slow."""

    checker: OpenAPIChecker
    app: AppIdentity
    model: str
    """"scripted", "scripted-wrong", a model route for the real model, or "default" (the real
    model on AIOS's default routes, with `--config`'s)."""
    model_secrets: dict[str, str] = field(default_factory=dict)
    """The real model's keys (empty for the scripted model)."""
    config: dict[str, Any] | None = None
    """`--config`: the `.github/aios.yml` settings committed to every task's repository."""

    @property
    def scripted(self) -> bool:
        return self.model in SCRIPTS


def run_task(task: Task, setup: Setup, workdir: Path, run: int = 1) -> TaskResult:
    """Run `task` (its `run`th time) in the new directory `workdir`; never raises (a crash is
    an unresolved result whose reason says what broke)."""
    started = time.monotonic()
    result = TaskResult(task.name, run)
    workdir.mkdir(parents=True)
    repo = f"{OWNER}/{task.name}"
    fake = FakeGitHub(setup.checker, app=dataclasses.replace(setup.app))
    fake.add_installation(INSTALLATION_ID, OWNER, [repo])
    fake.set_permission(repo, MAINTAINER, "write")
    model = ScriptedModel([*task.script(setup.model), SCRIPT_END]) if setup.scripted else None
    serve: Serve | None = None
    maintainer: Maintainer | None = None
    number = 0
    with ExitStack() as stack:
        try:
            fake.create_git_repo(repo, workdir / "remotes", with_config(task.files(), setup.config))
            fake.start()
            stack.callback(fake.stop)
            packages = stack.enter_context(task_packages(task.path, workdir / "wheels"))
            settings, secrets = _server_environment(fake, setup, stack, model)
            serve = spawn(workdir, {**settings, **packages.serve}, secrets)
            stack.callback(stop, serve)
            fake.webhook_url = f"{serve.url}/webhook"
            result.phases["setup_s"] = _since(started)
            number = fake.add_issue(repo, task.title, task.body, user=MAINTAINER).number
            for label in task.labels:
                fake.label_issue_as(MAINTAINER, repo, number, label)
            maintainer = Maintainer(fake, serve, task, repo, workdir, ci_env=packages.commands)
            maintainer.drive(number, started + task.timeout_s)
            result.phases["pipeline_s"] = _since(started) - result.phases["setup_s"]
            verdict = judge(task, fake, workdir / "judge", packages.commands)
            result.phases["judge_s"] = round(
                _since(started) - result.phases["setup_s"] - result.phases["pipeline_s"], 2
            )
            result.resolved = verdict.passed
            if not verdict.passed:
                result.reason = f"merged, but the hidden tests fail: {failures(verdict.output)}"
        except Stopped as stopped:
            result.reason = stopped.reason
        except Exception as exc:  # one task's crash must not end the others' run
            result.reason = f"the harness broke: {type(exc).__name__}: {exc}"
        finally:
            if serve is not None and number:
                _record(result, serve.item(repo, number), serve.usage(repo, number))
            if maintainer is not None:
                result.questions = maintainer.questions
                result.human_interventions = maintainer.human_interventions
            result.api_violations = len(fake.violations)
            if model is not None:
                _keep_requests(model, workdir / REQUESTS_FILE)
    result.wall_s = _since(started)
    accounted = sum(result.phases.values())
    result.phases["teardown_s"] = round(result.wall_s - accounted, 2)
    return result


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def _server_environment(
    fake: FakeGitHub, setup: Setup, stack: ExitStack, model: ScriptedModel | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, secrets) for the task's `aios serve`: the local GitHub, and the loopback
    model or the real one."""
    github = fake.env()
    secrets = {name: github.pop(name) for name in GITHUB_SECRETS}
    if model is None:
        route = {} if setup.model == DEFAULT_ROUTE else {"AIOS_MODEL": setup.model}
        return {**github, **route}, {**secrets, **setup.model_secrets}
    llm = stack.enter_context(LoopbackLLM(model))
    settings = {**github, "ANTHROPIC_BASE_URL": llm.url, "AIOS_LLM_PROVIDER": "anthropic"}
    return settings, {**secrets, "ANTHROPIC_API_KEY": LOOPBACK_KEY}


def judge(task: Task, fake: FakeGitHub, into: Path, env: dict[str, str] | None = None) -> Outcome:
    """The hidden tests on a checkout of the default branch: the first and only time they
    are anywhere near the project's files."""
    repo = fake.repo(f"{OWNER}/{task.name}")
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
        total=used.input_tokens
        + used.cache_write_tokens
        + used.cache_read_tokens
        + used.output_tokens,
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
