"""The test command's verdict on the base commit, run once per (repository, commit, command)
and kept: a failure that was there before the agents is not theirs to fix."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import redis.asyncio
import structlog

from bot.agents.fail_closed import ISOLATED
from bot.agents.sandbox import Sandbox, SandboxError, SandboxLimits
from bot.environment.plan import EnvironmentPlan
from bot.environment.verdict import TestVerdict, read_verdict
from bot.github.workspace import Workspace, WorkspaceError

log = structlog.get_logger(__name__)

KEEP_S = 7 * 24 * 3600
"""How long a base commit's verdict is kept; a commit's tests do not change."""


def _key(repo: str, commit: str, command: str) -> str:
    digest = hashlib.sha256(f"{repo}\0{commit}\0{command}".encode()).hexdigest()[:32]
    return f"aios:tests-on-base:{digest}"


async def base_verdict(
    client: redis.asyncio.Redis,
    workspace: Workspace,
    plan: EnvironmentPlan,
    *,
    repo: str,
    home: Path,
    limits: SandboxLimits,
    env_allow: tuple[str, ...] = (),
    mode: str = ISOLATED,
) -> TestVerdict | None:
    """The verdict of `plan.test` on the base commit: kept, else run now in a copy of that
    commit with the work tree's set-up environment (`plan.cache`) beside it. None when it
    cannot run (no test command, no sandbox here)."""
    if plan.test is None:
        return None
    commit = await workspace.base_commit()
    key = _key(repo, commit, plan.test)
    kept = await client.get(key)
    if kept is not None:
        return TestVerdict.from_dict(json.loads(kept))
    tree = workspace.root / "base"
    try:
        await workspace.export(commit, tree)
        for path in plan.cache:
            _copy_set_up(workspace.path / path, tree / path)
        box = Sandbox(
            tree,
            limits=limits,
            home=home,
            env_allow=env_allow,
            allow_hosts=plan.run_hosts,
            mode=mode,
        )
        try:
            result = await box.run(plan.test)
        finally:
            box.close()
    except (SandboxError, WorkspaceError, OSError) as error:
        log.warning("tests on the base commit could not run", error=str(error))
        return None
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    verdict = read_verdict(
        plan.test,
        result.exit_code,
        result.output,
        timed_out=result.timed_out,
        timeout_seconds=int(result.timeout_s),
    )
    await client.set(key, json.dumps(verdict.to_dict()), ex=KEEP_S)
    return verdict


def _copy_set_up(source: Path, target: Path) -> None:
    """A set-up path (a venv, node_modules) as it is, links kept as links."""
    if source.is_symlink() or not source.exists() or target.exists():
        return
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)
