"""What `aios agent run` does: one agent on a fresh copy of a local repository, narrated."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import redis.asyncio

from bot.agents.config import AgentConfig
from bot.agents.ledger import Ledger, MemoryLedger, RedisLedger, UsageScope
from bot.agents.loop import AgentResult, run_agent
from bot.agents.narration import Limits, narrate, report, unpriced
from bot.agents.roster import Role, RosterError, load_roster
from bot.agents.routing import ModelRef, RoutingConfig
from bot.agents.runtime import AgentRuntime
from bot.agents.sandbox import SandboxError
from bot.environment.local import local_plan, print_setup, print_verdict
from bot.environment.session import environment_session
from bot.github.git import GitError
from bot.github.push_guard import PushPolicy, PushRefused
from bot.github.workspace import Workspace, WorkspaceError
from bot.settings import SettingsError
from bot.workitem.names import BRANCH_PREFIX, slugify

EXIT_OK = 0
EXIT_STOPPED = 1
EXIT_USAGE = 2
STATE_DIR = "aios"
"""Run state (transcripts) goes to `<git dir>/aios` when the data directory would be inside
the work tree: git never shows what is in its own directory as a change."""


def agent_run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        config = AgentConfig.from_env()
    except SettingsError as exc:
        return _fail(f"error: {exc}")
    missing = config.missing_key()
    if missing:
        return _fail(
            f"error: set {missing} to run agents with the {config.provider} provider "
            "(or choose another with AIOS_LLM_PROVIDER)"
        )
    if args.model:
        ref = ModelRef.parse(args.model, config.provider)
        config = dataclasses.replace(
            config, routing=RoutingConfig(default=(ref,)), use_role_models=False
        )
    if args.budget is not None:
        config = dataclasses.replace(
            config, budgets=dataclasses.replace(config.budgets, per_job_usd=args.budget)
        )
    try:
        role = load_roster().get(args.role)
    except RosterError as exc:
        return _fail(f"error: {exc}")
    top = _git_out(args.repo, "rev-parse", "--show-toplevel")
    branch = _git_out(args.repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    if top is None:
        return _fail(f"error: {args.repo} is not a git repository (run `git init` there first)")
    if branch is None:
        return _fail("error: the repository is on a detached HEAD; check out a branch first")
    if _git_out(Path(top), "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
        return _fail(
            f"error: {top} has no commits yet; commit your files first "
            "(the agent starts from the last commit)"
        )
    changes = _uncommitted(Path(top))
    if changes and not args.force:
        return _fail(
            f"error: {top} has uncommitted changes ({_files(changes)}); the agent starts from "
            "the last commit and would not see them. Commit or stash them, or run with --force."
        )
    if changes:
        print(
            f"warning: {_files(changes)} with uncommitted changes in {top} are not part of this "
            "run: the agent starts from the last commit (--force); your files stay as they are",
            file=sys.stderr,
        )
    config = dataclasses.replace(config, data_dir=_state_dir(Path(top), config.data_dir))
    try:
        return asyncio.run(_run(args, config, role, Path(top), branch, out))
    except (WorkspaceError, GitError, SandboxError) as exc:
        return _fail(f"error: {exc}")


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_USAGE


def _git_out(repo: Path, *args: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=False
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _uncommitted(top: Path) -> list[str]:
    """`git status --porcelain` lines: changed, staged and untracked files (ignored ones not)."""
    done = subprocess.run(
        ["git", "-C", str(top), "status", "--porcelain"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [line for line in done.stdout.splitlines() if line.strip()]


def _files(changes: list[str]) -> str:
    return "1 file" if len(changes) == 1 else f"{len(changes)} files"


def _state_dir(top: Path, wanted: Path) -> Path:
    """`wanted` (AIOS_DATA_DIR, by default `.aios` here), unless that is inside the work tree:
    then the repository's git directory, so the run leaves nothing for `git status` to show."""
    resolved = wanted.expanduser().resolve()
    git_dir = _git_out(top, "rev-parse", "--path-format=absolute", "--git-common-dir")
    if git_dir is None or not resolved.is_relative_to(top.resolve()):
        return wanted
    if resolved.is_relative_to(Path(git_dir).resolve()):
        return wanted
    return Path(git_dir) / STATE_DIR


def _ledger() -> tuple[Ledger, redis.asyncio.Redis | None]:
    """Redis when REDIS_URL is set (costs then add up with the App's), else in memory."""
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        return MemoryLedger(), None
    client = redis.asyncio.Redis.from_url(url)
    return RedisLedger(client), client


async def _run(
    args: argparse.Namespace, config: AgentConfig, role: Role, top: Path, base: str, out: TextIO
) -> int:
    ledger, redis_client = _ledger()
    runtime = AgentRuntime.from_config(config, ledger=ledger)
    ws = await Workspace.clone_url(top.as_uri(), ref=base, depth=1)
    try:
        branch = _free_branch(top, f"{BRANCH_PREFIX}local-{slugify(args.task)}")
        await ws.start_branch(0, args.task, name=branch)
        chain = runtime.router.chain(role.key, args.task_kind, runtime.role_model(role))
        print(f"AIOS · {role.persona} · {top.name}@{base}", file=out)
        unknown = unpriced(runtime.prices, [str(m) for m in chain])
        note = f" (no price for {', '.join(unknown)}: cost unknown)" if unknown else ""
        print(f"models: {', '.join(str(m) for m in chain)}{note}", file=out)
        plan = local_plan(ws.path, out)
        ws.exclude(plan.cache)
        session = environment_session(
            plan,
            ws.path,
            git_dir=ws.git_dir,
            home=ws.root / "home",
            config=config,
            repo=top.name,
            gate="write_file" in role.tools and "run" in role.tools,
        )
        async with session as environment:
            print(f"sandbox: {environment.sandbox.describe()}", file=out, flush=True)
            if not print_setup(environment, out):
                return EXIT_STOPPED
            scope = UsageScope(
                job_id=f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}",
                repo=top.name,
            )
            result = await run_agent(
                role,
                args.task,
                ws.path,
                runtime=runtime,
                scope=scope,
                task_kind=args.task_kind,
                max_steps=args.max_steps,
                on_step=lambda step: narrate(step, out),
                sandbox=environment.sandbox,
                finish_gate=environment.gate,
                git_dir=ws.git_dir,
            )
            await print_verdict(environment, out)
        sha = await ws.commit(_commit_message(args.task, result), agent=role.persona)
        limits = Limits(
            runtime.budgets.per_job_usd,
            config.max_steps if args.max_steps is None else args.max_steps,
        )
        report(result, runtime.prices, limits, out)
        if sha:
            try:
                await ws.push(policy=PushPolicy(allow_workflow_edits=config.allow_workflow_edits))
            except PushRefused as refused:
                print(str(refused), file=out)
                return EXIT_STOPPED
            print(f"commit {sha[:12]} on branch {branch} of {top}", file=out)
            print(f"  see it: git -C {top} log -p {base}..{branch}", file=out)
        else:
            print("no file changes", file=out)
        return EXIT_OK if result.ok else EXIT_STOPPED
    finally:
        ws.cleanup()
        await runtime.aclose()
        if redis_client is not None:
            await redis_client.aclose()


def _free_branch(top: Path, wanted: str) -> str:
    name, n = wanted, 1
    while _git_out(top, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}") is not None:
        n += 1
        name = f"{wanted}-{n}"
    return name


def _commit_message(task: str, result: AgentResult) -> str:
    title = " ".join(task.split())
    title = title if len(title) <= 72 else title[:69] + "..."
    return f"{title}\n\n{result.summary}"
