"""One eval task on disk (`evals/tasks/<name>/`): its issue, project, hidden tests and scripts.

task.yml       title, body, labels, answers, ci, judge, review (optional), timeout_s
repo/          the project's files (a bare repository is made from them at run time)
hidden/        acceptance tests, copied in only when judging
solution.yml   the scripted model's turns for `--model scripted`
wrong.yml      a deliberately wrong solution, for `--model scripted-wrong`
packages/      optional: <name>-<version>/ folders served as wheels from the run's own index

A replayed issue (`aios eval --replay`) has no scripts, and `source` in its task.yml names
the issue and the pull request that fixed it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.evals.models import SCRIPTED
from bot.evals.packages import problems as package_problems
from bot.evals.script import ScriptError, load_script
from bot.testbed.turns import Turn

FIELDS = {"title", "body", "labels", "answers", "ci", "judge", "review", "timeout_s", "source"}
REQUIRED = ("title", "labels", "ci", "judge")
LABEL = re.compile(r"^aios(:[a-z][a-z0-9-]*)?$")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEFAULT_TIMEOUT_S = 240.0
"""Generous for the scripted model on a busy 2-core machine; a real model may need more."""
SCRIPTS = dict(zip(SCRIPTED, ("solution.yml", "wrong.yml"), strict=True))
"""Each scripted model's file."""


class TaskError(ValueError):
    """A task that cannot be run: `str()` names the path and what is wrong with it."""


@dataclass(frozen=True)
class Task:
    name: str
    path: Path
    title: str
    body: str
    labels: tuple[str, ...]
    answers: tuple[str, ...]
    ci: tuple[str, ...]
    """The project's test command (argv), run on the PR head as the CI check."""
    judge: tuple[str, ...]
    """The command (argv) that runs the hidden tests on the merged default branch."""
    review: str | None
    timeout_s: float
    source: str | None = None
    """Where a replayed issue comes from (`owner/name#12, fixed by #15 (sha)`); None for a
    task written by hand. Its CTO's questions have no recorded answers."""

    @property
    def repo_dir(self) -> Path:
        return self.path / "repo"

    @property
    def hidden_dir(self) -> Path:
        return self.path / "hidden"

    def files(self) -> dict[str, str]:
        """The project's files by relative path, for the bare repository."""
        return {
            str(p.relative_to(self.repo_dir)): p.read_text()
            for p in sorted(self.repo_dir.rglob("*"))
            if p.is_file()
        }

    def script(self, model: str) -> list[Turn]:
        """The turns of `model` ("scripted" or "scripted-wrong").

        Raises:
            TaskError: the task has no such script (a replayed issue has none).
        """
        path = self.path / SCRIPTS[model]
        if not path.is_file():
            raise TaskError(f"{path}: missing, so `--model {model}` cannot run this task")
        return load_script(path)


def load_task(path: Path) -> Task:
    """Read and check the task in directory `path`.

    Raises:
        TaskError: naming the file and the problem.
    """
    if not NAME.fullmatch(path.name):
        raise TaskError(f"{path}: a task's directory name must be lowercase letters, digits, -")
    spec_path = path / "task.yml"
    try:
        spec = yaml.safe_load(spec_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"{spec_path}: cannot be read as YAML ({exc})") from None
    if not isinstance(spec, dict):
        raise TaskError(f"{spec_path}: must be a mapping of {', '.join(sorted(FIELDS))}")
    problems = _check_spec(spec)
    if problems:
        raise TaskError(f"{spec_path}: " + "; ".join(problems))
    for folder in ("repo", "hidden"):
        if not (path / folder).is_dir() or not any(p.is_file() for p in (path / folder).rglob("*")):
            raise TaskError(f"{path / folder}: missing or empty (it must hold the files)")
    if package_problems(path):
        raise TaskError("; ".join(package_problems(path)))
    for script in SCRIPTS.values():
        if not (path / script).exists():
            continue  # checked when a scripted model is asked for (`load_tasks(model=)`)
        try:
            load_script(path / script)
        except ScriptError as exc:
            raise TaskError(str(exc)) from None
    return Task(
        name=path.name,
        path=path,
        title=spec["title"],
        body=spec.get("body") or "",
        labels=tuple(spec["labels"]),
        answers=tuple(spec.get("answers") or ()),
        ci=tuple(shlex.split(spec["ci"])),
        judge=tuple(shlex.split(spec["judge"])),
        review=spec.get("review"),
        timeout_s=float(spec.get("timeout_s", DEFAULT_TIMEOUT_S)),
        source=spec.get("source"),
    )


def _check_spec(spec: dict[str, Any]) -> list[str]:
    problems = [f"{name} is required" for name in REQUIRED if name not in spec]
    unknown = sorted(set(spec) - FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(map(str, unknown))}")
    for name in ("title", "ci", "judge"):
        if name in spec and (not isinstance(spec[name], str) or not spec[name].strip()):
            problems.append(f"{name} must be non-empty text")
    for name in ("body", "review", "source"):
        if spec.get(name) is not None and not isinstance(spec[name], str):
            problems.append(f"{name} must be text")
    labels = spec.get("labels")
    if "labels" in spec and (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(x, str) and LABEL.fullmatch(x) for x in labels)
    ):
        problems.append("labels must be a non-empty list of `aios` or `aios:<role>`")
    answers = spec.get("answers")
    if answers is not None and (
        not isinstance(answers, list) or not all(isinstance(a, str) for a in answers)
    ):
        problems.append("answers must be a list of texts, given in order to the CTO's questions")
    timeout = spec.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        problems.append("timeout_s must be a positive number of seconds")
    return problems


def load_tasks(
    tasks_dir: Path, names: list[str] | None = None, *, model: str | None = None
) -> list[Task]:
    """The tasks under `tasks_dir` (all, sorted, or `names` in the order given).

    With a scripted `model`, every task must have its script.

    Raises:
        TaskError: for an unknown name, a task that does not load or lacks the script.
    """
    if not tasks_dir.is_dir():
        raise TaskError(f"{tasks_dir}: no such tasks directory (give --tasks-dir)")
    known = sorted(p.name for p in tasks_dir.iterdir() if (p / "task.yml").is_file())
    chosen = names or known
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise TaskError(
            f"{tasks_dir}: no task named {', '.join(unknown)} (known: {', '.join(known)})"
        )
    tasks = [load_task(tasks_dir / name) for name in chosen]
    if model is not None and model in SCRIPTS:
        for task in tasks:
            task.script(model)
    return tasks
