"""Run an agent's command in a bubblewrap sandbox: no secrets, no network, git read-only, limits.

Each command is `bwrap … prlimit … /bin/sh -c COMMAND` (argument lists, no shell of ours):
its own user, pid, network, ipc, uts and cgroup namespaces, a fresh /proc, the system
directories and the repository's git directory read-only, the work tree and a private home
read-write, uid 1000 inside, an environment of allow-listed names only. No network, unless
a run allows hosts: then only those, through the proxy of `bot.agents.egress`. Where
bubblewrap is missing or cannot build its namespaces, `run` refuses instead of running
unconfined and names the fix, unless the operator opted in (`AIOS_SANDBOX=unisolated`):
then commands run as `bot.agents.unconfined` runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from bot.agents.bwrap import (
    SANDBOX_TMP,
    Confinement,
    Isolation,
    SandboxError,
    bwrap_argv,
    detect_isolation,
    draw_host_uid,
)
from bot.agents.egress import (
    SOCKET_INSIDE,
    EgressError,
    parse_allow_hosts,
    proxy_env,
    relay_command,
    relay_python,
    serve_egress,
)
from bot.agents.fail_closed import EGRESS_NEEDS_SANDBOX, ISOLATED, UNISOLATED
from bot.agents.run_output import Capture, RunResult, collect, read_into
from bot.agents.unconfined import run_unconfined

log = structlog.get_logger(__name__)

__all__ = [
    "EgressError",
    "Isolation",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "detect_isolation",
    "scrubbed_env",
]

ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")
"""Passed through from the worker's environment; HOME and TMPDIR point into the sandbox."""
_SECRETISH = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|REDIS_URL|DATABASE_URL|DSN", re.I
)
EXIT_WAIT_S = 10.0
"""How long the end of the sandbox's pid namespace is awaited after its init was killed."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 300.0
    cpu_s: int = 600
    memory_bytes: int = 4 << 30
    max_processes: int = 256
    max_file_bytes: int = 512 << 20
    max_output_bytes: int = 64 << 10
    tmp_bytes: int = 512 << 20


def scrubbed_env(
    home: Path, *, environ: Mapping[str, str] | None = None, allow: Iterable[str] = ()
) -> dict[str, str]:
    """The sandbox environment: allow-listed names only, never anything that looks secret."""
    source = os.environ if environ is None else environ
    env = {
        name: source[name]
        for name in (*ENV_ALLOW, *allow)
        if name in source and not _SECRETISH.search(name)
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    # No __pycache__ litter in the work tree: AIOS commits what the work tree holds.
    env.update(
        HOME=str(home), TMPDIR=SANDBOX_TMP, AIOS_SANDBOX=ISOLATED, PYTHONDONTWRITEBYTECODE="1"
    )
    return env


class Sandbox:
    """Runs commands in one work tree. Create one per agent run; `close()` removes its home.

    `git_dir` (default: the work tree's `.git` when that is a directory) is bound read-only,
    so `git status/diff/log` work inside and nothing done there changes what AIOS's git obeys.
    `mode` is AIOS_SANDBOX (`AgentConfig.sandbox_mode`): with `unisolated`, where bubblewrap
    cannot isolate, commands run anyway (`unisolated` is then True), without namespaces.
    """

    def __init__(
        self,
        workspace: Path,
        *,
        git_dir: Path | None = None,
        limits: SandboxLimits | None = None,
        isolation: Isolation | None = None,
        home: Path | None = None,
        env_allow: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
        allow_hosts: Sequence[str] = (),
        mode: str = ISOLATED,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        inside = self.workspace / ".git"
        if git_dir is None and inside.is_dir() and not inside.is_symlink():
            git_dir = inside
        self.git_dir = Path(git_dir).resolve() if git_dir is not None else None
        self.limits = limits or SandboxLimits()
        self.isolation = isolation if isolation is not None else detect_isolation()
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix="aios-sandbox-home-"))
        self._env_allow = tuple(env_allow)
        self._environ = environ
        self.allow_hosts = tuple(allow_hosts)
        """Egress every run gets unless it says otherwise (`environment.network_during_run`)."""
        self.egress_refused: list[str] = []
        """Hosts the egress proxy refused during this sandbox's runs (`host:port`, once each)."""
        self.unisolated = mode == UNISOLATED and not self.isolation.available
        """Commands run without isolation: the operator opted in where bubblewrap fails."""
        if self.unisolated and os.geteuid() == 0 and self.isolation.host_uid is None:
            # Never root's uid, isolated or not: commands get an unprivileged one of their own.
            self.isolation = dataclasses.replace(self.isolation, host_uid=draw_host_uid())
        if not self.isolation.available:
            log.warning(
                "sandbox.unisolated" if self.unisolated else "sandbox.unavailable",
                problem=self.isolation.problem,
            )

    def describe(self) -> str:
        """Which sandbox commands get, for the transcript and `aios agent run`."""
        if not self.unisolated:
            return self.isolation.describe()
        return (
            "UNISOLATED (AIOS_SANDBOX=unisolated): commands run without namespaces, with "
            f"limits and a scrubbed environment, because {self.isolation.problem}"
        )

    def close(self) -> None:
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    async def run(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        allow_hosts: Sequence[str] | None = None,
    ) -> RunResult:
        """Run `command` with `/bin/sh -c` inside the sandbox and return its capped output.

        `allow_hosts` (`pypi.org`, `127.0.0.1:8080`; default: the sandbox's own) opens egress
        to those hosts only, through the proxy of `bot.agents.egress`; empty, the command has
        no network at all.
        Raises SandboxError (naming the fix) when commands cannot be confined here and the
        operator did not opt in, or when they run unisolated and egress filtering is asked
        for; EgressError for a malformed entry. When it returns, every process the command
        started is gone (unisolated: every process left in its session).
        """
        hosts = self.allow_hosts if allow_hosts is None else allow_hosts
        if not self.isolation.available:
            if not self.unisolated:
                raise SandboxError(self.isolation.refusal())
            if hosts:
                raise SandboxError(EGRESS_NEEDS_SANDBOX)
        allow = parse_allow_hosts(hosts) if hosts else None
        python = relay_python() if allow is not None else None
        if allow is not None and python is None:
            raise SandboxError(
                "egress needs python3 under /usr for the relay inside the sandbox: install "
                "python3 (`apt-get install python3-minimal`)"
            )
        timeout = min(timeout_s or self.limits.timeout_s, self.limits.timeout_s)
        self._prepare()
        if self.unisolated:
            return await run_unconfined(
                command,
                self._confinement(),
                self._env(),
                timeout_s=timeout,
                max_output_bytes=self.limits.max_output_bytes,
                host_uid=self.isolation.host_uid,
            )
        async with contextlib.AsyncExitStack() as stack:
            argv, env = ["/bin/sh", "-c", command], self._env()
            box = self._confinement()
            if allow is not None and python is not None:
                socket_path = await stack.enter_async_context(
                    serve_egress(allow, self.egress_refused, host_uid=self.isolation.host_uid)
                )
                box = dataclasses.replace(
                    box, egress_socket=socket_path, egress_socket_inside=SOCKET_INSIDE
                )
                argv = relay_command(python, command)
                env.update(proxy_env())
            return await self._run_confined(command, box, argv, env, timeout)

    def _env(self) -> dict[str, str]:
        return scrubbed_env(self.home, environ=self._environ, allow=self._env_allow)

    async def _run_confined(
        self,
        command: str,
        box: Confinement,
        entry: list[str],
        env: dict[str, str],
        limit_s: float,
    ) -> RunResult:
        info_read, info_write = os.pipe()
        try:
            argv = bwrap_argv(self.isolation, box, entry, info_fd=info_write)
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=env,
                start_new_session=True,
                pass_fds=(info_write,),
            )
        except BaseException:
            os.close(info_read)
            raise
        finally:
            os.close(info_write)
        capture = Capture(self.limits.max_output_bytes)
        reader = asyncio.create_task(read_into(proc, capture))
        timed_out, pidfd, namespace = False, None, None
        try:
            # bwrap names the host pid of the sandbox's pid 1 as soon as it exists; a pidfd
            # taken now cannot point at another process later.
            info = await asyncio.wait_for(asyncio.to_thread(_read_info, info_read), limit_s)
            namespace = info.get("pid-namespace")
            pidfd = _pidfd_of(info.get("child-pid"), namespace)
            left = limit_s - (time.monotonic() - started)
            await asyncio.wait_for(proc.wait(), max(left, 0.0))
        except TimeoutError:
            timed_out = True
        finally:
            await _end(proc, pidfd)
        return await collect(
            command,
            proc,
            reader,
            capture,
            started=started,
            timed_out=timed_out,
            timeout_s=limit_s,
            pid_namespace=namespace,
        )

    def _confinement(self) -> Confinement:
        lim = self.limits
        return Confinement(
            work_tree=self.workspace,
            home=self.home,
            git_dir=self.git_dir,
            cpu_s=lim.cpu_s,
            memory_bytes=lim.memory_bytes,
            max_processes=lim.max_processes,
            max_file_bytes=lim.max_file_bytes,
            tmp_bytes=lim.tmp_bytes,
        )

    def _prepare(self) -> None:
        """Make the home; when AIOS is root, hand the work tree (not git) to bwrap's host uid."""
        self.home.mkdir(parents=True, exist_ok=True)
        # The git directory belongs to another uid (or is read-only): let git inside use it.
        (self.home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
        uid = self.isolation.host_uid
        if uid is None:
            return
        for path in (self.workspace, self.home, self.git_dir):
            for parent in path.parents if path else ():
                if not parent.stat().st_mode & stat.S_IXOTH:
                    raise SandboxError(
                        f"the sandbox uid cannot reach {path}: {parent} is not traversable by "
                        "others; create workspaces under a directory with mode 0711 or wider"
                    )
        os.chown(self.home, uid, uid)
        self.home.chmod(0o700)
        os.chown(self.home / ".gitconfig", uid, uid)
        _hand_over(self.workspace, uid)


def _hand_over(top: Path, uid: int) -> None:
    """Give every file of the work tree to `uid`, never following a symlink (fd-relative)."""
    os.chown(top, uid, uid)
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        if _dirpath == str(top):
            # A .git directory or `gitdir:` file stays AIOS's; the sandbox sees it read-only.
            dirnames[:] = [d for d in dirnames if d != ".git"]
            filenames = [f for f in filenames if f != ".git"]
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                if os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_uid != uid:
                    os.chown(name, uid, uid, dir_fd=dirfd, follow_symlinks=False)


def _read_info(fd: int) -> dict[str, int]:
    """bwrap's --info-fd JSON (the host pid of the sandbox's pid 1 and its namespaces)."""
    with os.fdopen(fd, "rb") as pipe:
        raw = pipe.read()
    try:
        info = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


async def _end(proc: asyncio.subprocess.Process, pidfd: int | None) -> None:
    """When the command ran out of time: kill the sandbox's pid 1 (the command itself), so the
    kernel kills every process of its pid namespace; bwrap reaps it and exits. Either way,
    wait until every process is gone."""
    try:
        if proc.returncode is None and pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), EXIT_WAIT_S)
        if proc.returncode is None:
            # bwrap itself, should it not have said who its pid 1 is (or not exit after it):
            # --die-with-parent then takes the sandbox down with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if pidfd is not None:
            await _readable(pidfd, EXIT_WAIT_S)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd_of(pid: object, namespace: object) -> int | None:
    """A pidfd for the sandbox's pid 1, checked to be in the sandbox's pid namespace."""
    if not isinstance(pid, int) or not isinstance(namespace, int):
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None  # already gone, and with it the whole namespace
    try:
        # Opened first, checked second: the pidfd names the process the check looked at.
        if os.readlink(f"/proc/{pid}/ns/pid") == f"pid:[{namespace}]":
            return pidfd
    except OSError:
        pass
    os.close(pidfd)
    return None


async def _readable(fd: int, within_s: float) -> None:
    """Wait until a pidfd says its process has exited (after its pid namespace emptied)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(fd, lambda: done.done() or done.set_result(None))
    try:
        await asyncio.wait_for(done, within_s)
    except TimeoutError:
        log.warning("sandbox.namespace_still_alive")
    finally:
        loop.remove_reader(fd)
