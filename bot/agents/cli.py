"""`aios agent run`: one agent on a local git repository, narrated in the terminal.

Only the arguments live here, so `aios --help` and `aios serve` do not pay for
importing the LLM SDKs; the run itself is in `bot.agents.local_run`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `agent run` to an `aios` argument parser; handlers are `args.func(args) -> int`."""
    agent = subparsers.add_parser("agent", help="run AIOS agents locally")
    commands = agent.add_subparsers(dest="agent_command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run one agent on a local git repository",
        description="Run one agent on a local git repository. It works on a fresh copy of "
        "the last commit and leaves its commit on a new branch aios/local-<slug> of your "
        "repository; your working tree is not touched, and its transcript goes to the "
        "repository's git directory (or AIOS_DATA_DIR outside the repository).",
    )
    run.add_argument("task", help="what the agent should do")
    run.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    run.add_argument("--role", default="backend", help="cto, backend, frontend, devops or qa")
    run.add_argument("--task-kind", default="code", help="routing key, e.g. code, triage, review")
    run.add_argument("--model", help="use this model for every call, e.g. claude-haiku-4-5")
    run.add_argument("--max-steps", type=int, help="model calls before the run stops")
    run.add_argument("--budget", type=float, help="USD this run may spend (default: job budget)")
    run.add_argument(
        "--force",
        action="store_true",
        help="run although the repository has uncommitted changes (the agent does not see them)",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="also log the libraries' INFO lines (HTTP requests…) on stderr",
    )
    run.set_defaults(func=agent_run, run=lambda args, _settings: agent_run(args))


def agent_run(args: argparse.Namespace) -> int:
    """Run it; log lines below WARNING are dropped unless `--verbose`, so that the terminal
    shows the narration (stdout) and only what went wrong (stderr)."""
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    # Here, not at the top: `aios serve` and `aios --help` must not load the LLM SDKs.
    from bot.agents.local_run import agent_run as run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m bot.agents.cli agent run …`) until `aios` wires it."""
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    parser = argparse.ArgumentParser(prog="aios")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
