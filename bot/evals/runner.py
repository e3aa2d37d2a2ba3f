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

from bot.evals.checkout import Outcome, add_files, checkout, run_command
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
    """"scripted", "scripted-wrong", or a model route for the real model."""
    model_secrets: dict[str, str] = field(default_factory=dict)
    """The real model's keys (empty for the scripted model)."""

    @property
    def scripted(self) -> bool:
        return self.model in SCRIPTS


def run_task(task: Task, setup: Setup, workdir: Path) -> TaskResult:
    """Run `task` in the new directory `workdir`; never raises (a crash is an unresolved
    result whose reason says what broke)."""
    started = time.monotonic()
    result = TaskResult(task.name)
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
            fake.create_git_repo(repo, workdir / "remotes", task.files())
            fake.start()
            stack.callback(fake.stop)
            packages = stack.enter_context(task_packages(task.path, workdir / "wheels"))
            settings, secrets = _server_environment(fake, setup, stack, model)
            serve = spawn(workdir, {**settings, **packages.serve}, secrets)
            stack.callback(stop, serve)
            fake.webhook_url = f"{serve.url}/webhook"
            number = fake.add_issue(repo, task.title, task.body, user=MAINTAINER).number
            for label in task.labels:
                fake.label_issue_as(MAINTAINER, repo, number, label)
            maintainer = Maintainer(fake, serve, task, repo, workdir, ci_env=packages.commands)
            maintainer.drive(number, started + task.timeout_s)
            verdict = judge(task, fake, workdir / "judge", packages.commands)
            result.resolved = verdict.passed
            if not verdict.passed:
                result.reason = f"merged, but the hidden tests fail: {failures(verdict.output)}"
        except Stopped as stopped:
            result.reason = stopped.reason
        except Exception as exc:  # one task's crash must not end the others' run
            result.reason = f"the harness broke: {type(exc).__name__}: {exc}"
        finally:
            item = serve.item(repo, number) if serve is not None and number else None
            _record(result, item, maintainer, model, fake)
            if model is not None:
                _keep_requests(model, workdir / REQUESTS_FILE)
    result.wall_s = round(time.monotonic() - started, 2)
    return result


def _server_environment(
    fake: FakeGitHub, setup: Setup, stack: ExitStack, model: ScriptedModel | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, secrets) for the task's `aios serve`: the local GitHub, and the loopback
    model or the real one."""
    github = fake.env()
    secrets = {name: github.pop(name) for name in GITHUB_SECRETS}
    if model is None:
        return {**github, "AIOS_MODEL": setup.model}, {**secrets, **setup.model_secrets}
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


def _record(
    result: TaskResult,
    item: WorkItem | None,
    maintainer: Maintainer | None,
    model: ScriptedModel | None,
    fake: FakeGitHub,
) -> None:
    if item is not None:
        result.stopped_in = item.state.value
        result.review_rounds = item.review_rounds + item.fix_rounds  # QA's and maintainers'
        result.ci_fix_attempts = item.ci_fix_attempts
        result.cost_usd = round(item.cost_usd, 6)
        result.tokens.total = item.tokens
    if maintainer is not None:
        result.questions = maintainer.questions
        result.human_interventions = maintainer.human_interventions
    if model is not None:
        result.model_calls = len(model.requests)
        usage = [r.usage for r in model.requests]
        result.tokens = Tokens(
            total=result.tokens.total,
            input=sum(
                u.get("input_tokens", 0) + u.get("cache_creation_input_tokens", 0) for u in usage
            ),
            cached=sum(u.get("cache_read_input_tokens", 0) for u in usage),
            output=sum(u.get("output_tokens", 0) for u in usage),
        )
    result.api_violations = len(fake.violations)


def _keep_requests(model: ScriptedModel, path: Path) -> None:
    path.write_text(json.dumps([r.body for r in model.requests]))


def failures(output: str, chars: int = 600) -> str:
    """unittest's, pytest's and `node --test`'s failing test names and closing line, else the
    output's tail."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if line.startswith(("FAIL:", "ERROR:", "FAILED ", "not ok "))]
    text = "; ".join([*named, lines[-1]]) if named else " ".join(" ".join(lines).split())
    return text if len(text) <= chars else "…" + text[-chars:]
