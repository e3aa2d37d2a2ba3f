"""Set a work tree up before the agents: restore the cache its lock files key, or run the setup
commands in the sandbox (egress to the allowed hosts only) and keep the result for next time."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from bot.agents.sandbox import RunResult, Sandbox
from bot.environment.cache import CachePathError, SetupCache
from bot.environment.plan import EnvironmentPlan

log = structlog.get_logger(__name__)

TAIL_LINES = 30
"""Lines of a failing command's output the issue comment shows."""
MAX_LOCK_FILE_BYTES = 8 << 20
"""A lock file bigger than this keys the cache by its size and start only."""


@dataclass(frozen=True)
class SetupOutcome:
    ok: bool
    how: str
    """"ran 2 commands in 14 s", "restored .venv from the cache", "nothing to set up"."""
    failed: RunResult | None = None
    results: tuple[RunResult, ...] = ()
    cache_hit: bool = False

    def failure_text(self) -> str:
        """The failing command and its last lines, for the issue."""
        if self.failed is None:
            return ""
        run = self.failed
        status = (
            f"timed out after {run.timeout_s:g} s"
            if run.timed_out
            else f"exited with code {run.exit_code}"
        )
        tail = "\n".join(run.output.rstrip().splitlines()[-TAIL_LINES:])
        return f"`{run.command}` {status}; its last lines:\n\n```\n{tail}\n```"


async def run_setup(
    sandbox: Sandbox,
    plan: EnvironmentPlan,
    *,
    repo: str,
    cache: SetupCache | None = None,
    timeout_s: float | None = None,
) -> SetupOutcome:
    """Prepare `sandbox`'s work tree for `plan`; never raises for a failing command."""
    if not plan.setup:
        return SetupOutcome(ok=True, how="nothing to set up")
    key = None
    if cache is not None and plan.cache:
        locks = {**_lock_contents(sandbox.workspace, plan.lock_files), **_system()}
        locks[":cache"] = "\0".join(plan.cache).encode()
        key = SetupCache.key(repo, plan.setup, locks)
        try:
            # Copying a venv takes seconds: off the event loop, whose lock leases must renew.
            hit = await asyncio.to_thread(cache.restore, key, sandbox.workspace, plan.cache)
        except CachePathError as error:
            log.warning("environment cache skipped", error=str(error))
            key, hit = None, False
        if hit:
            restored = ", ".join(plan.cache)
            return SetupOutcome(ok=True, how=f"restored {restored} from the cache", cache_hit=True)
    started = time.monotonic()
    results: list[RunResult] = []
    for command in plan.setup:
        result = await sandbox.run(command, timeout_s=timeout_s, allow_hosts=plan.setup_hosts)
        results.append(result)
        if result.timed_out or result.exit_code != 0:
            log.info("environment setup failed", command=command, exit_code=result.exit_code)
            return SetupOutcome(ok=False, how="setup failed", failed=result, results=tuple(results))
    took = time.monotonic() - started
    count = f"{len(results)} command{'s' if len(results) != 1 else ''}"
    if cache is not None and key is not None:
        await asyncio.to_thread(cache.save, key, sandbox.workspace, plan.cache, repo=repo)
    return SetupOutcome(ok=True, how=f"ran {count} in {took:.0f} s", results=tuple(results))


def _system() -> dict[str, bytes]:
    """What a restored environment also depends on: the system the sandbox shows (a venv's
    python links into /usr), so a new system image sets up afresh."""
    release = Path("/etc/os-release")
    python = Path("/usr/bin/python3")
    return {
        ":os-release": release.read_bytes() if release.is_file() else b"",
        ":python3": os.path.realpath(python).encode() if python.exists() else b"",
    }


def _lock_contents(root: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for name in names:
        path = root / name
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as handle:
            data = handle.read(MAX_LOCK_FILE_BYTES + 1)
        if len(data) > MAX_LOCK_FILE_BYTES:
            data = data[:MAX_LOCK_FILE_BYTES] + str(path.stat().st_size).encode()
        contents[name] = data
    return contents
