"""A whole eval run: load the tasks, run them N at once, print the table, write the JSON."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.evals.models import EXIT_UNRESOLVED, EXIT_USAGE
from bot.evals.result import TaskResult, as_json, as_table
from bot.evals.runner import run_task
from bot.evals.serve import ServeError
from bot.evals.stage import Run, Setup, staged
from bot.evals.task import Task, TaskError, load_tasks
from bot.testbed.github.auth import generate_app
from bot.testbed.github.openapi import OpenAPIChecker


@dataclass(frozen=True)
class Options:
    """How to run: what `aios eval`'s flags say, the same for the task set and a replay."""

    model: str
    """"scripted", "scripted-wrong", a model route, or "default" (see `Setup.model`)."""
    model_secrets: dict[str, str] = field(default_factory=dict)
    jobs: int = 1
    repeat: int = 1
    config: dict[str, Any] | None = None
    out: Path | None = None
    workdir: Path | None = None


def run_suite(
    tasks_dir: Path,
    names: list[str] | None,
    options: Options,
    skipped: Sequence[Mapping[str, Any]] = (),
) -> int:
    """Exit 0 when every run is resolved, 1 when some are not, 2 when a task does not load.

    Each task runs `options.repeat` times. `options.workdir` keeps each run's directory
    (server log, model requests, remotes); without it they go in a temporary directory,
    removed at the end. `skipped` (a replay's issues that could not become tasks, and why)
    goes into the JSON as it is.
    """
    model, workdir, repeat = options.model, options.workdir, options.repeat
    try:
        tasks = load_tasks(tasks_dir, names, model=model)
    except TaskError as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_USAGE
    app = generate_app(slug="aios")
    setup = Setup(OpenAPIChecker.load(), app, model, options.model_secrets, options.config)
    root = workdir or Path(tempfile.mkdtemp(prefix="aios-eval-"))
    try:
        results = run_all(tasks, setup, root, jobs=options.jobs, repeat=repeat)
    except ServeError as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_UNRESOLVED
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    sys.stdout.write(as_table(results, repeat))
    if options.out is not None:
        options.out.write_text(as_json(results, model, repeat, skipped) + "\n")
    return 0 if all(r.resolved for r in results) else EXIT_UNRESOLVED


def run_all(
    tasks: Sequence[Task], setup: Setup, root: Path, *, jobs: int, repeat: int = 1
) -> list[TaskResult]:
    """Every task `repeat` times, `jobs` at once, on one stage under `root`; the results in
    the tasks' order, each task's runs in order.

    Raises:
        ServeError: the run's `aios serve` did not start.
    """
    runs = [Run(task, number, repeat) for number in range(1, repeat + 1) for task in tasks]
    root.mkdir(parents=True, exist_ok=True)
    with (
        staged(setup, runs, root, workers=jobs) as stage,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        futures = [pool.submit(run_task, run, setup, stage, root / run.name) for run in runs]
        results = [future.result() for future in futures]
    order = {task.name: index for index, task in enumerate(tasks)}
    return sorted(results, key=lambda r: (order[r.name], r.run))
