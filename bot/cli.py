"""The `aios` command: serve | worker | doctor | redeliver | report | eval, and `agent run`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from bot.agents import cli as agent_cli
from bot.app import embedded_redis
from bot.app.doctor import run_doctor
from bot.app.logs import configure_logging
from bot.app.processes import spawn_aios
from bot.app.redeliver import redeliver_failed
from bot.app.redis_outage import wait_for_redis
from bot.app.report import as_json, as_text, build_report
from bot.app.serve import serve
from bot.app.worker import run_worker
from bot.evals import command as eval_command
from bot.runtime import redis_clients
from bot.settings import Settings, SettingsError, hold_secrets
from bot.workitem.scorecard import parse_window

log = structlog.get_logger(__name__)

EXIT_CONFIG = 2
"""Exit code for a missing or malformed setting, as the README promises."""
EXIT_INTERRUPTED = 130
"""Ctrl-C while waiting (the shell's convention: 128 + SIGINT)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aios", description="AIOS: a team of AI agents on GitHub")
    parser.add_argument("-V", "--version", action="version", version=f"aios {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the webhook receiver and workers")
    serve.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes to start beside the web (default 1)",
    )
    serve.add_argument("--public-url", help="the URL GitHub reaches this server at (for /setup)")
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker", help="run workers only (scale out against a shared Redis)"
    )
    worker.add_argument("--count", type=int, default=1, help="worker processes (default 1)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument(
        "--quick-only",
        action="store_true",
        help="take only short jobs (routing, commands), never agent runs",
    )
    worker.set_defaults(run=_worker)

    doctor = commands.add_parser("doctor", help="check the App, webhook, Redis, sandbox and git")
    doctor.set_defaults(run=_doctor)

    redeliver = commands.add_parser(
        "redeliver", help="ask GitHub to redeliver deliveries that failed (run it periodically)"
    )
    redeliver.add_argument(
        "--hours",
        type=float,
        default=24.0,
        help="how far back to look (default 24; GitHub keeps 3 days)",
    )
    redeliver.set_defaults(run=_redeliver)

    report = commands.add_parser(
        "report", help="the agents' scorecard from the stored work-item history"
    )
    report.add_argument("--repo", metavar="OWNER/NAME", help="one repository (default: all)")
    report.add_argument(
        "--since", default="30d", help="the window: 30d, 12h, 2w (default 30d, as the Center)"
    )
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.set_defaults(run=_report)

    agent_cli.register(commands)
    eval_command.register(commands)
    return parser


def version() -> str:
    """The installed package's version (what pip installed, not what the source says)."""
    try:
        return importlib.metadata.version("aios")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Out of the environment before anything starts a child process that would inherit it.
        hold_secrets()
        settings = Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"aios: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    return int(args.run(args, settings) or 0)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = dataclasses.replace(
        settings,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        public_url=(args.public_url or settings.public_url or "").rstrip("/") or None,
    )
    if args.workers < 0:
        print("aios: --workers must be 0 or more", file=sys.stderr)
        return EXIT_CONFIG
    return serve(settings, workers=args.workers, env_path=Path(".env"))


def with_discovered_redis(settings: Settings) -> Settings:
    """REDIS_URL, or else the embedded Redis of an `aios serve` running with this data
    directory (it writes the address it picked there), so every command reaches the same one."""
    if settings.redis_url is not None:
        return settings
    url = embedded_redis.discover(settings.data_dir / "redis")
    return settings if url is None else dataclasses.replace(settings, redis_url=url)


NO_REDIS = (
    "set REDIS_URL, or run it with the AIOS_DATA_DIR of a running `aios serve` "
    "(its embedded Redis's address is in AIOS_DATA_DIR/redis/address)"
)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_discovered_redis(settings)
    if settings.redis_url is None:
        print(
            "aios: configuration error: REDIS_URL: is required by `aios worker` "
            "(workers share the web process's Redis; `aios serve` starts its own workers): "
            + NO_REDIS,
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if args.count <= 1:
        # A Redis that is down is waited for (a worker that exits would be restarted into the
        # same failure by `aios serve`, a crash loop); one that evicts is refused.
        try:
            wait_for_redis(settings.redis_url)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        if problem := redis_clients.startup_problem(settings.redis_url):
            print(f"aios: {problem}", file=sys.stderr)
            return EXIT_CONFIG
        run_worker(settings, burst=args.burst, quick_only=args.quick_only)
        return 0
    flags = [*(["--burst"] if args.burst else []), *(["--quick-only"] if args.quick_only else [])]
    children = [
        spawn_aios([sys.executable, "-m", "bot.cli", "worker", *flags]) for _ in range(args.count)
    ]
    signal.signal(signal.SIGTERM, lambda *_: [child.terminate() for child in children])
    return max(child.wait() for child in children)


def _doctor(_args: argparse.Namespace, settings: Settings) -> int:
    configure_logging("WARNING", settings.log_format)  # the report, not each request it makes
    return asyncio.run(run_doctor(with_discovered_redis(settings)))


def _redeliver(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.has_app_credentials:
        print(
            "aios: configuration error: APP_ID: redeliver authenticates as the App", file=sys.stderr
        )
        return EXIT_CONFIG
    settings = with_discovered_redis(settings)
    if settings.redis_url is None:
        print(
            "aios: configuration error: REDIS_URL: redeliver shares the App's tokens through "
            "Redis: " + NO_REDIS,
            file=sys.stderr,
        )
        return EXIT_CONFIG
    asked = asyncio.run(redeliver_failed(settings, hours=args.hours))
    print(f"asked GitHub to redeliver {asked} failed deliveries")
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_discovered_redis(settings)
    if settings.redis_url is None:
        print(
            "aios: configuration error: REDIS_URL: `aios report` reads the work items from the "
            "Redis AIOS runs on: " + NO_REDIS,
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        window = parse_window(args.since)
    except ValueError as exc:
        print(f"aios: --since: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.repo is not None and args.repo.count("/") != 1:
        print(f"aios: --repo must be OWNER/NAME, not {args.repo!r}", file=sys.stderr)
        return EXIT_CONFIG
    report = asyncio.run(build_report(settings.redis_url, repo=args.repo, window=window))
    sys.stdout.write(as_json(report) + "\n" if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
