"""A whole eval run: load the tasks, run them N at once, print the table, write the JSON."""

from __future__ import annotations

import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.evals.result import TaskResult, as_json, as_table
from bot.evals.runner import Setup, run_task
from bot.evals.task import TaskError, load_tasks
from bot.testbed.github.auth import generate_app
from bot.testbed.github.openapi import OpenAPIChecker

EXIT_UNRESOLVED = 1
EXIT_USAGE = 2


def run_suite(
    tasks_dir: Path,
    names: list[str] | None,
    model: str,
    model_secrets: dict[str, str],
    *,
    jobs: int,
    out: Path | None,
    workdir: Path | None,
    repeat: int = 1,
    config: dict[str, Any] | None = None,
) -> int:
    """Exit 0 when every run is resolved, 1 when some are not, 2 when a task does not load.

    Each task runs `repeat` times. `workdir` keeps each run's directory (server log, model
    requests, remotes); without it they go in a temporary directory, removed at the end.
    """
    try:
        tasks = load_tasks(tasks_dir, names, model=model)
    except TaskError as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup = Setup(OpenAPIChecker.load(), generate_app(slug="aios"), model, model_secrets, config)
    names_order = {task.name: index for index, task in enumerate(tasks)}
    root = workdir or Path(tempfile.mkdtemp(prefix="aios-eval-"))
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(run_task, task, setup, root / _run_dir(task.name, run, repeat), run)
                for run in range(1, repeat + 1)
                for task in tasks
            ]
            results: list[TaskResult] = [future.result() for future in futures]
        results.sort(key=lambda r: (names_order[r.name], r.run))
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    sys.stdout.write(as_table(results, repeat))
    if out is not None:
        out.write_text(as_json(results, model, repeat) + "\n")
    return 0 if all(r.resolved for r in results) else EXIT_UNRESOLVED


def _run_dir(name: str, run: int, repeat: int) -> str:
    return name if repeat == 1 else f"{name}-{run}"
