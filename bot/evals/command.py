"""The `aios eval` subcommand: pick tasks, run them (N at once), print the table, write JSON."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.settings import Settings, held_secrets

SCRIPTS = ("scripted", "scripted-wrong")

DEFAULT_TASKS_DIR = Path(__file__).resolve().parents[2] / "evals" / "tasks"
"""The task set of a source checkout; an installed package names one with --tasks-dir."""
MODEL_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY")
EXIT_USAGE = 2
EXIT_UNRESOLVED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `aios eval` to an `aios` argument parser."""
    parser = subparsers.add_parser(
        "eval",
        help="measure the agent team on a task set (local GitHub, real pipeline, hidden tests)",
        description="Run each task through `aios serve` against a local GitHub with a scripted "
        "maintainer, then judge the merged default branch with the task's hidden tests.",
    )
    parser.add_argument("--tasks", help="comma-separated task names (default: all)")
    parser.add_argument(
        "--model",
        default="scripted",
        help="scripted (the tasks' solutions), scripted-wrong (their wrong solutions), or a "
        "model route for the real model, e.g. claude-sonnet-4-5 (needs ANTHROPIC_API_KEY)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="tasks run at once (default 1)")
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument(
        "--tasks-dir", type=Path, default=DEFAULT_TASKS_DIR, help="where the tasks are"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep each task's directory (server log, model requests, remotes) here",
    )
    parser.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace, _settings: Settings) -> int:
    """Exit 0 when every task is resolved, 1 when some are not, 2 for a usage error."""
    # Local: the local GitHub, its OpenAPI description and the task loader load for an eval
    # only, not on every `aios serve` or worker start.
    from bot.evals.result import TaskResult, as_json, as_table
    from bot.evals.runner import Setup, run_task
    from bot.evals.task import TaskError, load_tasks
    from bot.testbed.github.auth import generate_app
    from bot.testbed.github.openapi import OpenAPIChecker

    if args.jobs < 1:
        print("aios: --jobs must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    names = [n.strip() for n in args.tasks.split(",") if n.strip()] if args.tasks else None
    try:
        tasks = load_tasks(args.tasks_dir, names)
    except TaskError as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_USAGE
    secrets = {} if args.model in SCRIPTS else _model_secrets()
    if args.model not in SCRIPTS and not secrets:
        print(
            f"aios: --model {args.model} runs the real model: set ANTHROPIC_API_KEY "
            f"(or use --model {' or '.join(SCRIPTS)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    setup = Setup(OpenAPIChecker.load(), generate_app(slug="aios"), args.model, secrets)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="aios-eval-"))
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_task, task, setup, root / task.name) for task in tasks]
            results: list[TaskResult] = [future.result() for future in futures]
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    sys.stdout.write(as_table(results))
    if args.out is not None:
        args.out.write_text(as_json(results, args.model) + "\n")
    return 0 if all(r.resolved for r in results) else EXIT_UNRESOLVED


def _model_secrets() -> dict[str, str]:
    """The real model's keys, as `aios` took them out of its environment."""
    return {name: value for name, value in held_secrets().items() if name in MODEL_KEYS}
