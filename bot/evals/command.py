"""The `aios eval` subcommand: its arguments, and the real model's keys for a model route."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.evals.models import DEFAULT_ROUTE, EXIT_USAGE, SCRIPTED
from bot.settings import Settings, held_secrets

if TYPE_CHECKING:
    # For the annotation only: the run's modules load for an eval only (see run_eval).
    from bot.evals.suite import Options

DEFAULT_TASKS_DIR = Path(__file__).resolve().parents[2] / "evals" / "tasks"
"""The task set of a source checkout; an installed package names one with --tasks-dir."""
MODEL_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY")
REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


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
        help="scripted (the tasks' solutions, the default), scripted-wrong (their wrong "
        "solutions), or a model route for the real model, e.g. claude-sonnet-5-5 (needs "
        "ANTHROPIC_API_KEY)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="a .github/aios.yml to evaluate (routes per role, budgets…), committed to every "
        "task's repository; without --model the real model runs with AIOS's default routes "
        "and the file's",
    )
    parser.add_argument("--jobs", type=int, default=1, help="tasks run at once (default 1)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each task K times and report the spread (models are not deterministic)",
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument(
        "--tasks-dir", type=Path, default=DEFAULT_TASKS_DIR, help="where the tasks are"
    )
    parser.add_argument(
        "--replay",
        metavar="OWNER/NAME",
        help="replay that repository's recently closed issues a merged PR fixed, judged by the "
        "PR's tests (reads through the App's installation; writes nothing there)",
    )
    parser.add_argument(
        "--last", type=int, default=20, help="with --replay: how many issues (default 20)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep each task's directory (server log, model requests, remotes) here",
    )
    parser.set_defaults(run=run_eval)
    commands = parser.add_subparsers(dest="eval_command", metavar="compare")
    compare = commands.add_parser(
        "compare",
        help="what changed between two `aios eval --out` results, per task and overall",
        description="Compare two result files: each task's resolved rate, cost and model calls "
        "in A and B, and the overall figures with the differences (B minus A).",
    )
    compare.add_argument("a", type=Path, metavar="A.json")
    compare.add_argument("b", type=Path, metavar="B.json")
    compare.set_defaults(run=run_compare)


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every task is resolved, 1 when some are not, 2 for a usage error."""
    # Local: the configuration schema loads for an eval only.
    from bot.evals.config import EvalConfigError, read_config

    # Local: the local GitHub and its OpenAPI description load for an eval only, not on
    # every `aios serve` or worker start.
    from bot.evals.suite import Options, run_suite

    for flag in ("jobs", "repeat"):
        if getattr(args, flag) < 1:
            print(f"aios: --{flag} must be 1 or more", file=sys.stderr)
            return EXIT_USAGE
    try:
        config = read_config(args.config) if args.config is not None else None
    except EvalConfigError as exc:
        print(f"aios: --config {exc}", file=sys.stderr)
        return EXIT_USAGE
    model = args.model or ("scripted" if config is None else DEFAULT_ROUTE)
    secrets = {} if model in SCRIPTED else _model_secrets()
    if model not in SCRIPTED and not secrets:
        runs = f"--model {model}" if args.model else f"--config {args.config}"
        print(
            f"aios: {runs} runs the real model: set ANTHROPIC_API_KEY "
            f"(or use --model {' or '.join(SCRIPTED)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    options = Options(
        model,
        secrets,
        jobs=args.jobs,
        repeat=args.repeat,
        config=config,
        out=args.out,
        workdir=args.workdir,
    )
    if args.replay is not None:
        return _replay(args, settings, options)
    names = [n.strip() for n in args.tasks.split(",") if n.strip()] if args.tasks else None
    return run_suite(args.tasks_dir, names, options)


def run_compare(args: argparse.Namespace, _settings: Settings) -> int:
    """Print the comparison of two result files; exit 2 when either cannot be read."""
    # Local: like run_eval, only `aios eval compare` needs it.
    from bot.evals.compare import ResultsError, compare

    try:
        sys.stdout.write(compare(args.a, args.b))
    except ResultsError as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _replay(args: argparse.Namespace, settings: Settings, options: Options) -> int:
    """`--replay`: its usage errors (exit 2), then the replayed history's run."""
    # Local: as for run_suite above.
    from bot.evals.replay_run import run_replay

    problem = None
    if args.tasks:
        problem = "--replay builds its own tasks from the history: drop --tasks"
    elif args.last < 1:
        problem = "--last must be 1 or more"
    elif not REPO.fullmatch(args.replay):
        problem = f"--replay takes a repository as OWNER/NAME, not {args.replay!r}"
    elif options.model in SCRIPTED:
        problem = "replayed issues have no scripted solutions: give --model a model route"
    elif not settings.has_app_credentials:
        problem = (
            "--replay reads the repository as the App: set APP_ID and PRIVATE_KEY (or "
            "PRIVATE_KEY_PATH) as for `aios serve`, with the App installed on " + args.replay
        )
    if problem is not None:
        print(f"aios: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return run_replay(settings, args.replay, args.last, options)


def _model_secrets() -> dict[str, str]:
    """The real model's keys, as `aios` took them out of its environment."""
    return {name: value for name, value in held_secrets().items() if name in MODEL_KEYS}
