"""Agents' commands without isolation: the operator's opt-in `AIOS_SANDBOX=unisolated`.

Used only where bubblewrap cannot build its namespaces and the operator chose to run commands
anyway. As safe as it gets without namespaces: the caller's scrubbed environment (no secret),
the work tree as working directory, `prlimit` limits, no new privileges (no setuid programs),
root dropped to the sandbox's drawn uid, a private TMPDIR, and the command's own session
killed whole at the end or the timeout. What it cannot keep: a command reads what the worker's
uid reads, reaches the network, and a process that leaves the session (`setsid`) outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping

import structlog

from bot.agents.bwrap import Confinement, SandboxError, prlimit_argv
from bot.agents.fail_closed import UNISOLATED
from bot.agents.run_output import Capture, RunResult, collect, read_into

log = structlog.get_logger(__name__)

TOOLS_HINT = "running commands unisolated needs `setpriv` and `prlimit`: install util-linux"


def unconfined_argv(
    box: Confinement, command: str, *, host_uid: int | None, setpriv: str, prlimit: str
) -> list[str]:
    """`setpriv` (as root: to `host_uid`, no groups) with no new privileges, then the limits."""
    argv = [setpriv]
    if host_uid is not None:
        argv += [f"--reuid={host_uid}", f"--regid={host_uid}", "--clear-groups"]
    argv += ["--no-new-privs", "--"]
    return argv + prlimit_argv(box, ["/bin/sh", "-c", command], prlimit)


async def run_unconfined(
    command: str,
    box: Confinement,
    env: Mapping[str, str],
    *,
    timeout_s: float,
    max_output_bytes: int,
    host_uid: int | None,
) -> RunResult:
    """Run `command` with `/bin/sh -c` in the work tree, unisolated; when it returns, every
    process of the command's session is gone. Raises SandboxError when it would run as root
    or the tools are missing."""
    setpriv, prlimit = shutil.which("setpriv"), shutil.which("prlimit")
    if setpriv is None or prlimit is None:
        raise SandboxError(TOOLS_HINT)
    if os.geteuid() == 0 and host_uid is None:
        raise SandboxError("AIOS runs as root: a command needs a uid of its own to run as")
    tmp = box.home / "tmp"
    tmp.mkdir(mode=0o700, exist_ok=True)
    if host_uid is not None:
        os.chown(tmp, host_uid, host_uid)
    env = {**env, "TMPDIR": str(tmp), "AIOS_SANDBOX": UNISOLATED}
    argv = unconfined_argv(box, command, host_uid=host_uid, setpriv=setpriv, prlimit=prlimit)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=box.work_tree,
        env=env,
        start_new_session=True,
    )
    capture = Capture(max_output_bytes)
    reader = asyncio.create_task(read_into(proc, capture))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        timed_out = True
    finally:
        # The session's process group, background processes included. Its id stays taken
        # while any member lives, so this cannot reach another group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    return await collect(
        command, proc, reader, capture, started=started, timed_out=timed_out, timeout_s=timeout_s
    )
