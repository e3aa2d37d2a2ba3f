"""A whole eval run: load the tasks, run them N at once, print the table, write the JSON."""

from __future__ import annotations

import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
) -> int:
    """Exit 0 when every task is resolved, 1 when some are not, 2 when a task does not load.

    `workdir` keeps each task's directory (server log, model requests, remotes); without it
    they go in a temporary directory, removed at the end.
    """
    try:
        tasks = load_tasks(tasks_dir, names, model=model)
    except TaskError as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup = Setup(OpenAPIChecker.load(), generate_app(slug="aios"), model, model_secrets)
    root = workdir or Path(tempfile.mkdtemp(prefix="aios-eval-"))
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_task, task, setup, root / task.name) for task in tasks]
            results: list[TaskResult] = [future.result() for future in futures]
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    sys.stdout.write(as_table(results))
    if out is not None:
        out.write_text(as_json(results, model) + "\n")
    return 0 if all(r.resolved for r in results) else EXIT_UNRESOLVED
