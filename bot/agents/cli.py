"""`aios agent run`: one agent on a local git repository, narrated in the terminal.

Only the arguments live here, so `aios --help` and `aios serve` do not pay for
importing the LLM SDKs; the run itself is in `bot.agents.local_run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `agent run` to an `aios` argument parser; handlers are `args.func(args) -> int`."""
    agent = subparsers.add_parser("agent", help="run AIOS agents locally")
    commands = agent.add_subparsers(dest="agent_command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run one agent on a local git repository",
        description="Run one agent on a local git repository. It works on a fresh copy and "
        "leaves its commit on a new branch aios/local-<slug> of your repository; your "
        "working tree is not touched.",
    )
    run.add_argument("task", help="what the agent should do")
    run.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    run.add_argument("--role", default="backend", help="cto, backend, frontend, devops or qa")
    run.add_argument("--task-kind", default="code", help="routing key, e.g. code, triage, review")
    run.add_argument("--model", help="use this model for every call, e.g. claude-haiku-4-5")
    run.add_argument("--max-steps", type=int, help="model calls before the run stops")
    run.add_argument("--budget", type=float, help="USD this run may spend (default: job budget)")
    run.set_defaults(func=agent_run, run=lambda args, _settings: agent_run(args))


def agent_run(args: argparse.Namespace) -> int:
    # Here, not at the top: `aios serve` and `aios --help` must not load the LLM SDKs.
    from bot.agents.local_run import agent_run as run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m bot.agents.cli agent run …`) until `aios` wires it."""
    import logging

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
