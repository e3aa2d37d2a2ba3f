"""`aios agent run --repo DIR` honours the repository's `.github/aios.yml` `environment` as the
App does, so a maintainer can try an environment locally before labeling an issue."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from bot.config.parse import parse_repo_config
from bot.config.schema import CONFIG_PATH
from bot.environment.plan import Egress, EnvironmentPlan, resolve
from bot.environment.session import Session
from bot.workitem.parts import EnvironmentSettings


def local_plan(work_tree: Path, out: TextIO) -> EnvironmentPlan:
    """The plan for a local copy, from its own `.github/aios.yml` (as committed); a file with
    errors counts as absent, as it does for the App, and the problems are printed."""
    path = work_tree / CONFIG_PATH
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    parsed = parse_repo_config(text)
    for problem in parsed.errors:
        where = f" (line {problem.line})" if problem.line else ""
        print(f"{CONFIG_PATH}: {problem.path}{where}: {problem.message}", file=out)
    settings = EnvironmentSettings(**asdict(parsed.config.environment))
    plan = resolve(settings, work_tree, Egress.from_env(os.environ))
    print(f"environment: {plan.chosen}", file=out)
    for host in plan.left_out:
        print(f"  not allowed by this AIOS (AIOS_EGRESS_CEILING): {host}", file=out)
    return plan


def print_setup(session: Session, out: TextIO) -> bool:
    """Say how the setup went; False (with the failing command's last lines) if it failed."""
    if session.setup.ok:
        print(f"setup: {session.setup.how}", file=out, flush=True)
        return True
    print(f"setup failed: {session.setup.failure_text()}", file=out, flush=True)
    return False


async def print_verdict(session: Session, out: TextIO) -> None:
    verdict = await session.verdict()
    if verdict is not None:
        print(verdict.line(), file=out)
    if session.blocked:
        print(f"blocked: {', '.join(session.blocked)} (not in allow_hosts)", file=out)
