"""What every task of a run shares: one local GitHub, one `aios serve` and one loopback model.

One AIOS serving many repositories is how it runs for real, and it is the run's largest cost
paid once: `aios serve`'s workers load every job module before they take work (seconds of
CPU each), so a server per task spent more on starting than the agents' pipeline did.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.evals.config import with_config
from bot.evals.maintainer import MAINTAINER
from bot.evals.models import DEFAULT_ROUTE, SCRIPTED
from bot.evals.packages import TaskPackages, task_packages
from bot.evals.serve import Serve, spawn, stop
from bot.evals.task import Task
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.llm import ScriptedModel, error_body
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import Fail, Hang

OWNER = "eval-org"
INSTALLATION_ID = 1
LOOPBACK_KEY = "sk-ant-eval-loopback-not-a-real-key"
GITHUB_SECRETS = ("PRIVATE_KEY", "WEBHOOK_SECRET")
HARNESS_LOG = "harness.log"
SCRIPT_END = Fail(400, "invalid_request_error", "the task's script has no more turns")
"""Answers the first call past a task's script: refused, never retried, so the job fails at
once (the loopback's own answer when it runs out, a 500, is retried for minutes)."""


@dataclass(frozen=True)
class Setup:
    """What every task of one run shares: loaded or generated once, as both are slow."""

    checker: OpenAPIChecker
    app: AppIdentity
    model: str
    """"scripted", "scripted-wrong", a model route for the real model, or "default" (the real
    model on AIOS's default routes, with `--config`'s)."""
    model_secrets: dict[str, str] = dataclasses.field(default_factory=dict)
    """The real model's keys (empty for the scripted model)."""
    config: dict[str, Any] | None = None
    """`--config`: the `.github/aios.yml` settings committed to every task's repository."""

    @property
    def scripted(self) -> bool:
        return self.model in SCRIPTED


@dataclass(frozen=True)
class Run:
    """One run of one task: `--repeat` runs a task several times, each in its own repository."""

    task: Task
    number: int
    repeat: int

    @property
    def name(self) -> str:
        """The run's directory and repository name: the task's, numbered when repeated."""
        return self.task.name if self.repeat == 1 else f"{self.task.name}-{self.number}"

    @property
    def repo(self) -> str:
        return f"{OWNER}/{self.name}"


@dataclass(frozen=True)
class Stage:
    fake: FakeGitHub
    serve: Serve
    packages: TaskPackages
    scripts: ScriptRouter | None
    """Each run's scripted model (None with the real model)."""


class ScriptRouter(ScriptedModel):
    """Every run's scripted model behind one loopback URL: a request goes to the script of the
    repository it names (every agent's brief names its repository; no other one)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_repo: dict[str, ScriptedModel] = {}
        self._routes = threading.Lock()

    def add(self, repo: str, model: ScriptedModel) -> None:
        with self._routes:
            self.by_repo[repo] = model

    def _model_for(self, raw: bytes) -> ScriptedModel | None:
        text = raw.decode(errors="replace")
        with self._routes:
            for match in re.finditer(rf"{re.escape(OWNER)}/([a-z0-9][a-z0-9-]*)", text):
                model = self.by_repo.get(f"{OWNER}/{match[1]}")
                if model is not None:
                    return model
        return None

    def take_hang(self, path: str, raw: bytes) -> Hang | None:
        model = self._model_for(raw)
        return None if model is None else model.take_hang(path, raw)

    def handle(
        self, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        model = self._model_for(raw)
        if model is None:
            message = "no eval task's repository is named in the request"
            return 400, error_body("anthropic", "invalid_request_error", message), {}
        return model.handle(path, headers, raw)


def _log_servers_to(path: Path) -> None:
    """The local GitHub's and model's HTTP servers log to `path`, not the terminal: a client
    that drops its connection (a worker stopped at the end of the run) is a traceback there."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("aiohttp")
    for old in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.propagate = False


@contextmanager
def staged(setup: Setup, runs: Sequence[Run], root: Path, *, workers: int) -> Iterator[Stage]:
    """The local GitHub with every run's repository, its `aios serve` with `workers` agent
    workers, and the model; all stopped on exit.

    Raises:
        ServeError: `aios serve` did not start (with its log's tail).
    """
    _log_servers_to(root / HARNESS_LOG)
    fake = FakeGitHub(setup.checker, app=dataclasses.replace(setup.app))
    fake.add_installation(INSTALLATION_ID, OWNER, [run.repo for run in runs])
    for run in runs:
        fake.set_permission(run.repo, MAINTAINER, "write")
        files = with_config(run.task.files(), setup.config)
        fake.create_git_repo(run.repo, root / "remotes", files)
    with ExitStack() as stack:
        fake.start()
        stack.callback(fake.stop)
        tasks = {run.task.name: run.task.path for run in runs}
        packages = stack.enter_context(task_packages(list(tasks.values()), root / "wheels"))
        github = fake.env()
        secrets = {name: github.pop(name) for name in GITHUB_SECRETS}
        settings = {**github, **packages.serve}
        scripts = None
        if setup.scripted:
            scripts = ScriptRouter()
            llm = stack.enter_context(LoopbackLLM(scripts))
            settings.update({"ANTHROPIC_BASE_URL": llm.url, "AIOS_LLM_PROVIDER": "anthropic"})
            secrets["ANTHROPIC_API_KEY"] = LOOPBACK_KEY
        else:
            if setup.model != DEFAULT_ROUTE:
                settings["AIOS_MODEL"] = setup.model
            secrets.update(setup.model_secrets)
        serve = spawn(root, settings, secrets, workers=workers)
        stack.callback(stop, serve)
        fake.webhook_url = f"{serve.url}/webhook"
        yield Stage(fake, serve, packages, scripts)
